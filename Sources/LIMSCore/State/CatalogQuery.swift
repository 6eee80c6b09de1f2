/// A catalog query: which objects of one portal type, in which order, which page.
///
/// Like a query on SENAITE's catalogs (portal_type, review_state, getClientUID, getServiceUID, sort_on,
/// sort_order, b_start/b_size; reference 3): the storage layer answers it from indexed columns and reads only
/// the rows of the page.
public struct CatalogQuery: Sendable, Equatable {
    /// What a listing sorts on.
    public enum SortField: String, Sendable, CaseIterable {
        case path, id, created
    }

    /// The portal type listed.
    public var portalType: PortalType
    /// Review states to keep (nil: any).
    public var reviewStates: Set<String>?
    /// Clients to keep (samples and contacts; nil: any).
    public var clientUIDs: Set<String>?
    /// Analysis services to keep (analyses; nil: any).
    public var serviceUIDs: Set<String>?
    /// Analyses of this sample only.
    public var sampleUID: String?
    /// Worksheets of this analyst only (worksheets).
    public var analyst: String?
    /// Objects whose id contains this text (case-insensitive; nil or empty: any).
    public var text: String?
    /// Objects whose path contains this text (case-insensitive; nil or empty: any): an analysis by its sample's id
    /// or its keyword.
    public var pathText: String?
    /// The sort field. Default: path.
    public var sortOn: SortField
    /// Descending order. Default: false.
    public var descending: Bool
    /// Page size, at least 1.
    public var limit: Int
    /// Objects skipped before the page.
    public var offset: Int

    public init(portalType: PortalType, reviewStates: Set<String>? = nil, clientUIDs: Set<String>? = nil,
                serviceUIDs: Set<String>? = nil, sampleUID: String? = nil, analyst: String? = nil, text: String? = nil,
                pathText: String? = nil, sortOn: SortField = .path, descending: Bool = false, limit: Int = 50, offset: Int = 0) {
        self.portalType = portalType
        self.reviewStates = reviewStates
        self.clientUIDs = clientUIDs
        self.serviceUIDs = serviceUIDs
        self.sampleUID = sampleUID
        self.analyst = analyst
        self.text = text
        self.pathText = pathText
        self.sortOn = sortOn
        self.descending = descending
        self.limit = max(1, limit)
        self.offset = max(0, offset)
    }
}

/// One page of a ``CatalogQuery``: the uids in order, and how many objects match in all.
public struct CatalogPage: Sendable, Equatable {
    /// The page's object uids, in the query's order.
    public let uids: [String]
    /// Objects matching the query (all pages).
    public let total: Int

    public init(uids: [String], total: Int) {
        self.uids = uids
        self.total = total
    }
}

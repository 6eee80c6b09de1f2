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
    /// A search (nil or empty: any). Samples and worksheets: each word of the text (a run of letters and digits, any
    /// case) starts a word of the id or, for samples, of the client sample id, as SENAITE's listing search matches
    /// words (`H2O-0001` is found by `0001`, `h2o-00` or `h2o 0001`, not by `001`); a text without letters or digits,
    /// and every other type: the id contains the text (case-insensitive).
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
    /// How many matches past the page's end the total counts, at most (objects; at least 0; `Int.max` for an
    /// exact total whatever it costs, for the command line and tests). Default: ``defaultCountWindow``.
    ///
    /// The total of a page then costs at most `offset + limit + countWindow` index entries whatever the lab's
    /// size; a query with more matches gets a lower bound (``CatalogPage/totalIsExact`` false), as search
    /// catalogs do (Elasticsearch `track_total_hits`, 10,000 by default).
    public var countWindow: Int

    /// How many matches past a page's end its total counts by default: 1,000 objects (20 pages of 50).
    public static let defaultCountWindow = 1_000

    public init(portalType: PortalType, reviewStates: Set<String>? = nil, clientUIDs: Set<String>? = nil,
                serviceUIDs: Set<String>? = nil, sampleUID: String? = nil, analyst: String? = nil, text: String? = nil,
                pathText: String? = nil, sortOn: SortField = .path, descending: Bool = false, limit: Int = 50, offset: Int = 0,
                countWindow: Int = CatalogQuery.defaultCountWindow) {
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
        self.countWindow = max(0, countWindow)
    }
}

/// One page of a ``CatalogQuery``: the uids in order, and how many objects match in all.
///
/// Invariant: when ``totalIsExact`` is false, more than ``total`` objects match and ``total`` is at least the
/// query's `offset + limit` (so a next page exists); when true, ``total`` is the exact number of matches.
public struct CatalogPage: Sendable, Equatable {
    /// The page's object uids, in the query's order.
    public let uids: [String]
    /// Objects matching the query (all pages): exact when ``totalIsExact``, else a lower bound (more match).
    public let total: Int
    /// False when the query matched more than `offset + limit + countWindow` objects and ``total`` is that bound.
    /// Default: true.
    public let totalIsExact: Bool

    public init(uids: [String], total: Int, totalIsExact: Bool = true) {
        self.uids = uids
        self.total = total
        self.totalIsExact = totalIsExact
    }

    /// The number of pages of `pageSize` objects the total spans (at least 1): all of them when the total is
    /// exact, else those known to exist (more than ``total`` match: at least `total + 1`).
    public func pageCount(pageSize: Int) -> Int {
        let known = totalIsExact ? total : total + 1
        return max(1, (known + max(1, pageSize) - 1) / max(1, pageSize))
    }

    /// The total as a list shows it: "1234", or "More than 1050" when it is a lower bound.
    public var totalText: String {
        totalIsExact ? "\(total)" : "More than \(total)"
    }
}

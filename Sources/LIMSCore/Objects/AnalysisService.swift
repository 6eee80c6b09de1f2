/// An analysis service (what can be measured): `/senaite/bika_setup/bika_analysisservices/analysisservice-1`.
///
/// `keyword` becomes the id of routine analyses (`Cu`). `methodUIDs`/`instrumentUIDs` are the allowed
/// methods/instruments (empty = none allowed). `sortKey` orders services in listings (lower first). Default: 0.
///
/// Source: senaite.core `bika/lims/content/abstractbaseanalysis.py` and `analysisservice.py`.
public struct AnalysisService: LabObject {
    public static let portalType = PortalType.analysisService
    public let uid: String
    public let id: String
    public let path: String
    public var version: Int
    public let created: Double
    public var title: String
    public var keyword: String
    public var unit: String
    public var categoryUID: String?
    public var methodUIDs: [String]
    public var instrumentUIDs: [String]
    /// Listing order, lower first. Default: 0.
    public var sortKey: Int
    /// SENAITE's `StringResult`: results of this service may be any text; otherwise they must be numbers.
    /// nil (as stored before this option existed) means false, SENAITE's default. Default: nil.
    public var stringResult: Bool?

    public var parentUID: String? { nil }
    public var workflowState: String? { nil }

    public init(
        uid: String, id: String, path: String, version: Int = 0, created: Double, title: String, keyword: String,
        unit: String = "", categoryUID: String? = nil, methodUIDs: [String] = [], instrumentUIDs: [String] = [],
        sortKey: Int = 0, stringResult: Bool? = nil
    ) {
        self.uid = uid
        self.id = id
        self.path = path
        self.version = version
        self.created = created
        self.title = title
        self.keyword = keyword
        self.unit = unit
        self.categoryUID = categoryUID
        self.methodUIDs = methodUIDs
        self.instrumentUIDs = instrumentUIDs
        self.sortKey = sortKey
        self.stringResult = stringResult
    }

    /// True when results may be any text (``stringResult``), false when they must be numbers.
    public var allowsStringResult: Bool { stringResult ?? false }
}

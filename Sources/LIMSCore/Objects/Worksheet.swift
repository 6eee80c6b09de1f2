/// A worksheet: `/senaite/worksheets/WS-0001` (id `WS-` + 4-digit counter).
///
/// `layout` is kept sorted by position; it has exactly one row per analysis on the worksheet, and an analysis
/// has a row here iff its `worksheetUID` is this worksheet's uid. `analyst` is a username.
/// Review states: `open`, `to_be_verified`, `verified`, `rejected` (``LabWorkflows/worksheet``).
///
/// Source: senaite.core `bika/lims/content/worksheet.py`, reference 3.2-3.3.
public struct Worksheet: LabObject {
    public static let portalType = PortalType.worksheet
    public let uid: String
    public let id: String
    public let path: String
    public var version: Int
    public let created: Double
    public var analyst: String
    public var instrumentUID: String?
    public var methodUID: String?
    public var templateUID: String?
    public var layout: [WorksheetLayoutRow]
    public var reviewState: String

    public var parentUID: String? { nil }
    public var workflowState: String? { reviewState }

    public init(
        uid: String, id: String, path: String, version: Int = 0, created: Double, analyst: String,
        instrumentUID: String? = nil, methodUID: String? = nil, templateUID: String? = nil,
        layout: [WorksheetLayoutRow] = [], reviewState: String = ReviewState.open
    ) {
        self.uid = uid
        self.id = id
        self.path = path
        self.version = version
        self.created = created
        self.analyst = analyst
        self.instrumentUID = instrumentUID
        self.methodUID = methodUID
        self.templateUID = templateUID
        self.layout = layout
        self.reviewState = reviewState
    }
}

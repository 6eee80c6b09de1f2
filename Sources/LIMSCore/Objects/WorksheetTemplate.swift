/// A worksheet template: `/senaite/bika_setup/bika_worksheettemplates/worksheettemplate-1`.
///
/// `serviceUIDs` are the services whose routine analyses the template pulls; `instrumentUID` and
/// `restrictToMethodUID` restrict which analyses qualify and are set on the worksheet.
///
/// Source: senaite.core `bika/lims/content/worksheettemplate.py`, reference 3.4.
public struct WorksheetTemplate: LabObject {
    public static let portalType = PortalType.worksheetTemplate
    public let uid: String
    public let id: String
    public let path: String
    public var version: Int
    public let created: Double
    public var title: String
    public var layout: [WorksheetTemplateRow]
    public var serviceUIDs: [String]
    public var instrumentUID: String?
    public var restrictToMethodUID: String?

    public var parentUID: String? { nil }
    public var workflowState: String? { nil }

    /// Number of slots: the highest position in the layout (0 when empty).
    public var size: Int { layout.map(\.pos).max() ?? 0 }

    public init(
        uid: String, id: String, path: String, version: Int = 0, created: Double, title: String,
        layout: [WorksheetTemplateRow], serviceUIDs: [String], instrumentUID: String? = nil,
        restrictToMethodUID: String? = nil
    ) {
        self.uid = uid
        self.id = id
        self.path = path
        self.version = version
        self.created = created
        self.title = title
        self.layout = layout.sorted { $0.pos < $1.pos }
        self.serviceUIDs = serviceUIDs
        self.instrumentUID = instrumentUID
        self.restrictToMethodUID = restrictToMethodUID
    }
}

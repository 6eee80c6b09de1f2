/// An analysis category: `/senaite/bika_setup/bika_analysiscategories/analysiscategory-1`.
///
/// Source: senaite.core `bika/lims/content/analysiscategory.py`.
public struct AnalysisCategory: LabObject {
    public static let portalType = PortalType.analysisCategory
    public let uid: String
    public let id: String
    public let path: String
    public var version: Int
    public let created: Double
    public var title: String

    public var parentUID: String? { nil }
    public var workflowState: String? { nil }

    public init(uid: String, id: String, path: String, version: Int = 0, created: Double, title: String) {
        self.uid = uid
        self.id = id
        self.path = path
        self.version = version
        self.created = created
        self.title = title
    }
}

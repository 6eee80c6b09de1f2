/// An analytical method: `/senaite/bika_setup/methods/method-1`.
///
/// Source: senaite.core `bika/lims/content/method.py`.
public struct Method: LabObject {
    public static let portalType = PortalType.method
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

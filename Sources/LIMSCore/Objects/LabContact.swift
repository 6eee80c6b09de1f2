/// A lab employee record: `/senaite/bika_setup/bika_labcontacts/labcontact-1`.
///
/// Source: senaite.core `bika/lims/content/labcontact.py`.
public struct LabContact: LabObject {
    public static let portalType = PortalType.labContact
    public let uid: String
    public let id: String
    public let path: String
    public var version: Int
    public let created: Double
    public var firstname: String
    public var surname: String
    public var email: String
    /// Linked username, nil when not linked.
    public var username: String?

    public var parentUID: String? { nil }
    public var workflowState: String? { nil }

    public init(
        uid: String, id: String, path: String, version: Int = 0, created: Double,
        firstname: String, surname: String, email: String = "", username: String? = nil
    ) {
        self.uid = uid
        self.id = id
        self.path = path
        self.version = version
        self.created = created
        self.firstname = firstname
        self.surname = surname
        self.email = email
        self.username = username
    }
}

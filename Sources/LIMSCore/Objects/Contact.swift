/// A client contact, inside its client: `/senaite/clients/client-1/contact-1`.
///
/// `username` is the linked user (nil when not linked). See ``LabState/linkUser(_:toContact:)``.
///
/// Source: senaite.core `bika/lims/content/contact.py`, reference 3.6.
public struct Contact: LabObject {
    public static let portalType = PortalType.contact
    public let uid: String
    public let id: String
    public let path: String
    public var version: Int
    public let created: Double
    /// UID of the parent client.
    public let clientUID: String
    public var firstname: String
    public var surname: String
    public var email: String
    /// Linked username, nil when the contact has no login.
    public var username: String?

    public var parentUID: String? { clientUID }
    public var workflowState: String? { nil }
    /// "Firstname Surname".
    public var fullname: String { [firstname, surname].filter { !$0.isEmpty }.joined(separator: " ") }

    public init(
        uid: String, id: String, path: String, version: Int = 0, created: Double, clientUID: String,
        firstname: String, surname: String, email: String = "", username: String? = nil
    ) {
        self.uid = uid
        self.id = id
        self.path = path
        self.version = version
        self.created = created
        self.clientUID = clientUID
        self.firstname = firstname
        self.surname = surname
        self.email = email
        self.username = username
    }
}

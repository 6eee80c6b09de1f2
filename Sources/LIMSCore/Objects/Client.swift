/// A client (customer) of the lab: `/senaite/clients/client-1`.
///
/// `localRoles` maps a username to the local roles granted on this client; they are inherited by the
/// whole client subtree (contacts, samples, analyses). Linking a user to a contact grants `Owner` here.
///
/// Source: senaite.core `bika/lims/content/client.py`, reference 3.6.
public struct Client: LabObject {
    public static let portalType = PortalType.client
    public let uid: String
    public let id: String
    public let path: String
    public var version: Int
    public let created: Double
    public var name: String
    /// The client's own short code (SENAITE `ClientID`), e.g. `HAPPY`.
    public var clientID: String
    public var email: String
    public var phone: String
    /// Local roles on this client by username (Zope `manage_setLocalRoles`).
    public var localRoles: [String: Set<Role>]

    public var parentUID: String? { nil }
    public var workflowState: String? { nil }

    public init(
        uid: String, id: String, path: String, version: Int = 0, created: Double,
        name: String, clientID: String, email: String = "", phone: String = "",
        localRoles: [String: Set<Role>] = [:]
    ) {
        self.uid = uid
        self.id = id
        self.path = path
        self.version = version
        self.created = created
        self.name = name
        self.clientID = clientID
        self.email = email
        self.phone = phone
        self.localRoles = localRoles
    }
}

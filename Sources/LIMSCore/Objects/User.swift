/// A login: `/senaite/acl_users/<userid>`, `id` == `userid`.
///
/// `passwordHash` is opaque to LIMSCore (the web layer hashes and checks it). `roles` are the global roles;
/// local roles live on clients (``Client/localRoles``). `linkedContactUID` is SENAITE's member property
/// `linked_contact_uid`.
///
/// Source: Plone/PAS users and senaite.core `contact.py` linking, reference 3.6.
public struct User: LabObject {
    public static let portalType = PortalType.user
    public let uid: String
    public let id: String
    public let path: String
    public var version: Int
    public let created: Double
    /// Login name; the value stored in `analyst`, `submittedBy`, `verifiedBy`.
    public var userid: String
    public var fullname: String
    public var email: String
    /// Opaque password hash; LIMSCore never reads it.
    public var passwordHash: String
    /// Global roles.
    public var roles: Set<Role>
    /// Group memberships (e.g. `Clients` once linked to a client contact).
    public var groups: Set<String>
    /// UID of the linked client contact, if any.
    public var linkedContactUID: String?
    /// When a lab manager deactivated the login (Unix epoch seconds, UTC); nil while active. A deactivated user
    /// cannot log in, has no sessions, and their queued tasks fail instead of acting for them. Default: nil.
    public var deactivated: Double?

    public var parentUID: String? { nil }
    public var workflowState: String? { nil }

    public init(
        uid: String, id: String, path: String, version: Int = 0, created: Double, userid: String,
        fullname: String = "", email: String = "", passwordHash: String = "", roles: Set<Role> = [],
        groups: Set<String> = [], linkedContactUID: String? = nil, deactivated: Double? = nil
    ) {
        self.uid = uid
        self.id = id
        self.path = path
        self.version = version
        self.created = created
        self.userid = userid
        self.fullname = fullname
        self.email = email
        self.passwordHash = passwordHash
        self.roles = roles
        self.groups = groups
        self.linkedContactUID = linkedContactUID
        self.deactivated = deactivated
    }

    /// True unless a lab manager deactivated the login.
    public var isActive: Bool { deactivated == nil }

    /// True if the user holds LabManager or Manager globally.
    public var isLabManager: Bool { roles.contains(.labManager) || roles.contains(.manager) }
}

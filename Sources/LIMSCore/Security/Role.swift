/// A Zope/SENAITE role, persisted by its SENAITE name.
///
/// Global roles are on ``User/roles``; local roles (e.g. `Owner` of a client) are on ``Client/localRoles``.
///
/// Source: senaite.core `bika/lims/profiles/default/rolemap.xml`, reference 3.6.
public enum Role: String, Sendable, Codable, Hashable, CaseIterable, Comparable {
    case manager = "Manager"
    case labManager = "LabManager"
    case analyst = "Analyst"
    case labClerk = "LabClerk"
    case sampler = "Sampler"
    case verifier = "Verifier"
    case client = "Client"
    case owner = "Owner"

    public static func < (lhs: Role, rhs: Role) -> Bool { lhs.rawValue < rhs.rawValue }
}

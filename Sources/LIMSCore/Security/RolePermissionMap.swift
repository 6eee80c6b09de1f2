/// Which roles hold each permission, site-wide (Zope's role map).
///
/// ``senaiteDefault`` is modelled on senaite.core's `rolemap.xml`:
/// - `view`: Manager, LabManager, LabClerk, Analyst, Verifier, Sampler, Owner. The `Client` role has no
///   site-wide View: a client user sees only its own client's objects, through the `Owner` local role it gets
///   on its client when linked to a contact (reference 3.6).
/// - `addSample`: Manager, LabManager, LabClerk, Owner (a client user adds samples to its own client).
/// - `receive`: Manager, LabManager, LabClerk, Sampler.
/// - `editResults`, `submit`: Manager, LabManager, Analyst.
/// - `manageWorksheets`: Manager, LabManager, Analyst (narrowed to Manager/LabManager when
///   ``LabSettings/restrictWorksheetManagement`` is on, by the assign/unassign guards).
/// - `verify`: Manager, LabManager, Verifier.
/// - `retract`: Manager, LabManager, Verifier.
/// - `reject`, `cancel`: Manager, LabManager (+ LabClerk for cancel).
/// - `manageSetup`, `manageQueue`: Manager, LabManager.
///
/// Source: senaite.core `bika/lims/profiles/default/rolemap.xml`; senaite.queue `rolemap.xml`.
public struct RolePermissionMap: Sendable, Codable, Equatable {
    public var rolesByPermission: [Permission: Set<Role>]

    public init(_ rolesByPermission: [Permission: Set<Role>]) {
        self.rolesByPermission = rolesByPermission
    }

    /// The roles holding `permission` (empty if none).
    public func roles(for permission: Permission) -> Set<Role> { rolesByPermission[permission] ?? [] }

    /// True if any of `roles` holds `permission`.
    public func grants(_ permission: Permission, to roles: Set<Role>) -> Bool {
        !self.roles(for: permission).isDisjoint(with: roles)
    }

    public static let senaiteDefault = RolePermissionMap([
        .view: [.manager, .labManager, .labClerk, .analyst, .verifier, .sampler, .owner],
        .addSample: [.manager, .labManager, .labClerk, .owner],
        .receive: [.manager, .labManager, .labClerk, .sampler],
        .editResults: [.manager, .labManager, .analyst],
        .submit: [.manager, .labManager, .analyst],
        .manageWorksheets: [.manager, .labManager, .analyst],
        .verify: [.manager, .labManager, .verifier],
        .retract: [.manager, .labManager, .verifier],
        .reject: [.manager, .labManager],
        .cancel: [.manager, .labManager, .labClerk],
        .manageSetup: [.manager, .labManager],
        .manageQueue: [.manager, .labManager],
    ])

    // Codable as {"permission": ["Role", ...]} with string keys.
    public init(from decoder: any Decoder) throws {
        let raw = try [String: Set<Role>](from: decoder)
        var map: [Permission: Set<Role>] = [:]
        for (key, roles) in raw {
            guard let permission = Permission(rawValue: key) else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                        debugDescription: "Unknown permission \(key)"))
            }
            map[permission] = roles
        }
        rolesByPermission = map
    }

    public func encode(to encoder: any Encoder) throws {
        let raw = Dictionary(uniqueKeysWithValues: rolesByPermission.map { ($0.key.rawValue, $0.value) })
        try raw.encode(to: encoder)
    }
}

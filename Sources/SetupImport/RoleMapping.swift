import Foundation
import LIMSCore

/// SENAITE group and role names from the `Groups` / `Roles` columns mapped to LIMSCore roles.
///
/// Source: senaite.core setup data `Lab_Contacts` (groups `LabManagers`, `Analysts`, `LabClerks`, `Verifiers`,
/// `Samplers`, ... each granting the role of the same singular name).
enum RoleMapping {
    /// Lower-cased group or role name → role.
    private static let table: [String: Role] = [
        "labmanagers": .labManager, "labmanager": .labManager,
        "analysts": .analyst, "analyst": .analyst,
        "labclerks": .labClerk, "labclerk": .labClerk,
        "verifiers": .verifier, "verifier": .verifier,
        "samplers": .sampler, "sampler": .sampler,
        "clients": .client, "client": .client,
        "managers": .manager, "manager": .manager, "site administrators": .manager,
    ]

    /// The role a group or role name grants, nil when LIMSCore has none (e.g. `Preservers`, `Publishers`).
    static func role(for name: String) -> Role? {
        table[name.lowercased()]
    }

    /// Splits a comma- or semicolon-separated cell into trimmed, non-empty names, keeping order, no repeats.
    static func names(in text: String?) -> [String] {
        guard let text else { return [] }
        var seen: Set<String> = []
        return text.split(whereSeparator: { $0 == "," || $0 == ";" })
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && seen.insert($0).inserted }
    }
}

import FluentKit
import LIMSCore
import SQLKit

/// Schema version 15: clients' words in the search index (``SearchWords/texts(of:)``: a client's name and code), so a
/// samples search finds a client's samples by its name or code (issue 11: "search by id, client sample id, client").
/// Writes the rows of the stored clients (a few per client); no table or index changes. Safe to run again over itself.
public struct AddClientSearchWords: AsyncMigration {
    public init() {}

    public var name: String { "limsqueue-0015-client-search-words" }

    public func prepare(on database: any Database) async throws {
        try await database.transaction { database in
            try await AddSearchIndex.refill(try database.sqlDatabase(), types: [.client])
        }
    }

    public func revert(on database: any Database) async throws {
        try await database.sqlDatabase().raw("DELETE FROM lims_search WHERE portal_type = \(bind: PortalType.client.rawValue)").run()
    }
}

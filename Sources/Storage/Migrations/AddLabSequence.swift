import FluentKit
import SQLKit

/// Schema, PostgreSQL only: the sequence `lims_sequence`, from which each lab write transaction takes its stamp
/// (`lims_objects.seq`), continuing after the counter it replaces (`queue_state` row 3). SQLite keeps the row.
///
/// Why: every lab write began with `UPDATE queue_state SET counter = counter + 1 WHERE id = 3`, whose row lock is
/// held until the commit, so on PostgreSQL no two lab writes could overlap, whatever the connections. A sequence
/// hands out numbers without a lock held to the commit (numbers of rolled-back transactions are gaps, and the
/// stamps are unique, not in commit order: nothing reads them as an order). SQLite has one writer anyway.
public struct AddLabSequence: AsyncMigration {
    public init() {}

    public var name: String { "limsqueue-0009-lab-sequence" }

    public func prepare(on database: any Database) async throws {
        let sql = try database.sqlDatabase()
        guard sql.dialect.name == "postgresql" else { return }
        try await sql.raw("CREATE SEQUENCE lims_sequence").run()
        try await sql.raw("""
            SELECT setval('lims_sequence', GREATEST(1, COALESCE((SELECT counter FROM queue_state WHERE id = 3), 0)))
            """).run()
    }

    public func revert(on database: any Database) async throws {
        let sql = try database.sqlDatabase()
        guard sql.dialect.name == "postgresql" else { return }
        // The row continues after the sequence, so a build before this migration stamps after it.
        try await sql.raw("""
            UPDATE queue_state SET counter = GREATEST(counter, (SELECT last_value FROM lims_sequence)) WHERE id = 3
            """).run()
        try await sql.raw("DROP SEQUENCE IF EXISTS lims_sequence").run()
    }
}

import FluentKit
import SQLKit

/// Schema version 2: the LIMS objects (one JSON document per object, with the columns searches and
/// optimistic locking need), id counters, the `allowedRolesAndUsers` security index, deletions (so other
/// processes can sync incrementally) and the lab settings. Row 3 of `queue_state` is the LIMS write sequence.
///
/// Invariants: `version >= 1` and grows by one per write; `path` is unique; every write carries the sequence
/// number of its transaction in `seq`.
public struct CreateLabTables: AsyncMigration {
    public init() {}

    public var name: String { "limsqueue-0002-create-lab-tables" }

    public func prepare(on database: any Database) async throws {
        let sql = try database.sqlDatabase()
        try await sql.raw("""
            CREATE TABLE lims_objects (
                uid TEXT PRIMARY KEY NOT NULL,
                portal_type TEXT NOT NULL,
                path TEXT NOT NULL UNIQUE,
                parent_uid TEXT,
                review_state TEXT,
                version BIGINT NOT NULL CHECK (version >= 1),
                seq BIGINT NOT NULL,
                created DOUBLE PRECISION NOT NULL,
                body TEXT NOT NULL
            )
            """).run()
        try await sql.raw("CREATE INDEX lims_objects_type ON lims_objects (portal_type, review_state)").run()
        try await sql.raw("CREATE INDEX lims_objects_parent ON lims_objects (parent_uid)").run()
        try await sql.raw("CREATE INDEX lims_objects_seq ON lims_objects (seq)").run()
        try await sql.raw("CREATE TABLE lims_deletions (uid TEXT PRIMARY KEY NOT NULL, seq BIGINT NOT NULL)").run()
        try await sql.raw("CREATE INDEX lims_deletions_seq ON lims_deletions (seq)").run()
        try await sql.raw("CREATE TABLE lims_counters (key TEXT PRIMARY KEY NOT NULL, value BIGINT NOT NULL CHECK (value >= 0))").run()
        try await sql.raw("""
            CREATE TABLE lims_security (
                uid TEXT NOT NULL,
                token TEXT NOT NULL,
                PRIMARY KEY (uid, token)
            )
            """).run()
        try await sql.raw("CREATE INDEX lims_security_token ON lims_security (token)").run()
        try await sql.raw("CREATE TABLE lims_settings (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)").run()
        try await sql.raw("INSERT INTO queue_state (id, counter) VALUES (3, 0)").run()
    }

    public func revert(on database: any Database) async throws {
        let sql = try database.sqlDatabase()
        for table in ["lims_settings", "lims_security", "lims_counters", "lims_deletions", "lims_objects"] {
            try await sql.raw("DROP TABLE IF EXISTS \(ident: table)").run()
        }
        try await sql.raw("DELETE FROM queue_state WHERE id = 3").run()
    }
}

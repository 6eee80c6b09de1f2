import FluentKit
import SQLKit

/// Schema: the server-side sessions of the LIMS (pages and JSON API), so that logout, a password change and a
/// deactivation end them in every process of the database.
///
/// `id` is the SHA-256 (hex) of the cookie secret, never the secret. Invariant: `expires > created`. Same DDL on
/// SQLite and PostgreSQL.
public struct CreateSessionTable: AsyncMigration {
    public init() {}

    public var name: String { "limsqueue-sessions-0001-create" }

    public func prepare(on database: any Database) async throws {
        let sql = try database.sqlDatabase()
        try await sql.raw("""
            CREATE TABLE lims_sessions (
                id TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 64),
                userid TEXT NOT NULL,
                created DOUBLE PRECISION NOT NULL,
                expires DOUBLE PRECISION NOT NULL CHECK (expires > created),
                flash TEXT
            )
            """).run()
        try await sql.raw("CREATE INDEX lims_sessions_userid ON lims_sessions (userid)").run()
        try await sql.raw("CREATE INDEX lims_sessions_expires ON lims_sessions (expires)").run()
    }

    public func revert(on database: any Database) async throws {
        try await database.sqlDatabase().raw("DROP TABLE IF EXISTS lims_sessions").run()
    }
}

import FluentKit
import SQLKit

/// Schema version 3: what several server instances on one database need.
///
/// - A unique partial index on the serialization key of running tasks, `(name, path_key)` where the path key is
///   not empty: no two tasks of one name on one context can run at once, whatever claims them (the rule of
///   reference 1.2 pop step 4 as reference 4 states it). The claim never relies on it (it checks first), it
///   makes a bug fail loudly instead of running two tasks together. Same DDL on SQLite and PostgreSQL.
/// - PostgreSQL only: the sequence `queue_changes`, the change counter that long-polls watch when notifications
///   do not reach them (behind a pooler in transaction mode). A sequence, unlike a counter row, takes no row
///   lock, so writers of different servers never queue behind each other on it. SQLite uses `PRAGMA
///   data_version` instead.
public struct AddScaleOutSupport: AsyncMigration {
    public init() {}

    public var name: String { "limsqueue-0003-scale-out" }

    public func prepare(on database: any Database) async throws {
        let sql = try database.sqlDatabase()
        try await sql.raw("""
            CREATE UNIQUE INDEX queue_tasks_running_key ON queue_tasks (name, path_key)
            WHERE status = 'running' AND path_key <> ''
            """).run()
        if sql.dialect.name == "postgresql" {
            try await sql.raw("CREATE SEQUENCE queue_changes").run()
        }
    }

    public func revert(on database: any Database) async throws {
        let sql = try database.sqlDatabase()
        try await sql.raw("DROP INDEX IF EXISTS queue_tasks_running_key").run()
        if sql.dialect.name == "postgresql" {
            try await sql.raw("DROP SEQUENCE IF EXISTS queue_changes").run()
        }
    }
}

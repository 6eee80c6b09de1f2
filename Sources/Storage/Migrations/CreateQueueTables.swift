import FluentKit
import PostgresStatements
import SQLKit

/// Schema version 1 of the queue: tasks, their object uids, settings, the history of finished attempts and the
/// state rows used as claim lock and change counter. One DDL for SQLite and PostgreSQL (portable types only).
///
/// Invariants in the schema: status is one of queued/running/failed; `started`, `consumer_id`, `lease_token`
/// and `lease_expires` are set exactly while running; the history outcome is one of ``HistoryEntry/Outcome``.
/// The columns `status`, `started`, `consumer_id` and `lease_token` are authoritative; `body` holds the rest of
/// the task dict (so that a claim is one `UPDATE ... RETURNING` that never rewrites the body).
public struct CreateQueueTables: AsyncMigration {
    public init() {}

    public var name: String { "limsqueue-0001-create-queue-tables" }

    public func prepare(on database: any Database) async throws {
        let sql = try database.sqlDatabase()
        try await sql.raw("""
            CREATE TABLE queue_tasks (
                task_uid TEXT PRIMARY KEY NOT NULL,
                name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
                context_uid TEXT NOT NULL,
                path_key TEXT NOT NULL,
                action TEXT,
                status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'failed')),
                top_rank BIGINT NOT NULL,
                sort_key DOUBLE PRECISION NOT NULL,
                available_at DOUBLE PRECISION NOT NULL,
                created DOUBLE PRECISION NOT NULL,
                max_seconds BIGINT NOT NULL CHECK (max_seconds > 0),
                ghost BIGINT NOT NULL DEFAULT 0 CHECK (ghost IN (0, 1)),
                started DOUBLE PRECISION,
                lease_expires DOUBLE PRECISION,
                consumer_id TEXT,
                lease_token TEXT,
                body TEXT NOT NULL,
                CHECK ((status = 'running') = (started IS NOT NULL AND lease_expires IS NOT NULL
                       AND consumer_id IS NOT NULL AND lease_token IS NOT NULL))
            )
            """).run()
        try await sql.raw("CREATE INDEX queue_tasks_order ON queue_tasks (status, top_rank, sort_key, context_uid)").run()
        try await sql.raw("CREATE INDEX queue_tasks_context ON queue_tasks (context_uid, name)").run()
        try await sql.raw("""
            CREATE TABLE queue_task_uids (
                task_uid TEXT NOT NULL REFERENCES queue_tasks (task_uid) ON DELETE CASCADE,
                uid TEXT NOT NULL,
                PRIMARY KEY (task_uid, uid)
            )
            """).run()
        try await sql.raw("CREATE INDEX queue_task_uids_uid ON queue_task_uids (uid)").run()
        try await sql.raw("""
            CREATE TABLE queue_settings (
                key TEXT PRIMARY KEY NOT NULL,
                value TEXT NOT NULL
            )
            """).run()
        try await sql.raw("""
            CREATE TABLE queue_state (
                id BIGINT PRIMARY KEY NOT NULL,
                counter BIGINT NOT NULL
            )
            """).run()
        try await sql.raw("INSERT INTO queue_state (id, counter) VALUES (1, 0), (2, 0)").run()
        try await sql.raw("""
            CREATE TABLE queue_history (
                entry_uid TEXT PRIMARY KEY NOT NULL,
                task_uid TEXT NOT NULL,
                name TEXT NOT NULL,
                context_uid TEXT NOT NULL,
                context_path TEXT NOT NULL,
                path_key TEXT NOT NULL,
                username TEXT NOT NULL,
                consumer_id TEXT,
                outcome TEXT NOT NULL CHECK (outcome IN
                    ('done', 'retried', 'failed', 'timeout', 'purged', 'interrupted')),
                error_message TEXT,
                created DOUBLE PRECISION NOT NULL,
                started DOUBLE PRECISION,
                finished DOUBLE PRECISION NOT NULL
            )
            """).run()
        try await sql.raw("CREATE INDEX queue_history_finished ON queue_history (finished)").run()
        try await sql.raw("CREATE INDEX queue_history_task ON queue_history (task_uid)").run()
    }

    public func revert(on database: any Database) async throws {
        let sql = try database.sqlDatabase()
        for table in ["queue_history", "queue_state", "queue_settings", "queue_task_uids", "queue_tasks"] {
            try await sql.raw("DROP TABLE IF EXISTS \(ident: table)").run()
        }
    }
}

extension Database {
    /// This database as an SQLKit database.
    /// - Throws: ``StorageError`` when the driver is not SQL-based.
    /// On PostgreSQL frequent statements run as prepared statements (``PostgresStatements/PreparingPostgresDatabase``).
    func sqlDatabase() throws -> any SQLDatabase {
        guard let sql = self as? any SQLDatabase else { throw StorageError.notSQL }
        return PreparingPostgresDatabase.wrapping(sql)
    }
}

/// Errors of the storage layer itself.
public enum StorageError: Error, CustomStringConvertible {
    /// The Fluent driver does not speak SQL.
    case notSQL
    /// A stored row could not be read.
    case corruptRow(String)
    /// The database was migrated by a newer LimsQueue: the names of the migrations this build does not know.
    case newerSchema([String])
    /// A lock file (the SQLite migrations' lock) could not be opened or locked: the reason, naming the path.
    case lockFile(String)

    public var description: String {
        switch self {
        case .notSQL: return "the database driver is not SQL-based"
        case .corruptRow(let detail): return "a stored row could not be read: \(detail)"
        case .newerSchema(let names):
            return "the database was upgraded by a newer LimsQueue (schema changes this version does not know: "
                + names.joined(separator: ", ") + "); run the newer version on every node of this database"
        case .lockFile(let reason): return reason
        }
    }
}

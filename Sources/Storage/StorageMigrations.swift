import FluentKit
import Logging
import NIOCore
import SQLKit

/// The schema migrations of LimsQueue, in order, and the SQLite tuning applied when a database is opened.
public enum StorageMigrations {
    /// Every migration, oldest first. Never edit a shipped one; append.
    public static var all: [any Migration] { [CreateQueueTables(), CreateLabTables(), AddScaleOutSupport(), AddLabCatalog(), CreateSessionTable(), AddDelayedTaskIndex(),
                                          LeanLabIndexes(), LeanTaskUIDs(), AddTaskUsername(), AddLabSequence(), AddReadyTaskIndex(),
                                          DropLabStampIndex(), AddHeldTasks(), PartialCatalogIndexes(), AddSearchIndex(),
                                          AddClientSearchWords(), WidenIDCatalogIndex()] }

    /// Refuses a database that a newer LimsQueue migrated: a schema change this build does not know (for
    /// example `limsqueue-0007-lean-task-uids`, after which a task's context is found through `queue_tasks_context`
    /// only) would make it read the data wrongly, e.g. see a worksheet with a queued task as free and let an
    /// action through that the queue's guard must refuse. Every node of one database runs the same version.
    /// - Throws: ``StorageError/newerSchema(_:)`` naming the unknown migrations; storage errors. A database
    ///   without the migrations table (new) passes.
    public static func requireKnownSchema(_ database: any Database) async throws {
        try await requireKnownSchema(try database.sqlDatabase())
    }

    /// ``requireKnownSchema(_:)-(Database)`` on a connection outside Fluent (a file `limsqueue restore` checks).
    /// - Throws: as that one.
    public static func requireKnownSchema(_ sql: any SQLDatabase) async throws {
        let rows: [any SQLRow]
        do {
            rows = try await sql.raw("SELECT name FROM _fluent_migrations").all()
        } catch {
            // No migrations table yet: a new database (any other error shows again at the migration).
            return
        }
        let known = Set(all.map(\.name))
        let unknown = try rows.map { try $0.decode(column: "name", as: String.self) }.filter { !known.contains($0) }.sorted()
        if !unknown.isEmpty { throw StorageError.newerSchema(unknown) }
    }

    /// The migrations this build knows that `database` has not applied, oldest first: every one on a new database
    /// (no migrations table), none on a database this build or a newer one brought up to date.
    /// - Throws: storage errors other than a missing migrations table.
    public static func pendingMigrations(_ database: any Database) async throws -> [String] {
        let sql = try database.sqlDatabase()
        guard try await hasSchema(database) else { return all.map(\.name) }
        let applied = Set(try await sql.raw("SELECT name FROM _fluent_migrations").all()
            .map { try $0.decode(column: "name", as: String.self) })
        return all.map(\.name).filter { !applied.contains($0) }
    }

    /// True when LimsQueue's schema is in `database` (its migrations table exists): a database some LimsQueue
    /// command created or migrated. Asks the database's catalog, so a database that cannot be reached throws.
    /// - Throws: the database's errors.
    public static func hasSchema(_ database: any Database) async throws -> Bool {
        let sql = try database.sqlDatabase()
        let query: SQLQueryString = sql.dialect.name == "postgresql"
            ? "SELECT COUNT(*) AS n FROM pg_tables WHERE tablename = '_fluent_migrations' AND schemaname = current_schema()"
            : "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = '_fluent_migrations'"
        return try await sql.raw(query).first()?.decode(column: "n", as: Int.self) ?? 0 > 0
    }

    /// Applies pending migrations. Safe to call on every start (migrations already applied are skipped), and from
    /// several processes at once: one migrates while the others wait, then find nothing left to do. Fluent's migrator
    /// reads what is applied, then applies the rest, so two processes started together on a new database both
    /// created the first table and all but one failed ("table queue_tasks already exists"; a tryout started six
    /// consumers at once). The lock: on PostgreSQL a session advisory lock (`SQLQueueStore.AdvisoryLock.migrationNamespace`) held on a connection
    /// of its own while the migrator runs on others, released when that session ends even if the process dies; on
    /// SQLite an exclusive `flock` of `lockFile` (the kernel drops it with the process).
    /// - Parameters:
    ///   - lockFile: SQLite: the file to lock (created when missing), beside the database; nil runs unlocked.
    ///     Ignored on PostgreSQL.
    /// - Returns: the names of the migrations this call applied, oldest first; empty when the schema was up to date
    ///   (or another process brought it up to date while this one waited for the lock).
    /// - Throws: the migrator's errors; a lock file that cannot be opened or locked within 5 minutes.
    @discardableResult
    public static func migrate(_ databases: Databases, on eventLoop: any EventLoop, logger: Logger, lockFile: String? = nil) async throws -> [String] {
        let migrations = Migrations()
        migrations.add(all)
        // Each step at debug level, and one line for the whole run: a new data directory printed two lines per step
        // (24 on `setup import`), which a new user took for warnings.
        let migrator = Migrator(databases: databases, migrations: migrations, logger: logger, on: eventLoop, migrationLogLevel: .debug)
        let run: @Sendable () async throws -> [String] = {
            try await migrator.setupIfNeeded().get()
            let pending = try await migrator.previewPrepareBatch().get().map { $0.0.name }
            try await migrator.prepareBatch().get()
            if let newest = pending.last {
                logger.info("database schema brought up to date: \(pending.count) migration step(s) applied, the newest \(newest)")
            }
            return pending
        }
        guard let database = databases.database(logger: logger, on: eventLoop) else { return try await run() }
        if try database.sqlDatabase().dialect.name == "postgresql" {
            return try await database.withConnection { connection in
                let sql = try connection.sqlDatabase()
                let key = SQLQueueStore.AdvisoryLock.migrationNamespace
                try await sql.raw("SELECT pg_advisory_lock(\(bind: key), 0)").run()
                let outcome: Result<[String], any Error>
                do { outcome = .success(try await run()) } catch { outcome = .failure(error) }
                // An unlock that fails means the session is gone, which released the lock.
                _ = try? await sql.raw("SELECT pg_advisory_unlock(\(bind: key), 0)").run()
                return try outcome.get()
            }
        } else if let lockFile {
            return try await FileLock.holding(lockFile, seconds: 300, run)
        } else {
            return try await run()
        }
    }


    /// SQLite only (no-op elsewhere): write-ahead log so that readers never block the writer and several
    /// processes can share the file; `synchronous` after `durability` (``Durability/normal``: durable across
    /// process crashes, the last transactions may be lost on power loss; ``Durability/full``: fsync at every
    /// commit); foreign keys on; the log file cut back to ``walFileLimitBytes`` when rewound; statement journals in memory (`temp_store`: a multi-row insert inside a
    /// transaction journals the pages it changes, to a temporary file by default). On PostgreSQL durability is a
    /// connection parameter (``Durability/postgresParameter``).
    /// - Parameters:
    ///   - durability: Default: ``Durability/normal``.
    ///   - cacheMiB: The connection's page cache, MiB. Default: nil, SQLite's 2 MiB. A writer's cache should hold
    ///     the pages one transaction changes: a smaller one spills them to the log and writes them again.
    ///     Source: https://www.sqlite.org/pragma.html#pragma_cache_size
    public static func tune(_ database: any Database, durability: Durability = .normal, cacheMiB: Int? = nil) async throws {
        try await tune(try database.sqlDatabase(), durability: durability, cacheMiB: cacheMiB)
    }

    /// The size, bytes, SQLite truncates the write-ahead log file to each time the log is rewound
    /// (`PRAGMA journal_size_limit`): 32 MiB. Rewinding alone reuses the file from its start and never shrinks it; a
    /// tryout found 83-205 MB log files left beside 37 MB databases after bursts of adds.
    /// Source: https://www.sqlite.org/pragma.html#pragma_journal_size_limit
    public static let walFileLimitBytes = 32 << 20

    /// ``tune(_:durability:cacheMiB:)-(any Database,_,_)`` on one SQLKit connection (the writer's own).
    public static func tune(_ sql: any SQLDatabase, durability: Durability = .normal, cacheMiB: Int? = nil) async throws {
        guard sql.dialect.name == "sqlite" else { return }
        try await sql.raw("PRAGMA journal_mode = WAL").run()
        try await sql.raw("PRAGMA synchronous = \(unsafeRaw: durability == .full ? "FULL" : "NORMAL")").run()
        try await sql.raw("PRAGMA foreign_keys = ON").run()
        try await sql.raw("PRAGMA temp_store = MEMORY").run()
        try await sql.raw("PRAGMA journal_size_limit = \(unsafeRaw: String(walFileLimitBytes))").run()
        if let cacheMiB {
            // A negative cache_size is in KiB.
            try await sql.raw("PRAGMA cache_size = \(unsafeRaw: String(-max(1, cacheMiB) * 1024))").run()
        }
    }

    /// The page cache of the writer connection, MiB: 16, which holds the pages a bulk transaction of 500 demo
    /// samples changes (about 3,000 pages of 4 KiB, 12 MiB). Pages beyond it are read again from the operating
    /// system's file cache, which is not the process's memory. It was 64: on a 200,000-sample lab the cache filled to
    /// its bound and `bench scale`'s serve peaked at 154-157 MB against 80 MB at 2,000 samples (growth exponent 0.14,
    /// issue 11's bound is 0.1); with 16 the peak is 107 MB (0.06), every action as fast, `demo samples` 2,488-2,523
    /// samples/s against 2,411-2,412 and `bench queue --batched` within 2 %.
    public static let writerCacheMiB = 16
}

/// How durable a commit is before the queue answers.
///
/// Both keep every committed transaction across a crash of the LimsQueue process; they differ on a crash of the
/// machine (power loss) or of the database server. The process's single writer commits concurrent pops and
/// dones together (group commit), so `full` pays one fsync per batch, not per request.
public enum Durability: String, Sendable, CaseIterable {
    /// SQLite `synchronous=NORMAL` (WAL: fsync at checkpoints; the last transactions may be lost on power loss);
    /// PostgreSQL `synchronous_commit=off` (the last commits, at most about 3 x `wal_writer_delay`, may be lost
    /// if the database server crashes; never corruption).
    case normal
    /// SQLite `synchronous=FULL` (fsync of the WAL at every commit); PostgreSQL `synchronous_commit=on` (the server's
    /// default: the commit waits for the WAL flush).
    case full

    /// The PostgreSQL startup parameter that applies this durability to a connection.
    /// Source: https://www.postgresql.org/docs/15/runtime-config-wal.html#GUC-SYNCHRONOUS-COMMIT
    public var postgresParameter: (name: String, value: String) {
        ("synchronous_commit", self == .full ? "on" : "off")
    }
}

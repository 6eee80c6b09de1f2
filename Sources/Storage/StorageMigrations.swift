import FluentKit
import Logging
import NIOCore
import SQLKit

/// The schema migrations of LimsQueue, in order, and the SQLite tuning applied when a database is opened.
public enum StorageMigrations {
    /// Every migration, oldest first. Never edit a shipped one; append.
    public static var all: [any Migration] { [CreateQueueTables(), CreateLabTables(), AddScaleOutSupport(), CreateSessionTable()] }

    /// Applies pending migrations. Safe to call on every start (migrations already applied are skipped).
    public static func migrate(_ databases: Databases, on eventLoop: any EventLoop, logger: Logger) async throws {
        let migrations = Migrations()
        migrations.add(all)
        let migrator = Migrator(databases: databases, migrations: migrations, logger: logger, on: eventLoop)
        try await migrator.setupIfNeeded().get()
        try await migrator.prepareBatch().get()
    }

    /// SQLite only (no-op elsewhere): write-ahead log so that readers never block the writer and several
    /// processes can share the file; `synchronous=NORMAL` (durable across process crashes, the last
    /// transactions may be lost on power loss); foreign keys on.
    public static func tune(_ database: any Database) async throws {
        let sql = try database.sqlDatabase()
        guard sql.dialect.name == "sqlite" else { return }
        try await sql.raw("PRAGMA journal_mode = WAL").run()
        try await sql.raw("PRAGMA synchronous = NORMAL").run()
        try await sql.raw("PRAGMA foreign_keys = ON").run()
    }
}

import SQLKit

/// A consistent copy of a live SQLite database, what a copy holds, and the check before one replaces a database.
///
/// `VACUUM INTO` reads the database in one read transaction, so the copy is the state of one instant (the write-ahead
/// log's committed frames included) while the processes that use it go on writing; the copy is compact (no free
/// pages) and a plain database file. Copying the file itself while LimsQueue runs is not a backup: the last commits
/// live in the `-wal` file, and a copy taken mid-checkpoint is torn. Source: SQLite's documentation of `VACUUM INTO`.
public enum SQLiteBackup {
    /// What a backup holds, read from the copy.
    public struct Summary: Sendable, Equatable {
        /// `PRAGMA quick_check`'s answer: "ok" for a sound file.
        public var check: String
        /// Queue tasks by status (`queued`, `running`, `failed`).
        public var tasks: [String: Int]
        /// Lab objects (samples, analyses, worksheets, setup).
        public var labObjects: Int
        /// Migrations applied (the schema's version).
        public var migrations: Int
    }

    /// Writes a copy of `source` to `path` (a file that must not exist yet) with `VACUUM INTO`.
    /// - Throws: the driver's error (a file that exists, a directory that cannot be written, a full disk).
    public static func write(from source: any SQLDatabase, to path: String) async throws {
        try await source.raw("VACUUM INTO \(bind: path)").run()
    }

    /// Checks that `live` (a connection to a data directory's database) is the only connection to that file: takes
    /// SQLite's exclusive locking mode and an exclusive transaction, which fail with `SQLITE_BUSY` while any other
    /// connection, of any process, has the file open in write-ahead-log mode (each keeps a shared lock on it).
    /// Closing `live` afterwards, as the last connection, checkpoints the log into the file and deletes the `-wal`
    /// and `-shm` files. Source: SQLite's documentation of `locking_mode` and of WAL mode.
    /// - Throws: the driver's error: `SQLITE_BUSY` (5) when another connection has the database open. Open `live`
    ///   with a short busy timeout, or this waits out the other process's lock.
    public static func requireSoleConnection(_ live: any SQLDatabase) async throws {
        try await live.raw("PRAGMA locking_mode = EXCLUSIVE").run()
        try await live.raw("BEGIN EXCLUSIVE").run()
        try await live.raw("COMMIT").run()
    }

    /// Reads `copy`'s integrity check and counts.
    /// - Parameter thorough: `PRAGMA integrity_check`, which also compares every index with its table (a restore,
    ///   offline: 22 s for a 1.7 GB lab here), instead of `quick_check` (1.4 s; a tryout's backup with one byte of a
    ///   user id changed passed it, its indexes no longer matching). Default: false.
    /// - Throws: the driver's error when the copy cannot be read as a LimsQueue database.
    public static func summary(of copy: any SQLDatabase, thorough: Bool = false) async throws -> Summary {
        let pragma = thorough ? "integrity_check" : "quick_check"
        let check = try await copy.raw("PRAGMA \(unsafeRaw: pragma)").all().map { try $0.decode(column: pragma, as: String.self) }
        var tasks: [String: Int] = [:]
        for row in try await copy.raw("SELECT status, COUNT(*) AS n FROM queue_tasks GROUP BY status").all() {
            tasks[try row.decode(column: "status", as: String.self)] = try row.decode(column: "n", as: Int.self)
        }
        let objects = try await copy.raw("SELECT COUNT(*) AS n FROM lims_objects").first()?.decode(column: "n", as: Int.self) ?? 0
        let migrations = try await copy.raw("SELECT COUNT(*) AS n FROM _fluent_migrations").first()?.decode(column: "n", as: Int.self) ?? 0
        return Summary(check: check.joined(separator: "; "), tasks: tasks, labObjects: objects, migrations: migrations)
    }
}

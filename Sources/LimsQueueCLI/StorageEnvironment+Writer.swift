import InlineSQLite
import Logging
import NIOCore
import Storage

extension StorageEnvironment {
    /// SQLite: the single writer's own connection (``InlineSQLiteConnection``: statements run on the calling thread
    /// from prepared statements), tuned as a writer (``StorageMigrations/writerCacheMiB``), with `writerLoop`'s
    /// thread to block on; with `--durability full` its syncs are grouped off that thread (``WALGroupSync``). PostgreSQL (`sqlitePath` nil): nil, the writer takes pooled connections.
    /// - Throws: ``InlineSQLiteError`` when the file cannot be opened or tuned; ``CLIError`` naming the path when SQLite
    ///   can open it only read-only.
    static func openWriterConnection(sqlitePath: String?, writerLoop: any EventLoop, durability: Durability?,
                                     logger: Logger) async throws -> (connection: InlineSQLiteConnection, dedicated: DedicatedConnection)? {
        guard let sqlitePath else { return nil }
        let connection = try InlineSQLiteConnection(path: sqlitePath, logger: logger, eventLoop: writerLoop)
        // Found by a fresh user: started on a read-only file, every write answered 500 until a restart, even after
        // the permissions were fixed (SQLite keeps a connection read-only).
        if connection.isReadOnly {
            connection.close()
            throw CLIError("the database \(sqlitePath) is read-only for this user: LimsQueue needs to write the file and its "
                           + "directory (for the -wal and -shm files); fix the permissions and start again")
        }
        // `--durability full`: the writer commits as with `normal` and its answers wait for a group sync of the
        // write-ahead log off its thread (WALGroupSync: as durable as synchronous=FULL, without the writer waiting on
        // the disk). Only in WAL mode (a file system without shared memory keeps the rollback journal: FULL then).
        var groupSync: WALGroupSync?
        do {
            try await StorageMigrations.tune(connection, durability: durability ?? .normal, cacheMiB: StorageMigrations.writerCacheMiB)
            if durability == .full,
               try await connection.raw("PRAGMA journal_mode").first()?.decode(column: "journal_mode", as: String.self).lowercased() == "wal" {
                try await connection.raw("PRAGMA synchronous = NORMAL").run()
                groupSync = WALGroupSync(walPath: sqlitePath + "-wal")
            }
        } catch {
            connection.close()
            throw error
        }
        return (connection, DedicatedConnection(connection: connection, executor: EventLoopTaskExecutor(eventLoop: writerLoop),
                                                durableAfter: groupSync))
    }
}

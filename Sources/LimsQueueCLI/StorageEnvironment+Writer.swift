import InlineSQLite
import Logging
import NIOCore
import Storage

extension StorageEnvironment {
    /// SQLite: the single writer's own connection (``InlineSQLiteConnection``: statements run on the calling thread
    /// from prepared statements), tuned as a writer (``StorageMigrations/writerCacheMiB``), with `writerLoop`'s
    /// thread to block on. PostgreSQL (`sqlitePath` nil): nil, the writer takes pooled connections.
    /// - Throws: ``InlineSQLiteError`` when the file cannot be opened or tuned.
    static func openWriterConnection(sqlitePath: String?, writerLoop: any EventLoop, durability: Durability?,
                                     logger: Logger) async throws -> (connection: InlineSQLiteConnection, dedicated: DedicatedConnection)? {
        guard let sqlitePath else { return nil }
        let connection = try InlineSQLiteConnection(path: sqlitePath, logger: logger, eventLoop: writerLoop)
        do {
            try await StorageMigrations.tune(connection, durability: durability ?? .normal, cacheMiB: StorageMigrations.writerCacheMiB)
        } catch {
            connection.close()
            throw error
        }
        return (connection, DedicatedConnection(connection: connection, executor: EventLoopTaskExecutor(eventLoop: writerLoop)))
    }
}

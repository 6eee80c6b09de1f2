import InlineSQLite
import Logging
import NIOCore
import Storage

extension StorageEnvironment {
    /// SQLite: the lab's reader connections (the queue store reads through them too), one per loop of `loops`
    /// (``labReaderCount``), each an
    /// ``InlineSQLiteConnection`` (statements run on the calling thread from prepared statements) whose statements the
    /// lab store runs on its loop's thread (``Storage/ThreadBoundSQLDatabase``). Tuned as every connection
    /// (``StorageMigrations/tune(_:durability:cacheMiB:)-(any SQLDatabase,_,_)``), then `query_only`: a write through
    /// a reader fails instead of bypassing the single writer. PostgreSQL (`sqlitePath` nil): none, the lab reads
    /// through the Fluent pools.
    /// - Throws: ``InlineSQLiteError`` when a connection cannot be opened or tuned (those opened are closed).
    static func openLabReaders(sqlitePath: String?, loops: [any EventLoop], durability: Durability?,
                               logger: Logger) async throws -> [InlineSQLiteConnection] {
        guard let sqlitePath else { return [] }
        var opened: [InlineSQLiteConnection] = []
        do {
            for loop in loops {
                let connection = try InlineSQLiteConnection(path: sqlitePath, logger: logger, eventLoop: loop)
                opened.append(connection)
                try await StorageMigrations.tune(connection, durability: durability ?? .normal)
                try await connection.raw("PRAGMA query_only = ON").run()
            }
        } catch {
            for connection in opened { connection.close() }
            throw error
        }
        return opened
    }
}

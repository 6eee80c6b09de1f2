import FluentSQLiteDriver
import Logging
import QueueCore
import Storage

extension StorageEnvironment {
    /// A checkpointer of this environment's store on a new SQLite connection of its own (outside the connection
    /// pools, on the environment's thread pool, which has a thread for it), and what closes that connection: call
    /// it once the checkpointer's ``SQLiteCheckpointer/run()`` has ended.
    /// - Parameters:
    ///   - configuration: Default: ``SQLiteCheckpointer/Configuration/init(interval:walLimitBytes:)``'s defaults.
    ///   - onCheckpoint: receives what each checkpoint did. Default: nothing.
    /// - Throws: ``CLIError`` on PostgreSQL; an SQLite error when the file cannot be opened.
    func checkpointer(clock: any WallClock, configuration: SQLiteCheckpointer.Configuration = .init(), logger: Logger,
                      onCheckpoint: @escaping @Sendable (SQLiteCheckpointer.Outcome) -> Void = { _ in })
        async throws -> (checkpointer: SQLiteCheckpointer, close: @Sendable () async -> Void)
    {
        guard databaseURL == nil else { throw CLIError("checkpoints are SQLite's; \(path) is PostgreSQL") }
        let connection = try await SQLiteConnection.open(storage: .file(path: path), threadPool: threadPool, logger: logger,
                                                         on: eventLoopGroup.any())
        let checkpointer = SQLiteCheckpointer(store: store, connection: connection.sql(), clock: clock, configuration: configuration,
                                              logger: logger, onCheckpoint: onCheckpoint)
        return (checkpointer, { try? await connection.close() })
    }
}

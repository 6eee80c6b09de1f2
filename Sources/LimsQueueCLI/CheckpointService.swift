import Logging
import QueueCore
import ServiceLifecycle
import Storage

/// SQLite only: checkpoints the write-ahead log from a connection of its own so that the process's writer does not
/// (``SQLiteCheckpointer``), for as long as the service group of a serving process runs.
///
/// List it first in the group: services stop in reverse order, so it stops after the server and the consumers,
/// and the writer's automatic checkpoints are back on before the databases close. Processes without this service
/// keep SQLite's automatic checkpoints.
struct CheckpointService: Service {
    let environment: StorageEnvironment
    let clock: any WallClock
    let configuration: SQLiteCheckpointer.Configuration
    let logger: Logger

    /// The service for the environment's database, or nil on PostgreSQL (which checkpoints in its own server).
    /// - Parameter configuration: Default: ``SQLiteCheckpointer/Configuration/init(interval:walLimitBytes:)``'s defaults.
    static func make(for environment: StorageEnvironment, clock: any WallClock,
                     configuration: SQLiteCheckpointer.Configuration = .init(), logger: Logger) -> CheckpointService? {
        guard environment.databaseURL == nil else { return nil }
        return CheckpointService(environment: environment, clock: clock, configuration: configuration, logger: logger)
    }

    /// Opens the checkpointer's connection, checkpoints until graceful shutdown or cancellation, closes it.
    /// - Throws: when the connection cannot be opened, or the writer's `wal_autocheckpoint` cannot be read or set.
    func run() async throws {
        let (checkpointer, close) = try await environment.checkpointer(clock: clock, configuration: configuration, logger: logger)
        do {
            try await cancelWhenGracefulShutdown { try await checkpointer.run() }
        } catch {
            await close()
            throw error
        }
        await close()
    }
}

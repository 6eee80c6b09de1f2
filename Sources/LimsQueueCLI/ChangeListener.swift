import FluentPostgresDriver
import Foundation
import Logging
import NIOCore
import QueueCore
import ServiceLifecycle
import Storage

/// PostgreSQL only: `LISTEN limsqueue_changes` on a connection of its own and wake this process's long-polling
/// pops (``SQLQueueStore/notifyChange()``) whenever any server instance commits a change that can make a task
/// claimable (see ``SQLQueueStore/changeChannel``).
///
/// The connection is re-opened after a failure (waiting 0.5 s, doubling up to 10 s); waiters are woken on every
/// (re)connect, since notifications sent while disconnected are lost. Without notifications (no connection, or a
/// pooler in transaction mode that does not forward them) long-polls stay correct: they poll the change counter
/// every 0.5 s and re-pop every 5 s.
struct ChangeListener: Service {
    /// The connection settings, parsed from the database URL (or env `LIMSQUEUE_LISTEN_DATABASE_URL`, a direct
    /// connection to the same database when the main URL goes through a pooler).
    let configuration: PostgresConnection.Configuration
    let store: SQLQueueStore
    let eventLoop: any EventLoop
    let logger: Logger

    /// - Throws: when `url` is not a PostgreSQL URL.
    init(url: String, store: SQLQueueStore, eventLoop: any EventLoop, logger: Logger) throws {
        self.configuration = try PostgresURL.configuration(url).coreConfiguration
        self.store = store
        self.eventLoop = eventLoop
        self.logger = logger
    }

    /// The listener for the environment's database, or nil on SQLite (other processes are seen through
    /// `PRAGMA data_version`).
    static func make(for environment: StorageEnvironment, logger: Logger) throws -> ChangeListener? {
        guard let url = environment.databaseURL else { return nil }
        let listenURL = ProcessInfo.processInfo.environment["LIMSQUEUE_LISTEN_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? url
        return try ChangeListener(url: listenURL, store: environment.store, eventLoop: environment.eventLoopGroup.any(),
                                  logger: logger)
    }

    func run() async throws {
        var backoff = 0.5
        var connectionID = 0
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            connectionID += 1
            do {
                let connection = try await PostgresConnection.connect(on: eventLoop, configuration: configuration,
                                                                      id: connectionID, logger: logger)
                backoff = 0.5
                var failure: (any Error)?
                do {
                    try await cancelWhenGracefulShutdown {
                        try await connection.listen(on: SQLQueueStore.changeChannel) { notifications in
                            store.notifyChange()
                            // This store's own changes woke its long-polls in memory already.
                            for try await notification in notifications where store.isForeignChange(payload: notification.payload) {
                                store.notifyChange()
                            }
                        }
                    }
                } catch {
                    failure = error
                }
                try? await connection.close()
                if let failure { throw failure }
            } catch {
                if Task.isShuttingDownGracefully || Task.isCancelled { break }
                logger.warning("change listener disconnected; long-polls poll until it is back",
                               metadata: ["lims.error": .string(loggedDescription(of: error))])
            }
            if Task.isShuttingDownGracefully || Task.isCancelled { break }
            try? await Task.sleep(nanoseconds: UInt64(backoff * 1_000_000_000))
            backoff = min(backoff * 2, 10)
            store.notifyChange()
        }
    }
}

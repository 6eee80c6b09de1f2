// The store is opened through the composition root's `StorageEnvironment` (internal to LimsQueueCLI), which only a
// testable build exposes: a debug build, as tests are built. `swift build -c release` (no tests) builds this target
// without it.
#if DEBUG
import Foundation
import Logging
import QueueCore
import QueueTesting
import Storage
import WebUI
@testable import LimsQueueCLI

/// A real store (SQLite in a fresh temporary data directory, or a database of its own on PostgreSQL) with a
/// manual clock.
package struct StoreFixture {
    package let directory: TemporaryDirectory
    /// The opened data directory (the composition root's own type, so not visible outside this target: tests
    /// reach its parts through ``store``, ``lab`` and ``webAuthKeyControl``).
    let environment: StorageEnvironment
    package let clock: ManualClock
    /// The database it runs on.
    package let backend: StoreBackend

    /// The queue store.
    package var store: SQLQueueStore { environment.store }
    /// The LIMS objects' store, sharing the queue store's database.
    package var lab: SQLLabStore { environment.lab }
    /// What the web pages use to show and replace the queue's auth key.
    package var webAuthKeyControl: AuthKeyControl { environment.webAuthKeyControl }
    /// The manual clock's now, epoch seconds.
    package var now: Double { clock.now() }

    /// A second queue store on this fixture's database whose claims run in one statement or stepwise, whatever the
    /// database (``SQLQueueStore/claimsInOneStatement``). Its writer uses the pool of the fixture's own writer,
    /// which hands its connection back first and stays idle while the test uses this store.
    package func store(claimInOneStatement: Bool) async -> SQLQueueStore {
        await store.quiesce()
        let loops = Array(environment.eventLoopGroup.makeIterator())
        return SQLQueueStore(database: store.database,
                             writerDatabase: environment.databases.database(logger: store.database.logger, on: loops[1]),
                             claimInOneStatement: claimInOneStatement, writerHoldsConnection: false)
    }

    /// SQLite only: a checkpointer of ``store`` on a connection of its own, as `limsqueue serve` runs it, waiting on
    /// ``clock``; and what closes its connection (call it after the checkpointer's `run()` ended).
    /// - Parameters:
    ///   - configuration: Default: the production defaults.
    ///   - onCheckpoint: receives what each checkpoint of `run()` did. Default: nothing.
    package func checkpointer(configuration: SQLiteCheckpointer.Configuration = .init(),
                              onCheckpoint: @escaping @Sendable (SQLiteCheckpointer.Outcome) -> Void = { _ in })
        async throws -> (checkpointer: SQLiteCheckpointer, close: @Sendable () async -> Void)
    {
        try await environment.checkpointer(clock: clock, configuration: configuration, logger: Self.quietLogger, onCheckpoint: onCheckpoint)
    }

    /// Opens a fresh store on `backend`.
    /// - Parameter backend: the database. Default: ``StoreBackend/fromEnvironment``.
    /// - Throws: the cancellation of the current test case when `backend` is not available (``StoreBackend/requireAvailable()``).
    package static func make(backend: StoreBackend = .fromEnvironment) async throws -> StoreFixture {
        try backend.requireAvailable()
        let directory = try TemporaryDirectory()
        let environment = try await StorageEnvironment.open(dataDir: directory.path, database: try await TestDatabase.url(for: directory, backend: backend),
                                                            logger: quietLogger)
        return StoreFixture(directory: directory, environment: environment, clock: ManualClock(), backend: backend)
    }

    /// Runs `body` with a fresh fixture on `backend` and tears it down afterwards.
    /// - Parameter backend: the database. Default: ``StoreBackend/fromEnvironment``.
    package static func with(backend: StoreBackend = .fromEnvironment, _ body: (StoreFixture) async throws -> Void) async throws {
        let fixture = try await make(backend: backend)
        do {
            try await body(fixture)
        } catch {
            await fixture.close()
            throw error
        }
        await fixture.close()
    }

    static var quietLogger: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        return logger
    }

    /// Closes the store and removes the data directory.
    package func close() async {
        await environment.close()
        directory.remove()
    }

    /// Reopens the same data directory (a server restart).
    package func reopened() async throws -> StoreFixture {
        await environment.close()
        let environment = try await StorageEnvironment.open(dataDir: directory.path, database: try await TestDatabase.url(for: directory, backend: backend),
                                                            logger: Self.quietLogger)
        return StoreFixture(directory: directory, environment: environment, clock: clock, backend: backend)
    }

    /// Adds one task and returns it as stored.
    @discardableResult
    package func add(_ task: QueueTask) async throws -> QueueTask {
        let outcomes = try await store.add([task], now: now)
        guard outcomes == [.added] else { throw QueueError(.badRequest, "not added: \(outcomes)") }
        return try await store.task(task.taskUID)!
    }
}
#endif

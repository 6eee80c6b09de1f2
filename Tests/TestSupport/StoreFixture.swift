import Foundation
import Logging
import QueueCore
import QueueTesting
import Storage
@testable import LimsQueueCLI

/// A real SQLite store in a fresh temporary data directory, with a manual clock.
struct StoreFixture {
    let directory: TemporaryDirectory
    let environment: StorageEnvironment
    let clock: ManualClock

    var store: SQLQueueStore { environment.store }
    var now: Double { clock.now() }

    static func make() async throws -> StoreFixture {
        let directory = try TemporaryDirectory()
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let environment = try await StorageEnvironment.open(dataDir: directory.path, database: try TestDatabase.url(for: directory), logger: logger)
        return StoreFixture(directory: directory, environment: environment, clock: ManualClock())
    }

    /// Runs `body` with a fresh fixture and tears it down afterwards.
    static func with(_ body: (StoreFixture) async throws -> Void) async throws {
        let fixture = try await make()
        do {
            try await body(fixture)
        } catch {
            await fixture.close()
            throw error
        }
        await fixture.close()
    }

    func close() async {
        await environment.close()
        directory.remove()
    }

    /// Reopens the same data directory (a server restart).
    func reopened() async throws -> StoreFixture {
        await environment.close()
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let environment = try await StorageEnvironment.open(dataDir: directory.path, database: try TestDatabase.url(for: directory), logger: logger)
        return StoreFixture(directory: directory, environment: environment, clock: clock)
    }

    /// Adds one task and returns it as stored.
    @discardableResult
    func add(_ task: QueueTask) async throws -> QueueTask {
        let outcomes = try await store.add([task], now: now)
        guard outcomes == [.added] else { throw QueueError(.badRequest, "not added: \(outcomes)") }
        return try await store.task(task.taskUID)!
    }
}

import Foundation
import QueueCore
import QueueTesting
import SQLKit
@testable import Storage
import TestSupport
import Testing

/// ``ChangeCounterBumper``: the PostgreSQL change counter moves after every batch of the writer, off its path, with
/// the bumps asked for while one runs folded into one more. Runs on PostgreSQL only (SQLite has no counter to bump:
/// its pollers read `PRAGMA data_version`).
@Suite("Queue store: the change counter bumped off the writer (PostgreSQL)")
struct ChangeCounterBumperTests {
    @Test("bumps asked for at once fold into few, and the last one starts after the last ask; a done moves the counter",
          .enabled(if: StoreBackend.available.contains(.postgres)))
    func foldsBumps() async throws {
        try await StoreFixture.with(backend: .postgres) { f in
            let sql = try f.store.sql
            let bumper = ChangeCounterBumper(database: { sql })
            let before = try await f.store.changeCounter()
            for _ in 0..<50 { bumper.bump() }
            await bumper.waitUntilIdle()
            let after = try await f.store.changeCounter()
            // The first ask bumps; the 49 asked while it ran fold into one more.
            #expect((1...2).contains(after - before), "\(before) -> \(after)")
            // A batch that finishes a task moves the counter once the store is quiet.
            let task = try await f.add(TaskFactory.task("task_generic_action", context: "WS-1", created: f.now))
            let claimed = try #require(try await f.store.pop(consumerID: "consumer-1", now: f.now + 1))
            await f.store.quiesce()
            let beforeDone = try await f.store.changeCounter()
            _ = try await f.store.done(task.taskUID, lease: LeaseClaim(consumerID: "consumer-1", leaseToken: claimed.leaseToken),
                                       now: f.now + 2)
            await f.store.quiesce()
            #expect(try await f.store.changeCounter() > beforeDone)
        }
    }
}

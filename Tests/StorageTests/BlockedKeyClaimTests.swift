import Foundation
import QueueCore
import QueueTesting
@testable import Storage
import TestSupport
import Testing

/// Tasks queued behind a running task of their serialization key (name and path key, reference 1.2) are left out
/// by the database when a claim reads candidates: a tryout queued 30,000 tasks of one key ahead of the rest and
/// each pop read and checked every one of them (9.7 s a pop on SQLite, 1.2 s at 15,000 on PostgreSQL). Part of the
/// store conformance suite: runs on each ``TestSupport/StoreBackend``.
@Suite("Queue store: a claim never reads the tasks a running task blocks")
struct BlockedKeyClaimTests {
    /// 300 tasks of one key ahead in queue order, one of them running, and a free task behind them.
    static func blockedQueue(_ f: StoreFixture) async throws -> (blocked: [QueueTask], free: QueueTask) {
        let blocked = (0..<300).map {
            TaskFactory.task("task_generic_action", context: "WS-BLOCK", contextUID: TaskFactory.uid(for: "blocked-\($0)"),
                             created: f.now + Double($0) / 1000, priority: 1)
        }
        let free = TaskFactory.task("task_generic_action", context: "WS-FREE", created: f.now + 1, priority: 10)
        _ = try await f.store.add(blocked + [free], now: f.now)
        return (blocked, free)
    }

    @Test("with one task of a key running, the next pops skip its 299 queued siblings and claim the free task",
          arguments: StoreBackend.available)
    func popsSkipBlockedTasks(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            let (blocked, free) = try await Self.blockedQueue(f)
            let holder = try #require(try await f.store.pop(consumerID: "consumer-a", now: f.now + 2))
            #expect(holder.taskUID == blocked[0].taskUID)
            let single = try #require(try await f.store.pop(consumerID: "consumer-b", now: f.now + 2))
            #expect(single.taskUID == free.taskUID)
            // A batched pop finds nothing else: every queued task is blocked.
            #expect(try await f.store.pop(consumerID: "consumer-c", max: 8, now: f.now + 2).isEmpty)
            // Once the holder is done, the next of the key (in queue order) is claimed.
            _ = try await f.store.done(holder.taskUID, lease: LeaseClaim(consumerID: "consumer-a", leaseToken: holder.leaseToken),
                                       now: f.now + 3)
            let next = try await f.store.pop(consumerID: "consumer-c", max: 8, now: f.now + 3)
            #expect(next.map(\.taskUID) == [blocked[1].taskUID])
        }
    }

    @Test("the stepwise claim's candidate pages hold no blocked task", arguments: StoreBackend.available)
    func candidatePagesLeaveBlockedOut(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            let (blocked, free) = try await Self.blockedQueue(f)
            let holder = try #require(try await f.store.pop(consumerID: "consumer-a", now: f.now + 2))
            #expect(holder.taskUID == blocked[0].taskUID)
            var pages = SQLQueueStore.CandidatePages(now: f.now + 2)
            let running = try await SQLQueueStore.runningTasks(on: try f.store.sql)
            let found = try await pages.first(claimableWith: ClaimRules.serialKeys(of: running), excluding: [], on: try f.store.sql)
            #expect(found?.taskUID == free.taskUID)
            #expect(pages.loaded.count == 1, "candidates read: \(pages.loaded.count)")
            #expect(pages.loaded.first?.taskUID == free.taskUID)
        }
    }
}

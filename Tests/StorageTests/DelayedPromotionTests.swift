import Foundation
import QueueCore
import QueueTesting
import SQLKit
@testable import Storage
import TestSupport
import Testing

/// Delayed tasks and the claims' index of due tasks (``AddReadyTaskIndex``): a delayed task joins it when a claim
/// promotes it (``DelayedTaskWatch``). Part of the store conformance suite: runs on each ``TestSupport/StoreBackend``.
@Suite("Queue store: delayed tasks are promoted into the claims' index when due")
struct DelayedPromotionTests {
    /// Inserts `task` in a transaction of its own, as another process's LIMS action does: the store is not told of it.
    static func insertUnnoted(_ task: QueueTask, into store: SQLQueueStore) async throws {
        try await store.transaction(.rows) { sql in _ = try await SQLQueueStore.insert([task], topPriority: [], on: sql) }
    }

    @Test("a delayed task ahead in queue order is passed over until it is due, and claimed first from that moment",
          arguments: StoreBackend.available)
    func claimedWhenDue(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            let now = f.now
            let delayed = TaskFactory.task("task_generic_action", context: "WS-1", created: now, priority: 0, delay: 30)
            let first = TaskFactory.task("task_generic_action", context: "WS-2", created: now)
            let second = TaskFactory.task("task_generic_action", context: "WS-3", created: now + 1)
            _ = try await f.store.add([delayed, first, second], now: now)
            #expect(try await f.store.pop(consumerID: "consumer-1", now: now + 29.9)?.taskUID == first.taskUID)
            #expect(try await f.store.pop(consumerID: "consumer-2", now: now + 30)?.taskUID == delayed.taskUID)
            #expect(try await f.store.pop(consumerID: "consumer-3", now: now + 30)?.taskUID == second.taskUID)
        }
    }

    @Test("a failed task's retry (delay 5, created now) is claimed when due, not before", arguments: StoreBackend.available)
    func retryClaimedWhenDue(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            let now = f.now
            let task = try await f.add(TaskFactory.task("task_generic_action", context: "WS-1", created: now))
            let claimed = try #require(try await f.store.pop(consumerID: "consumer-1", now: now))
            _ = try await f.store.fail(task.taskUID, message: "boom", lease: LeaseClaim(consumerID: "consumer-1", leaseToken: claimed.leaseToken),
                                       now: now + 1)
            #expect(try await f.store.pop(consumerID: "consumer-1", now: now + 5.9) == nil)
            #expect(try await f.store.pop(consumerID: "consumer-1", now: now + 6)?.taskUID == task.taskUID)
        }
    }

    @Test("a delayed task this store was not told of (another server's, inserted in a transaction) is claimed at most a second after it is due, or when it is due once a long-poll asked for it",
          arguments: StoreBackend.available)
    func unnotedTasks(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            let now = f.now
            #expect(try await f.store.pop(consumerID: "consumer-1", now: now) == nil)
            let unnoted = TaskFactory.task("task_generic_action", context: "WS-1", created: now, delay: 5)
            try await Self.insertUnnoted(unnoted, into: f.store)
            #expect(try await f.store.pop(consumerID: "consumer-1", now: now + 4.5) == nil)
            let claimed = try await f.store.pop(consumerID: "consumer-1", now: now + 5 + f.store.delayedTasks.interval)
            #expect(claimed?.taskUID == unnoted.taskUID)

            // A waiting long-poll asks when the next delayed task is due; the claim at that moment promotes it.
            let asked = TaskFactory.task("task_generic_action", context: "WS-2", created: now + 10, delay: 5)
            try await Self.insertUnnoted(asked, into: f.store)
            #expect(try await f.store.pop(consumerID: "consumer-2", now: now + 14.9) == nil)
            #expect(try await f.store.nextAvailableAt(after: now + 14.9) == now + 15)
            #expect(try await f.store.pop(consumerID: "consumer-2", now: now + 15)?.taskUID == asked.taskUID)
        }
    }

    @Test("a task already due when written (an old created with a delay, a failed task re-queued later) is written in the claims' index, so any server claims it at once",
          arguments: StoreBackend.available)
    func writtenDue(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            let now = f.now
            let old = TaskFactory.task("task_generic_action", context: "WS-1", created: now - 100, delay: 5)
            let later = TaskFactory.task("task_generic_action", context: "WS-2", created: now, delay: 5)
            _ = try await f.store.add([old, later], now: now)
            func availableAt(_ uid: String) async throws -> Double? {
                try await f.store.sql.raw("SELECT available_at FROM queue_tasks WHERE task_uid = \(bind: uid)").first()?
                    .decode(column: "available_at", as: Double.self)
            }
            #expect(try await availableAt(old.taskUID) == now - 100)
            #expect(try await availableAt(later.taskUID) == now + 5)
            // Failed (delay 5 from the failure), then re-queued after its delay: written due.
            let claimed = try #require(try await f.store.pop(consumerID: "consumer-1", now: now))
            #expect(claimed.taskUID == old.taskUID)
            _ = try await f.store.fail(old.taskUID, message: "boom", lease: LeaseClaim(consumerID: "consumer-1", leaseToken: claimed.leaseToken),
                                       now: now + 1)
            #expect(try await availableAt(old.taskUID) == now + 6)
            _ = try await f.store.requeue(old.taskUID, lease: .none, now: now + 10)
            #expect(try await availableAt(old.taskUID) == now + 1)
        }
    }

    @Test("a task created after now without a delay (a client's clock ahead): claimable from its created, and a waiting long-poll is told when",
          arguments: StoreBackend.available)
    func createdAhead(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            let now = f.now
            let ahead = TaskFactory.task("task_generic_action", context: "WS-1", created: now + 2)
            _ = try await f.store.add([ahead], now: now)
            let due = try #require(try await f.store.nextAvailableAt(after: now))
            #expect(due > now + 2 && due < now + 2.001)
            #expect(try await f.store.pop(consumerID: "consumer-1", now: now + 1.9) == nil)
            #expect(try await f.store.pop(consumerID: "consumer-1", now: now + 2)?.taskUID == ahead.taskUID)
        }
    }

    @Test("the watch: due at the first claim, then at the next known due time or a second later, whichever comes first; a note made during a promotion is kept")
    func watch() {
        let watch = DelayedTaskWatch(interval: 1)
        let notes = watch.promotion(now: 100)
        #expect(notes != nil)
        watch.promoted(since: notes!, now: 100, next: 100.5)
        #expect(watch.promotion(now: 100.4) == nil)
        let second = watch.promotion(now: 100.5)
        #expect(second != nil)
        watch.promoted(since: second!, now: 100.5, next: nil)
        #expect(watch.promotion(now: 101.4) == nil)
        #expect(watch.promotion(now: 101.5) != nil)
        // A task noted while a promotion ran (perhaps not seen by it) keeps the next claim's promotion.
        let third = watch.promotion(now: 101.5)!
        watch.note(availableAt: 101.2)
        watch.promoted(since: third, now: 101.5, next: nil)
        #expect(watch.promotion(now: 101.5) != nil)
        watch.invalidate()
        #expect(watch.promotion(now: -1e9) != nil)
    }
}

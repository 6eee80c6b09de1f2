import Foundation
import QueueCore
import QueueTesting
import Storage
import TestSupport
import Testing

/// `nextAvailableAt(after:)`, which a waiting long-poll asks on every turn: the next moment a queued delayed task
/// becomes due. Part of the store conformance suite: runs on each ``TestSupport/StoreBackend``.
@Suite("Queue store: when the next delayed task becomes due")
struct NextDueTests {
    @Test("the earliest due time after now of queued delayed tasks, now for one due but not yet promoted; promoted, undelayed and running tasks do not count",
          arguments: StoreBackend.available)
    func nextDue(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            let now = f.now
            #expect(try await f.store.nextAvailableAt(after: now) == nil)
            var soon = TaskFactory.task("task_generic_action", context: "WS-1", created: now)
            soon.delay = 5
            var later = TaskFactory.task("task_generic_action", context: "WS-2", created: now)
            later.delay = 50
            let plain = TaskFactory.task("task_generic_action", context: "WS-3", created: now)
            _ = try await f.store.add([later, plain, soon], now: now)
            #expect(try await f.store.nextAvailableAt(after: now) == now + 5)
            // Due but not yet in the claims' index (no claim promoted it): due now.
            #expect(try await f.store.nextAvailableAt(after: now + 6) == now + 6)
            // Once a claim promoted it, it no longer counts; claimed (running) it does not either.
            #expect(try await f.store.pop(consumerID: "consumer-0", now: now + 6)?.taskUID == soon.taskUID)
            #expect(try await f.store.nextAvailableAt(after: now + 6) == now + 50)
            let claimed = try await f.store.pop(consumerID: "consumer-1", max: 5, now: now + 60)
            #expect(Set(claimed.map(\.taskUID)) == [later.taskUID, plain.taskUID])
            #expect(try await f.store.nextAvailableAt(after: now) == nil)
        }
    }
}

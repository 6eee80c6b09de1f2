import Foundation
import QueueCore
import QueueTesting
import SQLKit
@testable import Storage
import TestSupport
import Testing

/// Claims hand back their rows undecoded and the requester decodes them (``ClaimedTaskRow``); adds arrive with their
/// bodies encoded (``StagedTask``). Part of the conformance suite: each test runs on each ``TestSupport/StoreBackend``.
@Suite("Queue store: claimed rows decoded by the requester, added bodies encoded before the writer")
struct ClaimedTaskRowTests {
    @Test("a batched pop's and a done-and-pop's tasks are the stored tasks, extra members and all; the stored body is the one the insert would encode",
          arguments: StoreBackend.available)
    func claimedAsStored(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            var first = TaskFactory.task("task_generic_action", context: "WS-1", created: f.now - 2)
            first.extra["lab_note"] = .string("Café ✓ (composed)")
            first.extra["weights"] = .array([.int(5), .double(1.5), .null])
            first.uids = ["uid-a", "uid-b"]
            let second = TaskFactory.task("task_generic_action", context: "WS-2", created: f.now - 1)
            _ = try await f.store.add([first, second], now: f.now)
            let sql = try #require(f.store.database as? any SQLDatabase)
            let body = try #require(try await sql.raw("SELECT body FROM queue_tasks WHERE task_uid = \(bind: first.taskUID)").first()?
                .decode(column: "body", as: String.self))
            #expect(body == (try SQLQueueStore.encodeBody(first)))

            let claimed = try await f.store.pop(consumerID: "consumer-1", max: 1, now: f.now)
            let stored = try #require(try await f.store.task(first.taskUID))
            #expect(claimed == [stored])
            #expect(claimed.first?.extra == first.extra && claimed.first?.uids == first.uids)
            #expect(stored.status == .running && stored.consumerID == "consumer-1" && stored.leaseToken != nil)

            let lease = LeaseClaim(consumerID: "consumer-1", leaseToken: stored.leaseToken)
            let (done, next) = try await f.store.doneAndPop(first.taskUID, lease: lease, consumerID: "consumer-1", now: f.now)
            #expect(done.taskUID == first.taskUID)
            #expect(next == (try await f.store.task(second.taskUID)))
        }
    }

    @Test("a queued body that does not decode (changed by hand) fails the pop that claims it and no other: the task stays running under its lease, the next pop takes the next task",
          arguments: StoreBackend.available)
    func undecodableBodyFailsItsPopOnly(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            let broken = TaskFactory.task("task_generic_action", context: "WS-1", created: f.now - 2)
            let fine = TaskFactory.task("task_generic_action", context: "WS-2", created: f.now - 1)
            _ = try await f.store.add([broken, fine], now: f.now)
            let sql = try #require(f.store.database as? any SQLDatabase)
            try await sql.raw("UPDATE queue_tasks SET body = 'not json' WHERE task_uid = \(bind: broken.taskUID)").run()
            await #expect(throws: (any Error).self) { try await f.store.pop(consumerID: "consumer-1", now: f.now) }
            let status = try await sql.raw("SELECT status, consumer_id FROM queue_tasks WHERE task_uid = \(bind: broken.taskUID)").first()
            #expect(try status?.decode(column: "status", as: String.self) == "running")
            #expect(try status?.decode(column: "consumer_id", as: String?.self) == "consumer-1")
            #expect(try await f.store.pop(consumerID: "consumer-2", now: f.now)?.taskUID == fine.taskUID)
        }
    }
}

import Foundation
import QueueCore
import QueueTesting
@testable import Storage
import TestSupport
import Testing

/// Deleting and re-queuing many tasks in few transactions (`limsqueue delete --name X`, `limsqueue requeue --status
/// failed`). Part of the store conformance suite: runs on each ``TestSupport/StoreBackend``.
@Suite("Queue store: deleting and re-queuing many tasks at once")
struct OperatorBatchTests {
    @Test("each target as its own delete would be: deleted, status changed, unknown, given twice; running ones recorded as interrupted",
          arguments: StoreBackend.available)
    func eachAsAlone(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            let queued = TaskFactory.task("noop", context: "WS-1", created: f.now, priority: 20)
            let running = TaskFactory.task("noop", context: "WS-2", created: f.now + 1)
            let forced = TaskFactory.task("other", context: "WS-3", created: f.now + 2)
            _ = try await f.store.add([queued, running, forced], now: f.now)
            _ = try await f.store.pop(consumerID: "consumer-1", now: f.now + 3)
            _ = try await f.store.pop(consumerID: "consumer-2", now: f.now + 3)
            let unknown = TaskUID.make()
            let waiting: Set<TaskStatus> = [.queued, .failed]
            let results = try await f.store.delete([(queued.taskUID, waiting), (running.taskUID, waiting), (unknown, nil),
                                                    (forced.taskUID, nil), (queued.taskUID, waiting)], now: f.now + 4)
            #expect(try results[0].get().taskUID == queued.taskUID)
            #expect((try? results[1].get()) == nil)
            #expect(throws: TaskStatusChanged.self) { try results[1].get() }
            #expect(throws: QueueError.self) { try results[2].get() }
            #expect(try results[3].get().status == .running)
            #expect(throws: QueueError.self) { try results[4].get() }
            #expect(try await f.store.task(queued.taskUID) == nil)
            #expect(try await f.store.task(forced.taskUID) == nil)
            #expect(try await f.store.task(running.taskUID)?.status == .running)
            let history = try await f.store.history(since: 0, limit: 10)
            #expect(history.map(\.taskUID) == [forced.taskUID])
            #expect(history.first?.outcome == .interrupted)
        }
    }

    @Test("more targets than one transaction takes: every one re-queued, then every one deleted, in order", arguments: StoreBackend.available)
    func manyChunks(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            let count = SQLQueueStore.deleteChunk * 2 + 3
            let tasks = (0..<count).map { TaskFactory.task("noop", context: "S-\($0)", created: f.now + Double($0) / 1_000) }
            _ = try await f.store.add(tasks, now: f.now)
            let requeued = try await f.store.requeue(tasks.map { ($0.taskUID, [TaskStatus.queued]) }, now: f.now)
            #expect(try requeued.map { try $0.get().taskUID } == tasks.map(\.taskUID))
            let results = try await f.store.delete(tasks.map { ($0.taskUID, [TaskStatus.queued]) }, now: f.now)
            #expect(try results.map { try $0.get().taskUID } == tasks.map(\.taskUID))
            #expect(try await f.store.tasks(status: Set(TaskStatus.allCases), since: nil).isEmpty)
        }
    }

    @Test("requeue: each target as its own requeue would be: failed ones back with retries reset, a running one refused while spared, taken back when not, unknown ones refused",
          arguments: StoreBackend.available)
    func requeueEachAsAlone(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            let failing = TaskFactory.task("noop", context: "WS-1", created: f.now, retries: 0)
            let running = TaskFactory.task("noop", context: "WS-2", created: f.now + 1)
            _ = try await f.store.add([failing, running], now: f.now)
            let first = try #require(try await f.store.pop(consumerID: "consumer-1", now: f.now + 2))
            _ = try await f.store.fail(failing.taskUID, message: "boom", lease: LeaseClaim(consumerID: "consumer-1", leaseToken: first.leaseToken),
                                       now: f.now + 3)
            #expect(try await f.store.task(failing.taskUID)?.status == .failed)
            _ = try await f.store.pop(consumerID: "consumer-2", now: f.now + 4)
            let settings = try await f.store.settings()
            let spared: Set<TaskStatus> = [.queued, .failed]
            let results = try await f.store.requeue([(failing.taskUID, spared), (running.taskUID, spared), (TaskUID.make(), nil)],
                                                    now: f.now + 5)
            #expect(try results[0].get().status == .queued)
            #expect(try results[0].get().retries == settings.maxRetries)
            #expect(throws: TaskStatusChanged.self) { try results[1].get() }
            #expect(throws: QueueError.self) { try results[2].get() }
            #expect(try await f.store.task(running.taskUID)?.status == .running)
            let forced = try await f.store.requeue([(running.taskUID, nil)], now: f.now + 6)
            #expect(try forced[0].get().status == .queued)
            let history = try await f.store.history(since: 0, limit: 10)
            #expect(history.contains { $0.taskUID == running.taskUID && $0.outcome == .interrupted })
        }
    }
}

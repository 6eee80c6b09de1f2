import Foundation
import QueueCore
import QueueTesting
import Storage
import TestSupport
import Testing

/// ``QueueCore/QueueStore/taskKeys(status:)`` and ``QueueCore/QueueStore/tasks(uids:)``, what `diff` reads instead
/// of every task whole. Part of the store conformance suite.
@Suite("Queue store: task keys and tasks by uid")
struct TaskKeysTests {
    @Test("keys come in the order of the task list, with status and ghost flag; tasks by uid find what exists",
          arguments: StoreBackend.available)
    func keysMatchTasks(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            var tasks = (0..<700).map { index in
                TaskFactory.task("task_generic_action", context: "WS-\(index)", created: f.now + Double(index % 50),
                                 priority: [10, 1, 50][index % 3])
            }
            for index in stride(from: 0, to: tasks.count, by: 7) { tasks[index].ghost = true }
            _ = try await f.store.add(tasks, now: f.now)
            _ = try await f.store.pop(consumerID: "consumer-1", max: 3, now: f.now + 60)
            let statuses: Set<TaskStatus> = [.queued, .running]
            let whole = try await f.store.tasks(status: statuses, since: nil)
            let keys = try await f.store.taskKeys(status: statuses)
            #expect(keys.map(\.taskUID) == whole.map(\.taskUID))
            #expect(keys.map(\.status) == whole.map { $0.status ?? .queued })
            #expect(keys.map(\.ghost) == whole.map(\.ghost))
            #expect(keys.filter { $0.status == .running }.count == 3)
            // More than one statement's worth of uids, in upper case, with unknown ones.
            let asked = whole.map { $0.taskUID.uppercased() } + [TaskUID.make(), "not-a-task"]
            let found = try await f.store.tasks(uids: asked)
            #expect(found.count == whole.count)
            for task in whole { #expect(found[task.taskUID] == task) }
            #expect(try await f.store.taskKeys(status: []).isEmpty)
            #expect(try await f.store.tasks(uids: []).isEmpty)
        }
    }
}

import Foundation
import QueueCore
import QueueTesting
import SQLKit
import Storage
import TestSupport
import Testing

/// The queue store conformance suite: senaite.queue's ServerQueueUtility scenarios (reference section 2) on each
/// ``TestSupport/StoreBackend`` (the backend is the test argument; PostgreSQL cases are skipped with the reason
/// unless `LIMSQUEUE_TEST_POSTGRES_URL` is set), with the clock injected so that nothing sleeps.
@Suite("Queue store conformance (SQLite and PostgreSQL)")
struct StoreTests {
    @Test("add: duplicate uid ignored; same name+context accepted; unique rejected while one is queued", arguments: StoreBackend.available)
    func addRules(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            let task = TaskFactory.task(created: f.now)
            let added = try await f.add(task)
            #expect(added.status == .queued)
            #expect(try await f.store.add([task], now: f.now) == [.duplicate])
            let same = TaskFactory.task(created: f.now)
            #expect(try await f.store.add([same], now: f.now) == [.added])
            let unique = TaskFactory.task(created: f.now, unique: true)
            #expect(try await f.store.add([unique], now: f.now) == [.notUnique])
            #expect(try await f.store.tasks(status: [.queued, .running], since: nil).count == 2)
        }
    }

    @Test("object uids: a task's context is found without a row of its own in queue_task_uids; the migration drops and revert restores those rows", arguments: StoreBackend.available)
    func leanTaskUIDs(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            guard let sql = f.store.database as? any SQLDatabase else { Issue.record("not an SQL database"); return }
            func contextRows() async throws -> Int {
                try await sql.raw("""
                    SELECT COUNT(*) AS n FROM queue_task_uids u JOIN queue_tasks t ON t.task_uid = u.task_uid
                    WHERE u.uid = t.context_uid
                    """).first()?.decode(column: "n", as: Int.self) ?? -1
            }
            let sample = TaskFactory.uid(for: "sample-1")
            let withUIDs = try await f.add(TaskFactory.task(context: "WS-0001", created: f.now, uids: [sample]))
            let plain = try await f.add(TaskFactory.task(context: "WS-0002", created: f.now))
            // A task whose uids repeat its own context.
            let selfListed = try await f.add(TaskFactory.task(context: "WS-0003", created: f.now, uids: [TaskFactory.uid(for: "WS-0003")]))
            let own = selfListed
            func answers() async throws -> [String] {
                var lines: [String] = []
                lines.append("all: \(try await f.store.objectUIDs(status: [.queued]).sorted())")
                for uid in [sample, withUIDs.contextUID, plain.contextUID, own.contextUID, "other"] {
                    lines.append("\(uid): \(try await f.store.objectUIDs(status: [.queued], among: [uid]).sorted()) "
                                 + "\(try await f.store.tasks(for: uid, name: nil).map(\.taskUID).sorted())")
                }
                return lines
            }
            let expected = try await answers()
            #expect(try await contextRows() == 0, "no row for a task's own context")
            #expect(try await f.store.objectUIDs(status: [.queued]) == [sample, withUIDs.contextUID, plain.contextUID, own.contextUID])
            #expect(try await f.store.tasks(for: own.contextUID, name: nil).map(\.taskUID) == [selfListed.taskUID])
            #expect(try await f.store.tasks(for: plain.contextUID, name: nil).map(\.taskUID) == [plain.taskUID])
            // A database of schema 6 held the context rows.
            try await LeanTaskUIDs().revert(on: f.store.database)
            #expect(try await contextRows() == 3)
            #expect(try await answers() == expected)
            try await LeanTaskUIDs().prepare(on: f.store.database)
            #expect(try await contextRows() == 0)
            #expect(try await answers() == expected)
            // Done: the task's rows go with it.
            _ = try await f.store.delete(withUIDs.taskUID, now: f.now)
            #expect(try await f.store.objectUIDs(status: [.queued], among: [sample, withUIDs.contextUID]).isEmpty)
        }
    }

    @Test("a user's tasks by status, newest first, read by the username column; a migrated database fills it from the bodies", arguments: StoreBackend.available)
    func tasksOfUser(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            for index in 0..<24 {
                var task = TaskFactory.task(["task_a", "task_b"][index % 2], context: "WS-\(index)", created: f.now + Double(index % 9),
                                            retries: 0, username: ["analyst1", "labman1", "analyst2"][index % 3])
                task.ghost = index % 5 == 0
                _ = try await f.add(task)
            }
            for index in 0..<10 {
                guard let popped = try await f.store.pop(consumerID: "consumer-\(index)", now: f.now + 20) else { continue }
                if index % 2 == 0 { _ = try await f.store.fail(popped.taskUID, message: "no", lease: .none, now: f.now + 21, retry: false) }
            }
            func answers() async throws -> [String] {
                var lines: [String] = []
                let all = try await f.store.tasks(status: Set(TaskStatus.allCases), since: nil)
                for user in ["analyst1", "labman1", "analyst2", "nobody"] {
                    for status in [Set(TaskStatus.allCases), [.failed], [.queued, .running], [.running]] as [Set<TaskStatus>] {
                        let actual = try await f.store.tasks(username: user, status: status, offset: 0, limit: nil)
                        let expected = all.filter { $0.username == user && status.contains($0.status ?? .queued) }
                        #expect(try await f.store.taskCount(username: user, status: status) == expected.count)
                        #expect(try await f.store.tasks(username: user, status: status, offset: 0, limit: 2) == Array(actual.prefix(2)))
                        #expect(try await f.store.tasks(username: user, status: status, offset: 1, limit: 2) == Array(actual.dropFirst(1).prefix(2)))
                        #expect(try await f.store.tasks(username: user, status: status, offset: 3, limit: nil) == Array(actual.dropFirst(3)))
                        #expect(Set(actual.map(\.taskUID)) == Set(expected.map(\.taskUID)) && actual.count == expected.count, "\(user) \(status)")
                        #expect(actual.map(\.created) == actual.map(\.created).sorted(by: >), "newest first")
                        lines.append("\(user) \(status.map(\.rawValue).sorted()): \(actual.map(\.taskUID))")
                    }
                }
                #expect(Set(all.compactMap(\.status)) == Set(TaskStatus.allCases))
                return lines
            }
            let expected = try await answers()
            // A database of schema 7 had no username column: the migration fills it from the stored bodies.
            try await AddTaskUsername().revert(on: f.store.database)
            try await AddTaskUsername().prepare(on: f.store.database)
            #expect(try await answers() == expected)
        }
    }

    @Test("a database migrated by a newer version is refused, naming the unknown migration", arguments: StoreBackend.available)
    func newerSchemaRefused(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            guard let sql = f.store.database as? any SQLDatabase else { Issue.record("not an SQL database"); return }
            try await StorageMigrations.requireKnownSchema(f.store.database)
            try await sql.raw("""
                INSERT INTO _fluent_migrations (id, name, batch, created_at, updated_at)
                VALUES (\(bind: UUID()), 'limsqueue-9999-from-the-future', 99, NULL, NULL)
                """).run()
            do {
                try await StorageMigrations.requireKnownSchema(f.store.database)
                Issue.record("a newer schema was accepted")
            } catch let error as StorageError {
                #expect(error.description.contains("limsqueue-9999-from-the-future"), "\(error)")
            }
            try await sql.raw("DELETE FROM _fluent_migrations WHERE name = 'limsqueue-9999-from-the-future'").run()
            try await StorageMigrations.requireKnownSchema(f.store.database)
        }
    }

    @Test("unique ignores running and failed tasks (#17)", arguments: StoreBackend.available)
    func uniqueIgnoresRunning(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            try await f.add(TaskFactory.task(created: f.now))
            _ = try await f.store.pop(consumerID: "http://nohost", now: f.now)
            #expect(try await f.store.add([TaskFactory.task(created: f.now, unique: true)], now: f.now) == [.added])
        }
    }

    @Test("delete, get, status filters, tasks for an object, object uids", arguments: StoreBackend.available)
    func reads(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            let sample = TaskFactory.uid(for: "sample-1")
            let task = try await f.add(TaskFactory.task(created: f.now, uids: [sample, sample]))
            #expect(try await f.store.task(task.taskUID) == task)
            #expect(try await f.store.task(TaskUID.make()) == nil)
            #expect(try await f.store.tasks(status: [.queued], since: nil).count == 1)
            #expect(try await f.store.tasks(status: [.running], since: nil).isEmpty)
            #expect(try await f.store.tasks(status: [.queued], since: f.now).isEmpty)
            #expect(try await f.store.tasks(status: [.queued], since: f.now - 1).count == 1)
            #expect(try await f.store.tasks(for: sample, name: nil).map(\.taskUID) == [task.taskUID])
            #expect(try await f.store.tasks(for: task.contextUID, name: "task_action_submit").count == 1)
            #expect(try await f.store.tasks(for: task.contextUID, name: "other").isEmpty)
            #expect(try await f.store.tasks(for: task.taskUID, name: nil).isEmpty)
            #expect(try await f.store.objectUIDs(status: [.queued, .running]) == [sample, task.contextUID])
            // The guards' question, for the objects a unit of work holds.
            #expect(try await f.store.objectUIDs(status: [.queued, .running], among: [sample, "other", sample]) == [sample])
            #expect(try await f.store.objectUIDs(status: [.queued], among: [task.contextUID]) == [task.contextUID])
            #expect(try await f.store.objectUIDs(status: [.failed], among: [sample, task.contextUID]).isEmpty)
            #expect(try await f.store.objectUIDs(status: [.queued, .running], among: []).isEmpty)
            #expect(try await f.store.sinceTime() == f.now)
            _ = try await f.store.delete(task.taskUID, now: f.now)
            #expect(try await f.store.task(task.taskUID) == nil)
            #expect(try await f.store.sinceTime() == -1)
            await #expect(throws: QueueError.self) { try await f.store.delete(task.taskUID, now: f.now) }
        }
    }

    @Test("object uids that differ only in Unicode normalization are indexed and found each as given (String equality merged them)",
          arguments: StoreBackend.available)
    func uidsByBytes(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            let composed = "sample-caf\u{E9}", decomposed = "sample-cafe\u{301}"
            let both = try await f.add(TaskFactory.task(context: "WS-1", created: f.now, uids: [composed, decomposed]))
            let onlyDecomposed = try await f.add(TaskFactory.task(context: "WS-2", created: f.now, uids: [decomposed]))
            #expect(try await f.store.tasks(for: composed, name: nil).map(\.taskUID) == [both.taskUID])
            #expect(try await f.store.tasks(for: decomposed, name: nil).map(\.taskUID).sorted()
                    == [both.taskUID, onlyDecomposed.taskUID].sorted())
            // Listed each as stored (the queue's `uids` route), in UTF-8 byte order.
            let listed: [[UInt8]] = try await f.store.objectUIDList(status: [.queued]).map { Array($0.utf8) }
            let forms: Set<[UInt8]> = [Array(composed.utf8), Array(decomposed.utf8)]
            let listedForms = listed.filter { forms.contains($0) }
            #expect(listedForms.count == 2, "\(listed)")
            let inByteOrder: [[UInt8]] = listed.sorted { $0.lexicographicallyPrecedes($1) }
            #expect(listed == inByteOrder)
            _ = try await f.store.delete(both.taskUID, now: f.now)
            // Asked about both forms at once, each form is probed: the decomposed one is still queued.
            let queued = try await f.store.objectUIDs(status: [.queued], among: [composed, decomposed])
            #expect(queued.count == 1 && queued.first.map { Array($0.utf8) == Array(decomposed.utf8) } == true, "\(queued)")
        }
    }

    @Test("pop: running; a second pop by the same consumer gets nothing; after 10 s it is purged, retried after 5 s", arguments: StoreBackend.available)
    func popAndPurge(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            let first = try await f.add(TaskFactory.task(context: "WS-1", created: f.now))
            f.clock.advance(by: 1)
            let second = try await f.add(TaskFactory.task(context: "WS-2", created: f.now))
            let popped = try #require(try await f.store.pop(consumerID: "http://nohost", now: f.now))
            #expect(popped.taskUID == first.taskUID)
            #expect(popped.status == .running && popped.consumerID == "http://nohost" && popped.started == f.now)
            #expect(popped.leaseToken?.count == 32)
            #expect(try await f.store.pop(consumerID: "http://nohost", now: f.now) == nil)
            #expect(try await f.store.pop(consumerID: "http://nohost", now: f.now + 5) == nil)
            f.clock.advance(by: 11)
            #expect(try await f.store.pop(consumerID: "http://nohost", now: f.now) == nil)
            let purged = try #require(try await f.store.task(first.taskUID))
            #expect(purged.status == .queued)
            #expect(purged.errorMessage == "Purged on pop (http://nohost)")
            #expect(purged.delay == 5 && purged.retries == 2)
            let next = try #require(try await f.store.pop(consumerID: "http://nohost", now: f.now))
            #expect(next.taskUID == second.taskUID)
            _ = try await f.store.done(next.taskUID, lease: .none, now: f.now)
            #expect(try await f.store.pop(consumerID: "http://nohost", now: f.now + 4) == nil)
            #expect(try await f.store.pop(consumerID: "http://nohost", now: f.now + 5)?.taskUID == first.taskUID)
        }
    }

    @Test("timeout: back to queued with error 'Timeout' and max_seconds grown", arguments: StoreBackend.available)
    func timeout(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            let task = try await f.add(TaskFactory.task(created: f.now))
            _ = try await f.store.pop(consumerID: "consumer-1", now: f.now)
            let timedOut = try await f.store.timeout(task.taskUID, lease: .none, now: f.now)
            #expect(timedOut.status == .queued && timedOut.errorMessage == "Timeout" && timedOut.maxSeconds == 180)
            #expect(try await f.store.history(since: 0, limit: 10).map(\.outcome) == [.timeout])
        }
    }

    @Test("fail: retries 3 -> 2 -> 1 -> 0, then failed and never popped again", arguments: StoreBackend.available)
    func failures(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            let task = try await f.add(TaskFactory.task(created: f.now))
            var retries: [Int] = []
            for _ in 0..<3 {
                let popped = try #require(try await f.store.pop(consumerID: "consumer-1", now: f.now))
                let failed = try await f.store.fail(popped.taskUID, message: "boom", lease: .none, now: f.now)
                retries.append(failed.retries)
                #expect(failed.status == .queued)
                #expect(try await f.store.pop(consumerID: "consumer-1", now: f.now) == nil) // 5 s delay
                f.clock.advance(by: 5)
            }
            #expect(retries == [2, 1, 0])
            let last = try #require(try await f.store.pop(consumerID: "consumer-1", now: f.now))
            let failed = try await f.store.fail(last.taskUID, message: "final", lease: .none, now: f.now)
            #expect(failed.status == .failed && failed.retries == 0)
            f.clock.advance(by: 60)
            #expect(try await f.store.pop(consumerID: "consumer-1", now: f.now) == nil)
            #expect(try await f.store.tasks(status: [.failed], since: nil).map(\.taskUID) == [task.taskUID])
            let outcomes = try await f.store.history(since: 0, limit: 10).map(\.outcome)
            #expect(outcomes.filter { $0 == .retried }.count == 3 && outcomes.contains(.failed))
        }
    }

    @Test("done: the task leaves the queue for the history", arguments: StoreBackend.available)
    func done(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            let task = try await f.add(TaskFactory.task(created: f.now))
            await #expect(throws: QueueError(.notRunning, "Task is not running")) {
                try await f.store.done(task.taskUID, lease: .none, now: f.now)
            }
            let popped = try #require(try await f.store.pop(consumerID: "consumer-1", now: f.now))
            f.clock.advance(by: 2)
            _ = try await f.store.done(task.taskUID, lease: .none, now: f.now)
            #expect(try await f.store.task(task.taskUID) == nil)
            // Every field as the task ran (PostgreSQL writes the entry in the done's statement, SQLite in a second one).
            #expect(try await f.store.history(since: 0, limit: 10) == [
                HistoryEntry(taskUID: task.taskUID, name: task.name, contextPath: task.contextPath, username: task.username,
                             consumerID: "consumer-1", outcome: .done, errorMessage: nil, created: task.created,
                             started: popped.started, finished: f.now),
            ])
            await #expect(throws: QueueError.self) { try await f.store.done(task.taskUID, lease: .none, now: f.now) }
        }
    }

    @Test("done and pop in one transaction: the consumer's slot is freed first; a refused done claims nothing", arguments: StoreBackend.available)
    func doneAndPop(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            let first = try await f.add(TaskFactory.task(context: "WS-1", created: f.now))
            let second = try await f.add(TaskFactory.task(context: "WS-1", created: f.now + 1))
            let popped = try #require(try await f.store.pop(consumerID: "consumer-1", now: f.now + 2))
            #expect(popped.taskUID == first.taskUID)
            let stale = LeaseClaim(consumerID: "consumer-1", leaseToken: "not-the-token")
            await #expect { _ = try await f.store.doneAndPop(first.taskUID, lease: stale, consumerID: "consumer-1", now: f.now + 2) }
                throws: { ($0 as? QueueError)?.code == .leaseLost }
            #expect(try await f.store.task(second.taskUID)?.status == .queued) // nothing claimed
            let lease = LeaseClaim(consumerID: "consumer-1", leaseToken: popped.leaseToken)
            let (done, next) = try await f.store.doneAndPop(first.taskUID, lease: lease, consumerID: "consumer-1", now: f.now + 3)
            #expect(done.taskUID == first.taskUID)
            // Same name and context as the finished task: claimable only because the done ran first.
            #expect(next?.taskUID == second.taskUID && next?.consumerID == "consumer-1")
            let (_, none) = try await f.store.doneAndPop(second.taskUID, lease: LeaseClaim(consumerID: "consumer-1", leaseToken: next?.leaseToken),
                                                         consumerID: "consumer-1", now: f.now + 4)
            #expect(none == nil)
            #expect(try await f.store.history(since: 0, limit: 5).map(\.outcome) == [.done, .done])
        }
    }

    @Test("order: top-priority list, then created + 300 x priority, and kept after fail/requeue", arguments: StoreBackend.available)
    func ordering(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            let low = try await f.add(TaskFactory.task("task_generic_action", context: "WS-1", created: f.now, priority: 10))
            let urgent = try await f.add(TaskFactory.task("task_generic_action", context: "WS-2", created: f.now + 200, priority: 9))
            let top = try await f.add(TaskFactory.task("task_action_verify", context: "WS-3", created: f.now + 9000, priority: 50))
            let order = try await f.store.tasks(status: [.queued], since: nil).map(\.taskUID)
            #expect(order == [top.taskUID, urgent.taskUID, low.taskUID])
            // The order holds after a failure (the original only re-sorted on add).
            let popped = try #require(try await f.store.pop(consumerID: "consumer-1", now: f.now + 10_000))
            #expect(popped.taskUID == top.taskUID)
            _ = try await f.store.fail(popped.taskUID, message: "x", lease: .none, now: f.now + 10_000)
            let after = try await f.store.tasks(status: [.queued], since: nil).map(\.taskUID)
            #expect(after.first == top.taskUID) // still top-priority by name
            // Changing the top-priority list re-ranks queued tasks.
            var settings = try await f.store.settings()
            settings.topPriorityTasks = []
            try await f.store.updateSettings(settings)
            #expect(try await f.store.tasks(status: [.queued], since: nil).map(\.taskUID) == [urgent.taskUID, low.taskUID, top.taskUID])
        }
    }

    @Test("no two tasks of one name on one context run at once; max concurrent holds", arguments: StoreBackend.available)
    func serialization(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            // Names outside the top-priority list, so that creation time alone orders them.
            let a = try await f.add(TaskFactory.task("task_generic_action", context: "WS-1", created: f.now))
            let b = try await f.add(TaskFactory.task("task_generic_action", context: "WS-1", created: f.now + 1))
            let c = try await f.add(TaskFactory.task("task_reindex_object_security", context: "WS-1", created: f.now + 2))
            let d = try await f.add(TaskFactory.task("task_generic_action", context: "WS-2", created: f.now + 3))
            let e = try await f.add(TaskFactory.task("task_generic_action", context: "WS-3", created: f.now + 4))
            var settings = try await f.store.settings()
            settings.maxConsumers = 3
            try await f.store.updateSettings(settings)
            let now = f.now + 10
            #expect(try await f.store.pop(consumerID: "consumer-1", now: now)?.taskUID == a.taskUID)
            #expect(try await f.store.pop(consumerID: "consumer-2", now: now)?.taskUID == c.taskUID)
            #expect(try await f.store.pop(consumerID: "consumer-3", now: now)?.taskUID == d.taskUID)
            #expect(try await f.store.pop(consumerID: "consumer-4", now: now) == nil) // 3 running: saturated
            _ = try await f.store.done(a.taskUID, lease: .none, now: now)
            #expect(try await f.store.pop(consumerID: "consumer-4", now: now)?.taskUID == b.taskUID)
            _ = try await f.store.done(c.taskUID, lease: .none, now: now)
            #expect(try await f.store.pop(consumerID: "consumer-5", now: now)?.taskUID == e.taskUID)
        }
    }

    @Test("leases: an expired lease is timed out on the next pop; the old holder's done is refused (409)", arguments: StoreBackend.available)
    func leases(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            let task = try await f.add(TaskFactory.task(created: f.now, maxSeconds: 60))
            let first = try #require(try await f.store.pop(consumerID: "consumer-1", now: f.now))
            // Virtual time: at exactly max_seconds the lease still holds (it ends when the clock passes it).
            f.clock.advance(by: 60)
            #expect(try await f.store.pop(consumerID: "consumer-2", now: f.now) == nil)
            let held = try #require(try await f.store.task(task.taskUID))
            #expect(held.status == .running && held.leaseToken == first.leaseToken && held.errorMessage == nil)
            f.clock.advance(by: 1)
            // Another consumer pops: the lease has ended, the task is timed out (5 s retry delay).
            #expect(try await f.store.pop(consumerID: "consumer-2", now: f.now) == nil)
            let expired = try #require(try await f.store.task(task.taskUID))
            #expect(expired.status == .queued && expired.errorMessage == "Timeout" && expired.maxSeconds == 90)
            f.clock.advance(by: 5)
            let second = try #require(try await f.store.pop(consumerID: "consumer-2", now: f.now))
            #expect(second.leaseToken != first.leaseToken)
            let stale = LeaseClaim(consumerID: first.consumerID, leaseToken: first.leaseToken)
            for attempt in 0..<3 {
                await #expect {
                    switch attempt {
                    case 0: _ = try await f.store.done(task.taskUID, lease: stale, now: f.now)
                    case 1: _ = try await f.store.fail(task.taskUID, message: "x", lease: stale, now: f.now)
                    default: _ = try await f.store.timeout(task.taskUID, lease: stale, now: f.now)
                    }
                } throws: { ($0 as? QueueError)?.code == .leaseLost }
            }
            #expect(try await f.store.task(task.taskUID)?.leaseToken == second.leaseToken) // nothing changed
            let fresh = LeaseClaim(consumerID: second.consumerID, leaseToken: second.leaseToken)
            _ = try await f.store.done(task.taskUID, lease: fresh, now: f.now)
            await #expect { _ = try await f.store.done(task.taskUID, lease: fresh, now: f.now) } throws: {
                ($0 as? QueueError)?.code == .leaseLost
            }
        }
    }

    @Test("requeue: any status back to queued with retries reset; a release needs the holder's lease", arguments: StoreBackend.available)
    func requeue(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            let task = try await f.add(TaskFactory.task(created: f.now, retries: 0))
            let popped = try #require(try await f.store.pop(consumerID: "consumer-1", now: f.now))
            _ = try await f.store.fail(task.taskUID, message: "x", lease: .none, now: f.now)
            let requeued = try await f.store.requeue(task.taskUID, lease: .none, now: f.now)
            #expect(requeued.status == .queued && requeued.retries == 3 && requeued.errorMessage == "x")
            await #expect { _ = try await f.store.requeue(task.taskUID, lease: LeaseClaim(leaseToken: popped.leaseToken), now: f.now) }
                throws: { ($0 as? QueueError)?.code == .leaseLost }
            await #expect { _ = try await f.store.requeue(TaskUID.make(), lease: .none, now: f.now) }
                throws: { ($0 as? QueueError)?.code == .notFound }
        }
    }

    @Test("release: a claimed task goes back queued with its retries kept, claimable again; only under its own lease", arguments: StoreBackend.available)
    func release(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            let task = try await f.add(TaskFactory.task(created: f.now, retries: 1))
            let popped = try #require(try await f.store.pop(consumerID: "consumer-1", now: f.now))
            let lease = LeaseClaim(consumerID: popped.consumerID, leaseToken: popped.leaseToken)
            await #expect { _ = try await f.store.release(task.taskUID, lease: LeaseClaim(consumerID: "consumer-1", leaseToken: "other"), now: f.now) }
                throws: { ($0 as? QueueError)?.code == .leaseLost }
            let released = try await f.store.release(task.taskUID, lease: lease, now: f.now)
            #expect(released.status == .queued && released.retries == 1 && released.consumerID == nil && released.leaseToken == nil)
            #expect(try await f.store.task(task.taskUID)?.status == .queued)
            await #expect { _ = try await f.store.release(task.taskUID, lease: lease, now: f.now) }
                throws: { ($0 as? QueueError)?.code == .leaseLost }
            #expect(try await f.store.pop(consumerID: "consumer-2", now: f.now)?.taskUID == task.taskUID)
        }
    }

    @Test("tasks, settings and history survive a restart", arguments: StoreBackend.available)
    func restart(backend: StoreBackend) async throws {
        let f = try await StoreFixture.make(backend: backend)
        let task = try await f.add(TaskFactory.task(created: f.now))
        var settings = try await f.store.settings()
        settings.chunkSize = 5
        try await f.store.updateSettings(settings)
        let key = try await f.store.authKey { "generated-key" }
        let g = try await f.reopened()
        #expect(try await g.store.task(task.taskUID) == task)
        #expect(try await g.store.settings().chunkSize == 5)
        #expect(try await g.store.authKey { "another" } == key)
        await g.close()
    }

    @Test("history is pruned after history_days", arguments: StoreBackend.available)
    func pruning(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            let task = try await f.add(TaskFactory.task(created: f.now))
            _ = try await f.store.pop(consumerID: "consumer-1", now: f.now)
            _ = try await f.store.done(task.taskUID, lease: .none, now: f.now)
            #expect(try await f.store.pruneHistory(now: f.now + 6 * 86_400) == 0)
            #expect(try await f.store.pruneHistory(now: f.now + 7 * 86_400 + 1) == 1)
        }
    }

    @Test("queue statistics aggregated by the database equal the history's summary, for a whole and a partial window", arguments: StoreBackend.available)
    func kindStatistics(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            let clock = try await Self.mixedWork(f)
            for since in [0, f.now + (clock - f.now) / 2] {
                let expected = TaskKindStatistics.summarize(try await f.store.history(since: since, limit: 10_000))
                let actual = try await f.store.kindStatistics(since: since)
                #expect(actual.map(\.name) == expected.map(\.name) && !actual.isEmpty)
                for (a, e) in zip(actual, expected) {
                    #expect(a.processed == e.processed && a.failed == e.failed && a.retried == e.retried, "\(a) \(e)")
                    #expect(a.waitP95 == e.waitP95 && a.runP95 == e.runP95, "\(a) \(e)")
                    #expect(abs(a.waitMean - e.waitMean) < 1e-9 && abs(a.runMean - e.runMean) < 1e-9, "\(a) \(e)")
                }
            }
            let counts = try await f.store.counts(ghosts: true)
            #expect(counts[.failed, default: 0] + counts[.queued, default: 0] == (try await f.store.tasks(status: [.queued, .failed], since: nil).count))
        }
    }

    @Test("the status snapshot aggregated by the database equals the one made from every task and the window's history", arguments: StoreBackend.available)
    func statusSnapshot(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            let clock = try await Self.mixedWork(f)
            // Created before every other task but delayed a year: not due, so not the oldest queued task (a tryout's
            // `status` showed "oldest queued" from such a task).
            _ = try await f.add(TaskFactory.task("task_later", context: "WS-later", created: f.now - 1_000, delay: 365 * 86_400))
            for window in [3600, (clock - f.now) / 2] {
                let tasks = try await f.store.tasks(status: Set(TaskStatus.allCases), since: nil)
                let history = try await f.store.history(since: clock - window, limit: 100_000)
                let expected = QueueStatusSnapshot.make(tasks: tasks, history: history, now: clock, windowSeconds: window)
                let actual = try await f.store.statusSnapshot(now: clock, windowSeconds: window)
                #expect(!history.isEmpty && !expected.counts.isEmpty && expected.ghosts != .init())
                #expect(actual.counts == expected.counts && actual.ghosts == expected.ghosts, "\(actual) \(expected)")
                #expect(actual.consumers == expected.consumers && actual.oldestQueuedAge == expected.oldestQueuedAge)
                #expect(try #require(actual.oldestQueuedAge) < clock - f.now + 1_000)
                #expect(actual.activity.keys.sorted() == expected.activity.keys.sorted())
                for (name, e) in expected.activity {
                    let a = try #require(actual.activity[name])
                    #expect(a.outcomes == e.outcomes, "\(name)")
                    for (x, y) in [(a.wait, e.wait), (a.run, e.run)] {
                        #expect(x?.count == y?.count && x?.p50 == y?.p50 && x?.p95 == y?.p95 && x?.max == y?.max, "\(name) \(String(describing: x)) \(String(describing: y))")
                        #expect(abs((x?.mean ?? 0) - (y?.mean ?? 0)) < 1e-9, "\(name)")
                    }
                }
            }
        }
    }

    @Test("the monitor's chart, consumers and task pages read by the database equal the references over every task and the history", arguments: StoreBackend.available)
    func monitorAggregates(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            let clock = try await Self.mixedWork(f)
            let tasks = try await f.store.tasks(status: Set(TaskStatus.allCases), since: nil)
            let history = try await f.store.history(since: 0, limit: 100_000)
            #expect(Set(tasks.compactMap(\.status)) == Set(TaskStatus.allCases) && tasks.contains(where: \.ghost), "\(tasks.map { ($0.status, $0.ghost) }) \(clock - f.now)")
            #expect(history.contains { $0.finished < clock - 600 }, "attempts before the window")
            for (now, window, bucket) in [(clock, 600.0, 60.0), (clock + 5, 300.0, 45.0), (clock - 200, 3600.0, 120.0)] {
                let expected = QueueActivity.make(tasks: tasks, history: history, now: now, windowSeconds: window, bucketSeconds: bucket)
                #expect(expected.buckets.contains { $0.inQueue > 0 && $0.processed > 0 } && expected.buckets.contains { $0.failed > 0 })
                let actual = try await f.store.activity(now: now, windowSeconds: window, bucketSeconds: bucket)
                #expect(actual == expected, "\(now - f.now) \(window)")
                var seen: [String: Double] = [:]
                for entry in history where entry.finished >= now - window && entry.finished <= now {
                    if let id = entry.consumerID { seen[id] = max(seen[id] ?? 0, entry.finished) }
                }
                #expect(try await f.store.consumersLastSeen(since: now - window, now: now) == seen)
            }
            for filter in TaskListFilter.allCases {
                for (offset, limit) in [(0, 7), (5, 7), (12, 20), (60, 20), (0, 100)] {
                    let expected = TaskPage.make(tasks, filter: filter, offset: offset, limit: limit)
                    let actual = try await f.store.taskPage(filter, offset: offset, limit: limit)
                    #expect(actual == expected, "\(filter) \(offset) \(limit)")
                }
            }
            #expect(TaskPage.make(tasks, filter: .all, offset: 0, limit: 100).positions.compactMap { $0 } == Array(1...(tasks.filter { !$0.ghost && $0.status != .failed }.count)))
        }
    }

    /// A queue with a history for the aggregate tests: 70 tasks of three names and priorities on 50 contexts, some
    /// ghosts, claimed by 3 consumers on an advancing clock (with a 700 s gap after the 11th), then done, failed
    /// (retried or for good) or left running; two more claimed at the end. Returns the clock's last time.
    static func mixedWork(_ f: StoreFixture) async throws -> Double {
        var clock = f.now
        for index in 0..<70 {
            let name = ["task_a", "task_b", "task_assign_analyses"][index % 3]
            var task = TaskFactory.task(name, context: "WS-\(index % 50)", created: clock - Double(index % 5) * 7.3,
                                        priority: [10, 20, 30][index % 3], retries: index % 4)
            task.ghost = index % 13 == 6
            _ = try await f.add(task)
            clock += Double((index * 37) % 23) + 0.25 + (index == 10 ? 700 : 0)
            guard index % 7 != 6, let popped = try await f.store.pop(consumerID: "consumer-\(index % 3)", now: clock) else { continue }
            clock += Double((index * 13) % 17) / 2
            switch index % 6 {
            case 2, 3: _ = try await f.store.fail(popped.taskUID, message: "no", lease: .none, now: clock, retry: index % 2 == 0)
            case 5: continue // left running
            default: _ = try await f.store.done(popped.taskUID, lease: .none, now: clock)
            }
        }
        for consumer in ["late-1", "late-2"] { _ = try await f.store.pop(consumerID: consumer, now: clock) }
        return clock
    }

    /// Shows, when PostgreSQL is not configured, that this suite's PostgreSQL cases were skipped and why; when it
    /// is, checks that the server answers (the cases above then also ran on it).
    @Test("PostgreSQL cases of this suite", StoreBackend.postgresSkipped)
    func postgresAvailable() async throws {
        let fixture = try await StoreFixture.make(backend: .postgres)
        #expect(try await fixture.store.tasks(status: [.queued, .running, .failed], since: nil).isEmpty)
        await fixture.close()
    }
}

import Foundation
import QueueCore
import QueueTesting
import Storage
import TestSupport
import Testing

/// Batched pops and reports (LimsQueue's extension for its own consumers), part of the store conformance suite:
/// every test runs on each ``TestSupport/StoreBackend`` (PostgreSQL when `LIMSQUEUE_TEST_POSTGRES_URL` is set,
/// skipped with the reason otherwise). Time is the fixture's manual clock.
@Suite("Queue store: batched pop, done and fail")
struct StoreBatchTests {
    /// A mix of names, contexts and priorities: two tasks of one name on one context (serialized), one of another
    /// name on that context, a top-priority one, an urgent one and plain ones.
    static func mixedTasks(at now: Double) -> [QueueTask] {
        [
            TaskFactory.task("task_generic_action", context: "WS-1", created: now),
            TaskFactory.task("task_generic_action", context: "WS-1", created: now + 1),
            TaskFactory.task("task_reindex_object_security", context: "WS-1", created: now + 2),
            TaskFactory.task("task_generic_action", context: "WS-2", created: now + 3, priority: 9),
            TaskFactory.task("task_action_verify", context: "WS-3", created: now + 4, priority: 50),
            TaskFactory.task("task_generic_action", context: "WS-4", created: now + 5),
            TaskFactory.task("task_generic_action", context: "WS-4", created: now + 6),
            TaskFactory.task("task_generic_action", context: "WS-5", created: now + 7),
        ]
    }

    static func setMaxConsumers(_ value: Int, _ f: StoreFixture) async throws {
        var settings = try await f.store.settings()
        settings.maxConsumers = value
        try await f.store.updateSettings(settings)
    }

    @Test("a batched pop claims what one-by-one pops would have claimed, in the same order", arguments: StoreBackend.available)
    func orderingMatchesSinglePops(backend: StoreBackend) async throws {
        let tasks = Self.mixedTasks(at: 1_700_000_000)
        let now = 1_700_000_100.0
        var single: [String] = []
        try await StoreFixture.with(backend: backend) { f in
            try await Self.setMaxConsumers(64, f)
            _ = try await f.store.add(tasks, now: now)
            for index in 1...8 {
                if let task = try await f.store.pop(consumerID: "consumer-\(index)", now: now) { single.append(task.taskUID) }
            }
        }
        try await StoreFixture.with(backend: backend) { f in
            try await Self.setMaxConsumers(64, f)
            _ = try await f.store.add(tasks, now: now)
            let batch = try await f.store.pop(consumerID: "consumer-b", max: 8, now: now)
            #expect(batch.map(\.taskUID) == single)
            // Serialized: only one of each (name, context) pair runs; WS-1's second generic action waits.
            #expect(batch.count == 6)
            #expect(!batch.contains { $0.taskUID == tasks[1].taskUID } && !batch.contains { $0.taskUID == tasks[6].taskUID })
            #expect(batch.first?.taskUID == tasks[4].taskUID) // top priority first
            // Every claimed task runs for the batch's consumer with a lease token of its own.
            #expect(batch.allSatisfy { $0.status == .running && $0.consumerID == "consumer-b" && $0.started == now })
            #expect(Set(batch.compactMap(\.leaseToken)).count == batch.count)
        }
    }

    @Test("cap: max counts the consumer's running tasks; max_consumers caps the batch", arguments: StoreBackend.available)
    func cap(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            try await Self.setMaxConsumers(5, f)
            let tasks = (0..<10).map { TaskFactory.task("task_generic_action", context: "WS-\($0)", created: f.now + Double($0)) }
            _ = try await f.store.add(tasks, now: f.now)
            let now = f.now + 20
            let first = try await f.store.pop(consumerID: "consumer-1", max: 3, now: now)
            #expect(first.map(\.taskUID) == tasks[0..<3].map(\.taskUID))
            // Holding 3 of max 3: nothing more, and no purge (the running tasks are its buffer).
            #expect(try await f.store.pop(consumerID: "consumer-1", max: 3, now: now + 60).isEmpty)
            #expect(try await f.store.tasks(status: [.running], since: nil).count == 3)
            // max 4 while holding 3: one more.
            #expect(try await f.store.pop(consumerID: "consumer-1", max: 4, now: now).map(\.taskUID) == [tasks[3].taskUID])
            // max_consumers 5: another consumer gets the one slot left although it asks for 10.
            #expect(try await f.store.pop(consumerID: "consumer-2", max: 10, now: now).map(\.taskUID) == [tasks[4].taskUID])
            #expect(try await f.store.pop(consumerID: "consumer-3", max: 10, now: now).isEmpty)
            #expect(try await f.store.pop(consumerID: "consumer-3", now: now) == nil) // a plain pop sees the cap too
        }
    }

    @Test("batched done: every valid report applied, stale leases refused one by one, the rest untouched", arguments: StoreBackend.available)
    func doneBatch(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            try await Self.setMaxConsumers(10, f)
            let tasks = (0..<4).map { TaskFactory.task("task_generic_action", context: "WS-\($0)", created: f.now + Double($0)) }
            _ = try await f.store.add(tasks, now: f.now)
            let claimed = try await f.store.pop(consumerID: "consumer-1", max: 4, now: f.now + 10)
            #expect(claimed.count == 4)
            func lease(_ task: QueueTask, token: String? = nil) -> TaskLease {
                TaskLease(taskUID: task.taskUID, lease: LeaseClaim(consumerID: "consumer-1", leaseToken: token ?? task.leaseToken))
            }
            let unknown = TaskUID.make()
            let reports = [
                lease(claimed[0]), lease(claimed[1], token: "stale-token"), lease(claimed[2]),
                TaskLease(taskUID: unknown, lease: .none), lease(claimed[0]),
            ]
            let results = try await f.store.done(reports, now: f.now + 11)
            #expect(results.count == 5)
            #expect((try? results[0].get())?.taskUID == claimed[0].taskUID)
            #expect((try? results[2].get())?.taskUID == claimed[2].taskUID)
            func code(_ result: Result<QueueTask, any Error>) -> QueueError.Code? {
                if case .failure(let error) = result { return (error as? QueueError)?.code }
                return nil
            }
            #expect(code(results[1]) == .leaseLost)
            #expect(code(results[3]) == .notFound)
            #expect(code(results[4]) == .leaseLost) // given twice: finished once
            if case .failure(let error) = results[4] { #expect("\(error)".contains("more than once")) }
            // The refused and unreported tasks still run, with their leases.
            #expect(try await f.store.task(claimed[1].taskUID)?.leaseToken == claimed[1].leaseToken)
            #expect(try await f.store.task(claimed[3].taskUID)?.status == .running)
            #expect(try await f.store.task(claimed[0].taskUID) == nil)
            let history = try await f.store.history(since: 0, limit: 10)
            #expect(history.count == 2 && history.allSatisfy { $0.outcome == .done && $0.consumerID == "consumer-1" })
            // One entry per task finished (claimed[0] reported twice), none for the refused.
            #expect(Set(history.map(\.taskUID)) == [claimed[0].taskUID, claimed[2].taskUID])
            // A stale report of a task before the one whose lease holds: the holding one finishes it (a tryout saw
            // both refused and the task left running).
            let second = try await f.store.done([lease(claimed[3], token: "stale-token"), lease(claimed[3])], now: f.now + 12)
            #expect(code(second[0]) == .leaseLost)
            #expect((try? second[1].get())?.taskUID == claimed[3].taskUID)
            #expect(try await f.store.task(claimed[3].taskUID) == nil)
        }
    }

    @Test("batched done of 40 (a batched consumer's size): all applied in one go, one history entry each, a wrong consumer refused",
          arguments: StoreBackend.available)
    func largeDoneBatch(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            try await Self.setMaxConsumers(64, f)
            // Three-digit contexts: no context path is another's prefix (which would serialize them).
            let tasks = (100..<140).map { TaskFactory.task("task_generic_action", context: "WS-\($0)", created: f.now + Double($0 - 100) / 10) }
            _ = try await f.store.add(tasks, now: f.now)
            var claimed: [QueueTask] = []
            while claimed.count < 40 { // a pop takes a window of candidates at a time
                let more = try await f.store.pop(consumerID: "consumer-1", max: 40 - claimed.count, now: f.now + 10)
                guard !more.isEmpty else { break }
                claimed += more
            }
            try #require(claimed.count == 40)
            let reports = [TaskLease(taskUID: claimed[5].taskUID, lease: LeaseClaim(consumerID: "consumer-2", leaseToken: claimed[5].leaseToken))]
                + claimed.reversed().map { TaskLease(taskUID: $0.taskUID, lease: LeaseClaim(consumerID: "consumer-1", leaseToken: $0.leaseToken)) }
            let results = try await f.store.done(reports, now: f.now + 11)
            #expect(results.count == 41)
            if case .failure(let error) = results[0] { #expect((error as? QueueError)?.code == .leaseLost) } else { Issue.record("wrong consumer applied") }
            #expect(results.dropFirst().compactMap { try? $0.get().taskUID } == claimed.reversed().map(\.taskUID))
            #expect(try await f.store.hasActiveTasks() == false)
            let history = try await f.store.history(since: 0, limit: 100)
            #expect(history.count == 40 && history.allSatisfy { $0.outcome == .done && $0.consumerID == "consumer-1" })
            #expect(Set(history.map(\.taskUID)) == Set(claimed.map(\.taskUID)))
        }
    }

    @Test("batched done: a report with an empty token and one without a token for the same task are two claims; the one that holds finishes it",
          arguments: StoreBackend.available)
    func emptyAndMissingTokenAreDistinct(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            _ = try await f.store.add([TaskFactory.task("task_generic_action", context: "WS-1", created: f.now)], now: f.now)
            let claimed = try #require(try await f.store.pop(consumerID: "consumer-1", now: f.now + 10))
            let results = try await f.store.done([
                TaskLease(taskUID: claimed.taskUID, lease: LeaseClaim(consumerID: "consumer-1", leaseToken: "")),
                TaskLease(taskUID: claimed.taskUID, lease: LeaseClaim(consumerID: "consumer-1", leaseToken: nil)),
            ], now: f.now + 11)
            #expect(results.count == 2)
            if case .failure(let error) = results[0] { #expect((error as? QueueError)?.code == .leaseLost) } else { Issue.record("empty token applied") }
            #expect((try? results[1].get())?.taskUID == claimed.taskUID)
            #expect(try await f.store.task(claimed.taskUID) == nil)
        }
    }

    @Test("batched done and pop: reports free their slots and keys before the claim, in one transaction", arguments: StoreBackend.available)
    func doneAndPopBatch(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            try await Self.setMaxConsumers(2, f)
            let a = TaskFactory.task("task_generic_action", context: "WS-1", created: f.now)
            let b = TaskFactory.task("task_generic_action", context: "WS-1", created: f.now + 1)
            let c = TaskFactory.task("task_generic_action", context: "WS-2", created: f.now + 2)
            let d = TaskFactory.task("task_generic_action", context: "WS-3", created: f.now + 3)
            _ = try await f.store.add([a, b, c, d], now: f.now)
            let now = f.now + 10
            let first = try await f.store.pop(consumerID: "consumer-1", max: 2, now: now)
            #expect(first.map(\.taskUID) == [a.taskUID, c.taskUID])
            let reports = first.map { TaskLease(taskUID: $0.taskUID, lease: LeaseClaim(consumerID: "consumer-1", leaseToken: $0.leaseToken)) }
            let (done, next) = try await f.store.doneAndPop(reports, consumerID: "consumer-1", max: 2, now: now + 1)
            #expect(done.allSatisfy { (try? $0.get()) != nil })
            // b shares a's name and context: claimable only because a's done ran first.
            #expect(next.map(\.taskUID) == [b.taskUID, d.taskUID])
            // A refused report does not stop the claim; the stale holder keeps nothing.
            let stale = [TaskLease(taskUID: b.taskUID, lease: LeaseClaim(consumerID: "consumer-1", leaseToken: "old"))]
            let (refused, none) = try await f.store.doneAndPop(stale, consumerID: "consumer-1", max: 2, now: now + 2)
            #expect(refused.count == 1 && (try? refused[0].get()) == nil)
            #expect(none.isEmpty) // still holds b and d: max 2 reached
        }
    }

    @Test("leases: an expired lease is timed out by a batched pop; its holder's batched done is refused", arguments: StoreBackend.available)
    func expiredLeases(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            let task = try await f.add(TaskFactory.task(created: f.now, maxSeconds: 60))
            let first = try await f.store.pop(consumerID: "consumer-1", max: 4, now: f.now)
            #expect(first.count == 1)
            // Virtual time: the lease ends without anyone waiting for it; at exactly max_seconds it still holds.
            f.clock.advance(by: 60)
            #expect(try await f.store.pop(consumerID: "consumer-2", max: 4, now: f.now).isEmpty)
            #expect(try await f.store.task(task.taskUID)?.leaseToken == first[0].leaseToken)
            f.clock.advance(by: 1)
            #expect(try await f.store.pop(consumerID: "consumer-2", max: 4, now: f.now).isEmpty) // timed out, 5 s delay
            #expect(try await f.store.task(task.taskUID)?.errorMessage == "Timeout")
            f.clock.advance(by: 5)
            let second = try await f.store.pop(consumerID: "consumer-2", max: 4, now: f.now)
            #expect(second.map(\.taskUID) == [task.taskUID])
            let results = try await f.store.done([TaskLease(taskUID: task.taskUID, lease: LeaseClaim(consumerID: "consumer-1",
                                                                                                    leaseToken: first[0].leaseToken))],
                                                 now: f.now)
            if case .failure(let error) = results[0] { #expect((error as? QueueError)?.code == .leaseLost) } else { Issue.record("accepted") }
            #expect(try await f.store.task(task.taskUID)?.leaseToken == second[0].leaseToken)
        }
    }

    @Test("batched fail: each report fails its task (retried or failed); stale ones refused alone", arguments: StoreBackend.available)
    func failBatch(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            let retried = try await f.add(TaskFactory.task("task_generic_action", context: "WS-1", created: f.now))
            let final = try await f.add(TaskFactory.task("task_generic_action", context: "WS-2", created: f.now + 1, retries: 0))
            let other = try await f.add(TaskFactory.task("task_generic_action", context: "WS-3", created: f.now + 2))
            let claimed = try await f.store.pop(consumerID: "consumer-1", max: 3, now: f.now + 5)
            #expect(claimed.map(\.taskUID) == [retried.taskUID, final.taskUID, other.taskUID])
            let reports = claimed.enumerated().map { index, task in
                TaskFailureReport(task: TaskLease(taskUID: task.taskUID,
                                                  lease: LeaseClaim(consumerID: "consumer-1", leaseToken: index == 2 ? "stale" : task.leaseToken)),
                                  message: "boom \(index)")
            }
            let results = try await f.store.fail(reports, now: f.now + 6)
            #expect((try? results[0].get())?.status == .queued && (try? results[0].get())?.errorMessage == "boom 0")
            #expect((try? results[1].get())?.status == .failed)
            if case .failure(let error) = results[2] { #expect((error as? QueueError)?.code == .leaseLost) } else { Issue.record("accepted") }
            #expect(try await f.store.task(other.taskUID)?.status == .running)
            let outcomes = try await f.store.history(since: 0, limit: 10).map(\.outcome)
            #expect(outcomes.sorted { $0.rawValue < $1.rawValue } == [.failed, .retried])
        }
    }

    @Test("batched fail: a uid reported twice fails once; the repeat is refused saying so, whichever lease it names",
          arguments: StoreBackend.available)
    func failBatchRepeat(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            let task = try await f.add(TaskFactory.task("task_generic_action", context: "WS-1", created: f.now, retries: 3))
            let claimed = try #require(try await f.store.pop(consumerID: "consumer-1", max: 1, now: f.now + 5).first)
            let report = TaskFailureReport(task: TaskLease(taskUID: task.taskUID,
                                                           lease: LeaseClaim(consumerID: "consumer-1", leaseToken: claimed.leaseToken)),
                                           message: "boom")
            let stale = TaskFailureReport(task: TaskLease(taskUID: task.taskUID, lease: LeaseClaim(consumerID: "consumer-1", leaseToken: "stale")),
                                          message: "stale")
            let results = try await f.store.fail([stale, report, report], now: f.now + 6)
            if case .failure(let error) = results[0] { #expect((error as? QueueError)?.code == .leaseLost) } else { Issue.record("stale accepted") }
            #expect((try? results[1].get())?.status == .queued)
            guard case .failure(let error) = results[2] else { Issue.record("repeat accepted"); return }
            #expect((error as? QueueError)?.code == .leaseLost)
            #expect("\(error)".contains("more than once"))
            // One retry spent, one history entry.
            #expect(try await f.store.task(task.taskUID)?.retries == 2)
            #expect(try await f.store.history(since: 0, limit: 10).map(\.outcome) == [.retried])
        }
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

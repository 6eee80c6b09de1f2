import Foundation
import QueueCore
import QueueTesting
import SQLKit
@testable import Storage
import TestSupport
import Testing

/// Consecutive pops of distinct consumers in one writer batch are claimed by one statement
/// (``SQLQueueStore/claimShared(_:now:cap:on:)``). The claims must be those of the stepwise claim serving the same pops
/// one after the other in request order: the cap, one task per name and context, `max` counting a consumer's running
/// tasks, a plain pop of a consumer that still runs a task getting none, a second pop of one consumer, and the window
/// of candidates running out. Part of the store conformance suite.
@Suite("Queue store: the pops of one batch claimed in one statement")
struct SharedClaimTests {
    /// Carries a transaction's result out of it while rolling it back.
    struct RolledBack: Error {
        let claims: [[String]]
    }

    /// The task uids claimed for each of `pops` by ``SQLQueueStore/claimEach(_:now:settings:concurrency:oneStatement:notifying:on:)``,
    /// in a transaction rolled back afterwards, so both claims run on the same state.
    static func claims(_ pops: [DatabaseWriter.ClaimRequest.Pop], oneStatement: Bool, store: SQLQueueStore, now: Double)
        async throws -> [[String]]
    {
        let settings = try await store.settings()
        let concurrency = store.claimConcurrency
        do {
            _ = try await store.transaction(.claims) { sql -> Int in
                // As the writer's batch does first: delayed tasks due by now (and tasks created after the add's time)
                // join the claims' index.
                _ = try await SQLQueueStore.promoteDueTasks(now: now, on: sql)
                let (claimed, _) = try await SQLQueueStore.claimEach(pops, now: now, settings: settings, concurrency: concurrency,
                                                                     oneStatement: oneStatement, on: sql)
                let running = try await sql.raw("SELECT name, path_key FROM queue_tasks WHERE status = 'running'").all()
                let keys = try running.map { "\(try $0.decode(column: "name", as: String.self)) \(try $0.decode(column: "path_key", as: String.self))" }
                #expect(running.count <= settings.maxConsumers, "max_consumers holds")
                #expect(Set(keys).count == keys.count, "one task per name and context")
                throw RolledBack(claims: claimed.map { $0.map(\.taskUID) })
            }
        } catch let rolledBack as RolledBack {
            return rolledBack.claims
        }
        Issue.record("the transaction was not rolled back")
        return []
    }

    @Test("random queues and batches: the shared statement claims what the stepwise claim does, pop by pop",
          arguments: StoreBackend.available, [UInt64(3), 11, 29, 64, 101, 977])
    func sameAsStepwise(backend: StoreBackend, seed: UInt64) async throws {
        try await StoreFixture.with(backend: backend) { f in
            var random = SeededRandom(seed: seed)
            let store = f.store
            var settings = try await store.settings()
            settings.maxConsumers = Int.random(in: 3...8, using: &random)
            try await store.updateSettings(settings)
            // Few contexts: many tasks share a key, so the window of 8 often holds fewer than 8 free tasks.
            let contexts = Int.random(in: 2...12, using: &random)
            let names = ["task_action_submit", "task_generic_action"]
            let tasks = (0..<40).map { index in
                var task = TaskFactory.task(names[Int.random(in: 0..<2, using: &random)],
                                            context: "WS-\(Int.random(in: 0..<contexts, using: &random))",
                                            created: f.now + Double(index) * 0.01,
                                            priority: [10, 10, 50, 1][Int.random(in: 0..<4, using: &random)])
                task.taskUID = TaskUID.make(using: &random)
                return task
            }
            _ = try await store.add(tasks, now: f.now)
            // Some consumers already run a task.
            for consumer in ["consumer-1", "consumer-2"].prefix(Int.random(in: 0...2, using: &random)) {
                _ = try await store.pop(consumerID: consumer, now: f.now + 1)
            }
            let consumers = (1...6).map { "consumer-\($0)" }
            for round in 0..<6 {
                // Plain pops, and batched ones (max 1 to 5, the consumer's running tasks included) now and then.
                let pops = (0..<Int.random(in: 2...6, using: &random)).map { _ in
                    let batched = Int.random(in: 0..<3, using: &random) == 0
                    return DatabaseWriter.ClaimRequest.Pop(consumerID: consumers[Int.random(in: 0..<6, using: &random)],
                                                           max: batched ? Int.random(in: 1...5, using: &random) : 1, batch: batched)
                }
                let shared = try await Self.claims(pops, oneStatement: true, store: store, now: f.now + 2)
                let stepwise = try await Self.claims(pops, oneStatement: false, store: store, now: f.now + 2)
                #expect(shared == stepwise, "round \(round): \(pops.map { "\($0.consumerID) \($0.max)" })")
                #expect(shared.joined().count > 0 || round > 0, "the first round claims something")
                // Move on: one more consumer runs a task.
                _ = try await store.pop(consumerID: "consumer-\(round % 6 + 1)", now: f.now + 1)
            }
        }
    }

    @Test("two plain pops of different consumers in one batch: the first gets the first task, the second the next free key",
          arguments: StoreBackend.available)
    func firstComeFirstServed(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            let a1 = TaskFactory.task("task_action_submit", context: "WS-A", created: f.now)
            let a2 = TaskFactory.task("task_action_submit", context: "WS-A", created: f.now + 0.01)
            let b = TaskFactory.task("task_action_submit", context: "WS-B", created: f.now + 0.02)
            _ = try await f.store.add([a1, a2, b], now: f.now)
            let pops = ["consumer-1", "consumer-2", "consumer-3"].map { DatabaseWriter.ClaimRequest.Pop(consumerID: $0, max: 1, batch: false) }
            let claims = try await Self.claims(pops, oneStatement: true, store: f.store, now: f.now + 1)
            // WS-A's second task waits for its first; the third consumer gets nothing.
            #expect(claims == [[a1.taskUID], [b.taskUID], []])
        }
    }

    @Test("a batched pop takes its share first, up to max less its running tasks; the next pop the following free tasks",
          arguments: StoreBackend.available)
    func batchedShares(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            let tasks = (0..<8).map { TaskFactory.task("task_action_submit", context: "WS-\($0)", created: f.now + Double($0) * 0.01) }
            _ = try await f.store.add(tasks, now: f.now)
            var settings = try await f.store.settings()
            settings.maxConsumers = 10
            try await f.store.updateSettings(settings)
            // consumer-1 already runs one task (the first): its batched pop of max 3 takes 2 more.
            let held = try await f.store.pop(consumerID: "consumer-1", max: 1, now: f.now + 1)
            #expect(held.map(\.taskUID) == [tasks[0].taskUID])
            let pops = [DatabaseWriter.ClaimRequest.Pop(consumerID: "consumer-1", max: 3, batch: true),
                        .init(consumerID: "consumer-2", max: 1, batch: false),
                        .init(consumerID: "consumer-3", max: 2, batch: true)]
            let claims = try await Self.claims(pops, oneStatement: true, store: f.store, now: f.now + 2)
            #expect(claims == [[tasks[1].taskUID, tasks[2].taskUID], [tasks[3].taskUID], [tasks[4].taskUID, tasks[5].taskUID]])
        }
    }

    /// What ``SQLQueueStore/claimShared(_:now:cap:on:)`` claimed (task uids per consumer) and its `sawAll`.
    struct RolledBackShared: Error {
        let claimed: [String: [String]]
        let sawAll: Bool
    }

    /// ``SQLQueueStore/claimShared(_:now:cap:on:)`` for `pops` in a transaction rolled back afterwards.
    static func shared(_ pops: [DatabaseWriter.ClaimRequest.Pop], store: SQLQueueStore, now: Double, cap: Int)
        async throws -> RolledBackShared
    {
        do {
            _ = try await store.transaction(.claims) { sql -> Int in
                _ = try await SQLQueueStore.promoteDueTasks(now: now, on: sql)
                let (claimed, sawAll) = try await SQLQueueStore.claimShared(pops, now: now, cap: cap, on: sql)
                throw RolledBackShared(claimed: claimed.mapValues { $0.map(\.taskUID) }, sawAll: sawAll)
            }
        } catch let rolledBack as RolledBackShared {
            return rolledBack
        }
        Issue.record("the transaction was not rolled back")
        return RolledBackShared(claimed: [:], sawAll: false)
    }

    @Test("PostgreSQL: the statement says it saw every claimable task only with fewer due tasks than its window and no lapsed lease",
          .enabled(if: StoreBackend.available.contains(.postgres)))
    func sawAllClaimable() async throws {
        try await StoreFixture.with(backend: .postgres) { f in
            var settings = try await f.store.settings()
            settings.maxConsumers = 40
            try await f.store.updateSettings(settings)
            let pop = DatabaseWriter.ClaimRequest.Pop(consumerID: "consumer-1", max: 8, batch: true)
            // An empty queue: nothing claimed, nothing more to find.
            var outcome = try await Self.shared([pop], store: f.store, now: f.now + 1, cap: 40)
            #expect(outcome.claimed.isEmpty && outcome.sawAll)
            // 5 tasks, two on one context: 4 claimed, the fifth waits for its context; nothing more to find.
            let few = (0..<5).map { TaskFactory.task("task_generic_action", context: "WS-\(min($0, 3))", created: f.now + Double($0) * 0.01) }
            _ = try await f.store.add(few, now: f.now)
            outcome = try await Self.shared([pop], store: f.store, now: f.now + 1, cap: 40)
            #expect(outcome.claimed["consumer-1"] == few.prefix(4).map(\.taskUID))
            #expect(outcome.sawAll)
            // 20 more on one context after them: the window of 16 fills with tasks of one key; past it there may be more.
            let crowd = (0..<20).map { TaskFactory.task("task_generic_action", context: "WS-9", created: f.now + 1 + Double($0) * 0.01) }
            _ = try await f.store.add(crowd, now: f.now)
            outcome = try await Self.shared([pop], store: f.store, now: f.now + 2, cap: 40)
            #expect(outcome.claimed["consumer-1"]?.count == 5)
            #expect(!outcome.sawAll)
            // A lease lapsed: the statement claims nothing and leaves the lapse to the stepwise claim.
            let running = try await f.store.pop(consumerID: "consumer-2", max: 1, now: f.now + 2)
            #expect(running.count == 1)
            outcome = try await Self.shared([pop], store: f.store, now: f.now + 2 + 10_000, cap: 40)
            #expect(outcome.claimed.isEmpty && !outcome.sawAll)
        }
    }

    @Test("a batched pop short of its max on a short queue gets what the stepwise claim gives (the stepwise look skipped on PostgreSQL)",
          arguments: StoreBackend.available)
    func shortQueue(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            var settings = try await f.store.settings()
            settings.maxConsumers = 12
            try await f.store.updateSettings(settings)
            let tasks = (0..<7).map { TaskFactory.task("task_action_submit", context: "WS-\($0 % 5)", created: f.now + Double($0) * 0.01) }
            _ = try await f.store.add(tasks, now: f.now)
            _ = try await f.store.pop(consumerID: "consumer-2", now: f.now + 1)
            let pops = [DatabaseWriter.ClaimRequest.Pop(consumerID: "consumer-1", max: 8, batch: true),
                        .init(consumerID: "consumer-3", max: 4, batch: true)]
            let shared = try await Self.claims(pops, oneStatement: true, store: f.store, now: f.now + 2)
            let stepwise = try await Self.claims(pops, oneStatement: false, store: f.store, now: f.now + 2)
            #expect(shared == stepwise)
            #expect(shared == [tasks[1...4].map(\.taskUID), []])
        }
    }

    @Test("runs: consecutive pops of distinct consumers, two or more; a consumer's second pop starts a new run")
    func runs() {
        func pops(_ spec: String) -> [DatabaseWriter.ClaimRequest.Pop] {
            // "a" plain pop of consumer a, "B" batched pop of consumer b.
            spec.map { letter in
                DatabaseWriter.ClaimRequest.Pop(consumerID: letter.lowercased(), max: letter.isUppercase ? 4 : 1,
                                                batch: letter.isUppercase)
            }
        }
        #expect(SQLQueueStore.sharedClaimRuns(pops("abc")) == [0..<3])
        #expect(SQLQueueStore.sharedClaimRuns(pops("a")) == [])
        #expect(SQLQueueStore.sharedClaimRuns(pops("aBc")) == [0..<3])
        #expect(SQLQueueStore.sharedClaimRuns(pops("abXcd")) == [0..<5])
        #expect(SQLQueueStore.sharedClaimRuns(pops("abab")) == [0..<2, 2..<4])
        #expect(SQLQueueStore.sharedClaimRuns(pops("aab")) == [1..<3])
        #expect(SQLQueueStore.sharedClaimRuns(pops("abAc")) == [0..<2, 2..<4])
        #expect(SQLQueueStore.sharedClaimRuns(pops("abca")) == [0..<3])
    }
}

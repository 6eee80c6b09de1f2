import Foundation
import QueueCore
import QueueTesting
import Storage
import TestSupport
import Testing

/// The claim in one statement (the default on PostgreSQL) against the stepwise claim (the default on SQLite): the
/// same script of adds, plain and batched pops, dones and clock steps must claim exactly the same tasks in the same
/// order, whichever claim runs. Part of the store conformance suite: runs on each ``TestSupport/StoreBackend``.
@Suite("Queue store: the claim in one statement equals the stepwise claim")
struct ClaimStatementTests {
    /// 60 tasks over 3 names and 6 contexts (many share a serialization key), mixed priorities, some delayed.
    static func tasks(seed: UInt64, at now: Double) -> [QueueTask] {
        var random = SeededRandom(seed: seed)
        let names = ["task_action_submit", "task_generic_action", "task_assign_analyses"]
        return (0..<60).map { index in
            var task = TaskFactory.task(names[Int.random(in: 0..<3, using: &random)],
                                        context: "WS-\(Int.random(in: 0..<6, using: &random))",
                                        created: now + Double(index) * 0.01,
                                        priority: [10, 10, 10, 9, 50, 1][Int.random(in: 0..<6, using: &random)],
                                        maxSeconds: 30)
            task.taskUID = TaskUID.make(using: &random)
            if Int.random(in: 0..<5, using: &random) == 0 { task.delay = Double(Int.random(in: 1...20, using: &random)) }
            return task
        }
    }

    /// Runs the script of `seed` on a store whose claims run `oneStatement` or stepwise; returns what each step
    /// answered, as text, with the invariants checked at every step.
    static func trace(seed: UInt64, oneStatement: Bool, backend: StoreBackend) async throws -> [String] {
        var lines: [String] = []
        try await StoreFixture.with(backend: backend) { f in
            let store = await f.store(claimInOneStatement: oneStatement)
            var settings = try await store.settings()
            settings.maxConsumers = 7
            try await store.updateSettings(settings)
            var now = f.now
            _ = try await store.add(tasks(seed: seed, at: now), now: now)
            var random = SeededRandom(seed: seed ^ 0xABCD)
            var held: [String: [QueueTask]] = [:]
            let consumers = ["consumer-1", "consumer-2", "consumer-3"]
            for step in 0..<80 {
                let consumer = consumers[Int.random(in: 0..<3, using: &random)]
                switch Int.random(in: 0..<6, using: &random) {
                case 0:
                    let task = try await store.pop(consumerID: consumer, now: now)
                    if let task { held[consumer, default: []].append(task) }
                    lines.append("\(step) pop \(consumer): \(task?.taskUID ?? "-")")
                case 1, 2:
                    let max = Int.random(in: 1...6, using: &random)
                    let tasks = try await store.pop(consumerID: consumer, max: max, now: now)
                    held[consumer, default: []].append(contentsOf: tasks)
                    lines.append("\(step) pop \(consumer) max \(max): \(tasks.map(\.taskUID))")
                case 3, 4:
                    let mine = (held[consumer] ?? []).sorted { $0.taskUID < $1.taskUID }
                    let count = mine.isEmpty ? 0 : Int.random(in: 1...mine.count, using: &random)
                    let reports = mine.prefix(count).map { TaskLease(taskUID: $0.taskUID, lease: LeaseClaim(consumerID: $0.consumerID, leaseToken: $0.leaseToken)) }
                    let max = Int.random(in: 1...4, using: &random)
                    let (done, next) = try await store.doneAndPop(Array(reports), consumerID: consumer, max: max, now: now)
                    held[consumer] = Array(mine.dropFirst(count)) + next
                    lines.append("\(step) done \(count) and pop \(consumer) max \(max): \(done.map { (try? $0.get()) != nil }) \(next.map(\.taskUID))")
                default:
                    // Mostly small steps; now and then one past every lease (30 s), so leases expire and tasks retry.
                    now += Int.random(in: 0..<8, using: &random) == 0 ? 31 : 0.5
                    lines.append("\(step) clock \(now - f.now)")
                }
                let running = try await store.tasks(status: [.running], since: nil)
                #expect(running.count <= 7, "max_consumers holds at step \(step)")
                let keys = running.filter { !$0.pathKey.isEmpty }.map { "\($0.name) \($0.pathKey)" }
                #expect(Set(keys).count == keys.count, "one task per name and context at step \(step)")
            }
            let history = try await store.history(since: 0, limit: 1000)
            lines.append("history: \(history.map { "\($0.taskUID) \($0.outcome.rawValue)" }.sorted())")
            // Its background work (hold passes) ends before the fixture closes the databases under it.
            await store.quiesce()
        }
        return lines
    }

    @Test("the same script claims the same tasks in the same order with either claim",
          arguments: StoreBackend.available, [UInt64(1), 7, 42])
    func sameClaims(backend: StoreBackend, seed: UInt64) async throws {
        let stepwise = try await Self.trace(seed: seed, oneStatement: false, backend: backend)
        let oneStatement = try await Self.trace(seed: seed, oneStatement: true, backend: backend)
        #expect(stepwise == oneStatement)
        // The script did exercise what it compares: batches of several tasks, and expired leases.
        #expect(stepwise.contains { $0.contains(" max ") && $0.split(separator: ",").count > 1 })
        #expect(stepwise.last?.contains("timeout") == true)
    }
}

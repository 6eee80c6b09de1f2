import Foundation
import QueueCore
import QueueTesting
import SQLKit
@testable import Storage
import TestSupport
import Testing

/// The plan PostgreSQL chooses for the one-statement claim when its statistics are stale: taken while the queue was
/// empty, then thousands of tasks added (a fresh database, or a burst before autovacuum). With the picked uids
/// matched by `IN (SELECT ...)` the planner joined them against every queued row (4-5 ms a claim at 5,000 queued
/// tasks against 0.2 ms); as an array they are looked up in the primary key. Runs on PostgreSQL only (SQLite's plans
/// are pinned in ``QueryPlanTests``). The claim is a prepared statement, and its transaction forces generic plans
/// with sequential and bitmap scans off (``SQLQueueStore/claimScanSettings``): a generic plan made while the queue
/// was empty must still walk the indexes once it has filled.
@Suite("Queue store: the one-statement claim finds its tasks by primary key on stale statistics, the dones lock theirs once (PostgreSQL)")
struct ClaimPlanTests {
    @Test("analyzed empty, then 2,000 tasks added: the claims' updates probe the primary key; the claim takes the first task",
          .enabled(if: StoreBackend.available.contains(.postgres)))
    func staleStatistics() async throws {
        try await StoreFixture.with(backend: .postgres) { f in
            let sql = try f.store.sql
            try await sql.raw("ANALYZE queue_tasks").run()
            let tasks = Self.queued(f)
            _ = try await f.store.add(tasks, now: f.now)
            // One plain pop, and three pops of which two batched.
            let runs = [[DatabaseWriter.ClaimRequest.Pop(consumerID: "consumer-1", max: 1, batch: false)],
                        (1...3).map { DatabaseWriter.ClaimRequest.Pop(consumerID: "consumer-\($0)", max: $0, batch: $0 > 1) }]
            for pops in runs {
                let statement = SQLQueueStore.sharedClaimStatement(pops, now: f.now + 10, cap: 4,
                                                                   nonces: pops.map { _ in "0123456789abcdef" }, on: sql)
                // As the claim runs: in the cap lock's transaction, with its settings.
                let plan = try await f.store.transaction(.claims) { sql -> [String] in
                    try await sql.raw("SELECT \(unsafeRaw: SQLQueueStore.claimScanSettings)").run()
                    return try await sql.raw("EXPLAIN \(statement)").all().map { try $0.decode(column: "QUERY PLAN", as: String.self) }
                }.joined(separator: "\n")
                // The update's rows: one primary-key seek per picked task (a nested loop over the picks).
                #expect(plan.contains("Index Cond: (task_uid = k.task_uid)"), "\(plan)")
                #expect(!plan.contains("Semi Join"), "\(plan)")
            }
            // And the claim itself takes the first task in queue order.
            let claimed = try await f.store.pop(consumerID: "consumer-1", now: f.now + 10)
            #expect(claimed?.taskUID == tasks.first?.taskUID)
        }
    }

    @Test("prepared: the generic plan made on an empty queue walks the indexes when 2,000 tasks are queued, and claims the first",
          .enabled(if: StoreBackend.available.contains(.postgres)))
    func genericPlanMadeOnEmptyQueue() async throws {
        try await StoreFixture.with(backend: .postgres) { f in
            let sql = try f.store.sql
            try await sql.raw("ANALYZE queue_tasks").run()
            let pops = (1...3).map { DatabaseWriter.ClaimRequest.Pop(consumerID: "consumer-\($0)", max: 1, batch: false) }
            let statement = SQLQueueStore.sharedClaimStatement(pops, now: f.now + 10, cap: 4,
                                                               nonces: pops.map { _ in "0123456789abcdef" }, on: sql)
            let tasks = Self.queued(f)
            let (planned, claimed) = try await f.store.transaction(.claims) { sql -> (String, [String]) in
                // As the claim runs: after the cap lock's statement, whose settings force the generic plan.
                try await sql.raw("SELECT \(unsafeRaw: SQLQueueStore.claimScanSettings)").run()
                let (text, arguments) = Self.preparable(statement, on: sql)
                try await sql.raw("PREPARE claim_plan_test AS \(unsafeRaw: text)").run()
                let execute: SQLQueryString = "EXECUTE claim_plan_test(\(unsafeRaw: arguments))"
                _ = try await sql.raw(execute).all() // the plan is made now, on an empty queue
                _ = try await SQLQueueStore.insert(tasks, topPriority: [], on: sql)
                let plan = try await sql.raw("EXPLAIN \(execute)").all().map { try $0.decode(column: "QUERY PLAN", as: String.self) }
                let claimed = try await sql.raw(execute).all().map { try $0.decode(column: "context_uid", as: String.self) }
                return (plan.joined(separator: "\n"), claimed)
            }
            #expect(!planned.contains("Seq Scan"), "\(planned)")
            #expect(!planned.contains("Bitmap"), "\(planned)")
            #expect(planned.contains("queue_tasks_ready"), "\(planned)")
            #expect(claimed.sorted() == tasks.prefix(3).map(\.contextUID).sorted())
        }
    }

    @Test("a batch of 48 dones locks its rows in one pass (no correlated re-run per row) and finishes all 48",
          .enabled(if: StoreBackend.available.contains(.postgres)))
    func donesLockOnce() async throws {
        try await StoreFixture.with(backend: .postgres) { f in
            let sql = try f.store.sql
            try await Self.roomForBatches(f)
            let tasks = (0..<48).map { TaskFactory.task("task_generic_action", context: "WS-\($0)", created: f.now + Double($0) / 1_000) }
            _ = try await f.store.add(tasks, now: f.now)
            let running = try await f.store.pop(consumerID: "consumer-1", max: 48, now: f.now + 1)
            #expect(running.count == 48)
            try await sql.raw("ANALYZE queue_tasks").run()
            let dones = running.map { ($0.taskUID, LeaseClaim(consumerID: $0.consumerID, leaseToken: $0.leaseToken)) }
            let statement = SQLQueueStore.finishRecordingStatement(dones, now: f.now + 2, locking: "plan-test", on: sql)
            let plan = try await f.store.transaction(.claims) { sql -> [String] in
                try await sql.raw("EXPLAIN (ANALYZE, TIMING OFF) \(statement)").all()
                    .map { try $0.decode(column: "QUERY PLAN", as: String.self) }
            }
            let lockRows = plan.filter { $0.contains("LockRows") }
            // `IN (SELECT ... FOR UPDATE)` ran its LockRows once per row to delete (loops=48).
            #expect(lockRows.count == 1, "\(plan.joined(separator: "\n"))")
            #expect(lockRows.allSatisfy { $0.contains("loops=1)") }, "\(plan.joined(separator: "\n"))")
            #expect(plan.contains { $0.contains("Delete on queue_tasks") && $0.contains("rows=48 loops=1)") }, "\(plan.joined(separator: "\n"))")
            #expect(try await f.store.hasActiveTasks() == false)
        }
    }

    @Test("a claim of 48 tasks by 3 pops reads each task's consumer and nonce once (no scan of the assignments per claimed row)",
          .enabled(if: StoreBackend.available.contains(.postgres)))
    func claimJoinsAssignments() async throws {
        try await StoreFixture.with(backend: .postgres) { f in
            let sql = try f.store.sql
            try await Self.roomForBatches(f)
            let tasks = Array(Self.queued(f).prefix(60))
            _ = try await f.store.add(tasks, now: f.now + 1) // all created by then: none is a delayed task to promote
            try await sql.raw("ANALYZE queue_tasks").run()
            let pops = (1...3).map { DatabaseWriter.ClaimRequest.Pop(consumerID: "consumer-\($0)", max: 16, batch: true) }
            let nonces = ["0123456789abcdef", "1123456789abcdef", "2123456789abcdef"]
            let statement = SQLQueueStore.sharedClaimStatement(pops, now: f.now + 10, cap: 64, nonces: nonces, on: sql)
            let plan = try await f.store.transaction(.claims) { sql -> [String] in
                try await sql.raw("SELECT \(unsafeRaw: SQLQueueStore.claimScanSettings)").run()
                return try await sql.raw("EXPLAIN (ANALYZE, TIMING OFF) \(statement)").all()
                    .map { try $0.decode(column: "QUERY PLAN", as: String.self) }
            }
            let text = plan.joined(separator: "\n")
            // Two correlated subqueries of `assigned` (consumer, nonce) ran once per claimed row: loops=48 each.
            #expect(!plan.contains { $0.contains("assigned") && $0.contains("loops=48)") }, "\(text)")
            #expect(plan.contains { $0.contains("Update on queue_tasks") && $0.contains("rows=48 loops=1)") }, "\(text)")
            // Each pop got its 16, under its own nonce, the first 48 tasks in queue order.
            let running = try await sql.raw("SELECT task_uid, consumer_id, lease_token FROM queue_tasks WHERE status = 'running'").all()
            #expect(running.count == 48)
            for row in running {
                let consumer = try row.decode(column: "consumer_id", as: String.self)
                let token = try row.decode(column: "lease_token", as: String.self)
                let uid = try row.decode(column: "task_uid", as: String.self)
                let index = try #require(Int(consumer.dropFirst("consumer-".count)))
                #expect(token == nonces[index - 1] + uid.prefix(16))
            }
            #expect(Set(try running.map { try $0.decode(column: "task_uid", as: String.self) }) == Set(tasks.prefix(48).map(\.taskUID)))
        }
    }

    /// Sets `max_consumers` to 64, so that 48 tasks may run at once (the batches these tests claim and finish).
    static func roomForBatches(_ f: StoreFixture) async throws {
        var settings = try await f.store.settings()
        settings.maxConsumers = 64
        try await f.store.updateSettings(settings)
    }

    /// The 2,000 tasks both tests queue, one context each, in creation order.
    static func queued(_ f: StoreFixture) -> [QueueTask] {
        (0..<2_000).map { TaskFactory.task("task_generic_action", context: "WS-\($0)", created: f.now + Double($0) / 1_000) }
    }

    /// `statement`'s SQL with `$n` placeholders cast to their types, and its binds as SQL literals: what `PREPARE`
    /// and `EXECUTE` take (a protocol-level prepared statement cannot be explained).
    static func preparable(_ statement: SQLQueryString, on sql: any SQLDatabase) -> (String, String) {
        var serializer = SQLSerializer(database: sql)
        statement.serialize(to: &serializer)
        var text = serializer.sql
        var literals: [String] = []
        for (index, bind) in serializer.binds.enumerated().reversed() {
            let type: String, literal: String
            switch bind {
            case let value as String: (type, literal) = ("text", "'" + value.replacingOccurrences(of: "'", with: "''") + "'")
            case let value as Int: (type, literal) = ("bigint", String(value))
            case let value as Double: (type, literal) = ("double precision", String(value))
            case let values as [String]:
                (type, literal) = ("text[]", "ARRAY[" + values.map { "'" + $0.replacingOccurrences(of: "'", with: "''") + "'" }.joined(separator: ", ") + "]::text[]")
            default: (type, literal) = ("text", "NULL")
            }
            // `$1` but not the start of `$10`.
            let placeholder = try! Regex("\\$\(index + 1)(?![0-9])")
            text = text.replacing(placeholder, with: "$\(index + 1)::\(type)")
            literals.insert(literal, at: 0)
        }
        return (text, literals.joined(separator: ", "))
    }
}

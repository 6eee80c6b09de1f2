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
/// are pinned in ``QueryPlanTests``).
@Suite("Queue store: the one-statement claim finds its tasks by primary key on stale statistics (PostgreSQL)")
struct ClaimPlanTests {
    @Test("analyzed empty, then 2,000 tasks added: the claims' updates probe the primary key; the claim takes the first task",
          .enabled(if: StoreBackend.available.contains(.postgres)))
    func staleStatistics() async throws {
        try await StoreFixture.with(backend: .postgres) { f in
            let sql = try f.store.sql
            try await sql.raw("ANALYZE queue_tasks").run()
            let tasks = (0..<2_000).map { TaskFactory.task("task_generic_action", context: "WS-\($0)", created: f.now + Double($0) / 1_000) }
            _ = try await f.store.add(tasks, now: f.now)
            // One plain pop, and three pops of which two batched.
            let runs = [[DatabaseWriter.ClaimRequest.Pop(consumerID: "consumer-1", max: 1, batch: false)],
                        (1...3).map { DatabaseWriter.ClaimRequest.Pop(consumerID: "consumer-\($0)", max: $0, batch: $0 > 1) }]
            for pops in runs {
                let statement = SQLQueueStore.sharedClaimStatement(pops, now: f.now + 10, cap: 4,
                                                                   nonces: pops.map { _ in "0123456789abcdef" }, on: sql)
                // As the claim runs: in the cap lock's transaction, bitmap scans off.
                let plan = try await f.store.transaction(.claims) { sql -> [String] in
                    try await sql.raw("SELECT set_config('enable_bitmapscan', 'off', true)").run()
                    return try await sql.raw("EXPLAIN \(statement)").all().map { try $0.decode(column: "QUERY PLAN", as: String.self) }
                }.joined(separator: "\n")
                #expect(plan.contains("Index Cond: (task_uid = ANY"), "\(plan)")
                #expect(!plan.contains("Semi Join"), "\(plan)")
            }
            // And the claim itself takes the first task in queue order.
            let claimed = try await f.store.pop(consumerID: "consumer-1", now: f.now + 10)
            #expect(claimed?.taskUID == tasks.first?.taskUID)
        }
    }
}

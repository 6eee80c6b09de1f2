import Foundation
import QueueCore
import QueueTesting
import SQLKit
@testable import Storage
import TestSupport
import Testing

/// ``PlannerStatisticsRefresher``: after a burst of adds PostgreSQL's planner statistics of the queue are refreshed
/// without waiting for autovacuum. Runs on PostgreSQL only (SQLite's planner reads no statistics).
@Suite("Queue store: planner statistics after a burst of adds (PostgreSQL)")
struct PlannerStatisticsTests {
    @Test("the threshold of added tasks starts one ANALYZE of the queue tables; fewer start none",
          .enabled(if: StoreBackend.available.contains(.postgres)))
    func analyzeAfterBurst() async throws {
        try await StoreFixture.with(backend: .postgres) { f in
            let sql = try f.store.sql
            func lastAnalyzed() async throws -> Double? {
                try await sql.raw("""
                    SELECT EXTRACT(EPOCH FROM last_analyze)::float8 AS at FROM pg_stat_user_tables WHERE relname = 'queue_tasks'
                    """).first()?.decode(column: "at", as: Double?.self)
            }
            let before = try await lastAnalyzed()
            let refresher = PlannerStatisticsRefresher(database: { sql }, threshold: 100, minimumInterval: .seconds(3600))
            let tasks = (0..<120).map { TaskFactory.task("task_generic_action", context: "WS-\($0)", created: f.now) }
            _ = try await f.store.add(tasks, now: f.now)
            #expect(refresher.noteAdded(60) == nil)
            let refresh = try #require(refresher.noteAdded(60))
            await refresh.value
            let after = try #require(try await lastAnalyzed())
            #expect(after > (before ?? 0))
            // Within the minimum interval the next burst waits for autovacuum.
            #expect(refresher.noteAdded(500) == nil)
        }
    }
}

import FluentKit
import QueueCore
import SQLKit

extension SQLQueueStore {
    /// Aggregated in the database: task counts by name, status and ghost in one `GROUP BY` (index entries only),
    /// the window's outcomes by name in another (through `queue_history_finished`), and per name the wait and run
    /// summaries of processed attempts (count, mean and max in one aggregate; p50 and p95 one ordered seek each).
    /// `/metrics` and `limsqueue status` read every task's body and up to 100,000 history rows for this before:
    /// an unauthenticated scrape cost a whole-table read.
    public func statusSnapshot(now: Double, windowSeconds: Double) async throws -> QueueStatusSnapshot {
        let sql = try self.sql
        let since = now - windowSeconds
        var counts: [String: QueueStatusSnapshot.Counts] = [:]
        var ghosts = QueueStatusSnapshot.Counts()
        var oldest: Double?
        for row in try await sql.raw("""
            SELECT name, status, ghost, COUNT(*) AS n,
                MIN(CASE WHEN available_at <= created OR available_at <= \(bind: now) THEN created END) AS oldest
            FROM queue_tasks GROUP BY name, status, ghost
            """).all() {
            let name = try row.decode(column: "name", as: String.self)
            let n = try row.decode(column: "n", as: Int.self)
            let ghost = try row.decode(column: "ghost", as: Int.self) != 0
            let status = TaskStatus(rawValue: try row.decode(column: "status", as: String.self)) ?? .queued
            if ghost {
                switch status {
                case .queued: ghosts.queued += n
                case .running: ghosts.running += n
                case .failed: ghosts.failed += n
                }
                continue
            }
            switch status {
            case .queued:
                counts[name, default: .init()].queued += n
                // Tasks not yet due (delayed) are left out.
                if let created = try row.decode(column: "oldest", as: Double?.self) { oldest = min(oldest ?? created, created) }
            case .running: counts[name, default: .init()].running += n
            case .failed: counts[name, default: .init()].failed += n
            }
        }
        var consumers = Set(try await sql.raw("""
            SELECT DISTINCT consumer_id FROM queue_tasks WHERE status = 'running' AND consumer_id IS NOT NULL
            """).all().map { try $0.decode(column: "consumer_id", as: String.self) })
        consumers.formUnion(try await sql.raw("""
            SELECT DISTINCT consumer_id FROM queue_history WHERE finished >= \(bind: since) AND consumer_id IS NOT NULL
            """).all().map { try $0.decode(column: "consumer_id", as: String.self) })
        var activity: [String: QueueStatusSnapshot.Activity] = [:]
        for row in try await sql.raw("""
            SELECT name, outcome, COUNT(*) AS n FROM queue_history WHERE finished >= \(bind: since) GROUP BY name, outcome
            """).all() {
            let name = try row.decode(column: "name", as: String.self)
            guard let outcome = HistoryEntry.Outcome(rawValue: try row.decode(column: "outcome", as: String.self)) else { continue }
            activity[name, default: .init()].outcomes[outcome] = try row.decode(column: "n", as: Int.self)
        }
        let wait: SQLQueryString = "CASE WHEN started > created THEN started - created ELSE 0.0 END"
        let run: SQLQueryString = "CASE WHEN finished > started THEN finished - started ELSE 0.0 END"
        for name in activity.keys.sorted() where (activity[name]?.outcomes[.done] ?? 0) > 0 {
            let processed: SQLQueryString = """
                FROM queue_history WHERE finished >= \(bind: since) AND name = \(bind: name) AND outcome = 'done' AND started IS NOT NULL
                """
            guard let row = try await sql.raw("""
                SELECT COUNT(*) AS n, AVG(\(wait)) AS wait_mean, MAX(\(wait)) AS wait_max,
                       AVG(\(run)) AS run_mean, MAX(\(run)) AS run_max \(processed)
                """).first() else { continue }
            let n = try row.decode(column: "n", as: Int.self)
            guard n > 0 else { continue }
            func quantile(_ expression: SQLQueryString, _ fraction: Double) async throws -> Double {
                let offset = QueueStatusSnapshot.TimeSummary.rankIndex(fraction, count: n)
                return try await sql.raw("""
                    SELECT v FROM (SELECT \(expression) AS v \(processed)) AS window_values ORDER BY v LIMIT 1 OFFSET \(bind: offset)
                    """).first()?.decode(column: "v", as: Double.self) ?? 0
            }
            activity[name]?.wait = .init(count: n, mean: try row.decode(column: "wait_mean", as: Double?.self) ?? 0,
                                         p50: try await quantile(wait, 0.5), p95: try await quantile(wait, 0.95),
                                         max: try row.decode(column: "wait_max", as: Double?.self) ?? 0)
            activity[name]?.run = .init(count: n, mean: try row.decode(column: "run_mean", as: Double?.self) ?? 0,
                                        p50: try await quantile(run, 0.5), p95: try await quantile(run, 0.95),
                                        max: try row.decode(column: "run_max", as: Double?.self) ?? 0)
        }
        return QueueStatusSnapshot(taken: now, windowSeconds: windowSeconds, counts: counts, ghosts: ghosts, activity: activity,
                                   consumers: consumers.sorted(), oldestQueuedAge: oldest.map { max(0, now - $0) })
    }
}

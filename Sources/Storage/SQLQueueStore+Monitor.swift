import FluentKit
import QueueCore
import SQLKit

/// What the queue monitor page shows, read as aggregates and one page of rows: the monitor refreshes every 5
/// seconds in every open browser, and before it read every task's body and up to 50,000 history rows per view.
extension SQLQueueStore {
    /// Two `GROUP BY` statements: the window's attempts by bucket and outcome (through `queue_history_finished`),
    /// and the tasks' spans (first creation, last end, per task uid of the window's history and of the queued and
    /// running tasks) counted by the bucket they entered and the bucket they left in.
    public func activity(now: Double, windowSeconds: Double, bucketSeconds: Double) async throws -> QueueActivity {
        let sql = try self.sql
        var activity = QueueActivity(now: now, windowSeconds: windowSeconds, bucketSeconds: bucketSeconds)
        let start = activity.windowStart
        let count = activity.buckets.count
        // The bucket of a time, as QueueActivity.bucketIndex: -1 before the window, `count` after now.
        func bucket(_ time: SQLQueryString) -> SQLQueryString {
            let offset: SQLQueryString = "(\(time) - \(bind: start)) / \(bind: bucketSeconds)"
            let floor: SQLQueryString = Self.isPostgres(sql) ? "CAST(FLOOR(\(offset)) AS BIGINT)" : "CAST(\(offset) AS INTEGER)"
            return """
                CASE WHEN \(time) < \(bind: start) THEN -1 WHEN \(time) > \(bind: now) THEN \(bind: count)
                     WHEN \(floor) > \(bind: count - 1) THEN \(bind: count - 1) ELSE \(floor) END
                """
        }
        for row in try await sql.raw("""
            SELECT k, outcome, COUNT(*) AS n FROM (
                SELECT \(bucket("finished")) AS k, outcome FROM queue_history
                WHERE finished >= \(bind: start) AND finished <= \(bind: now)
            ) AS ended GROUP BY k, outcome
            """).all() {
            let index = try row.decode(column: "k", as: Int.self)
            guard activity.buckets.indices.contains(index),
                  let outcome = HistoryEntry.Outcome(rawValue: try row.decode(column: "outcome", as: String.self)) else { continue }
            let n = try row.decode(column: "n", as: Int.self)
            if outcome == .done { activity.buckets[index].processed += n }
            if QueueActivity.failureOutcomes.contains(outcome) { activity.buckets[index].failed += n }
        }
        // Queued and running tasks stay in the queue past now: their span ends after it.
        let open = now + bucketSeconds + 1
        var entered: [Int: Int] = [:], left: [Int: Int] = [:]
        for row in try await sql.raw("""
            WITH spans AS (
                SELECT MIN(s) AS s, MAX(e) AS e FROM (
                    SELECT task_uid, created AS s, finished AS e FROM queue_history WHERE finished >= \(bind: start)
                    UNION ALL
                    SELECT task_uid, created AS s, \(bind: open) AS e FROM queue_tasks WHERE status <> 'failed'
                ) AS parts GROUP BY task_uid
            )
            SELECT 'entered' AS edge, k, COUNT(*) AS n FROM (SELECT \(bucket("s")) AS k FROM spans) AS starts GROUP BY k
            UNION ALL
            SELECT 'left' AS edge, k, COUNT(*) AS n FROM (
                SELECT \(bucket("CASE WHEN e > s THEN e ELSE s END")) AS k FROM spans
            ) AS ends GROUP BY k
            """).all() {
            let index = try row.decode(column: "k", as: Int.self)
            let n = try row.decode(column: "n", as: Int.self)
            if try row.decode(column: "edge", as: String.self) == "entered" {
                entered[index, default: 0] += n
            } else {
                left[index, default: 0] += n
            }
        }
        activity.addSpans(entered: entered, left: left)
        return activity
    }

    public func consumersLastSeen(since: Double, now: Double) async throws -> [String: Double] {
        var seen: [String: Double] = [:]
        for row in try await sql.raw("""
            SELECT consumer_id, MAX(finished) AS seen FROM queue_history
            WHERE finished >= \(bind: since) AND finished <= \(bind: now) AND consumer_id IS NOT NULL AND consumer_id <> ''
            GROUP BY consumer_id
            """).all() {
            seen[try row.decode(column: "consumer_id", as: String.self)] = try row.decode(column: "seen", as: Double.self)
        }
        return seen
    }

    /// The totals in one `GROUP BY ghost, status`; the page by `queue_tasks_order` (`LIMIT`/`OFFSET`); for `.all`,
    /// the positions from a count of the active tasks among the index entries before the page.
    public func taskPage(_ filter: TaskListFilter, offset: Int, limit: Int) async throws -> TaskPage {
        let sql = try self.sql
        var totals: [TaskListFilter: Int] = [.active: 0, .failed: 0, .all: 0]
        for row in try await sql.raw("SELECT ghost, status, COUNT(*) AS n FROM queue_tasks GROUP BY ghost, status").all() {
            let n = try row.decode(column: "n", as: Int.self)
            totals[.all, default: 0] += n
            guard try row.decode(column: "ghost", as: Int.self) == 0 else { continue }
            totals[try row.decode(column: "status", as: String.self) == TaskStatus.failed.rawValue ? .failed : .active, default: 0] += n
        }
        let offset = min(max(0, offset), Self.maxOffset), limit = min(max(0, limit), Self.maxOffset)
        let active: SQLQueryString = "ghost = 0 AND status <> 'failed'"
        let filtering: SQLQueryString
        switch filter {
        case .active: filtering = "WHERE \(active)"
        case .failed: filtering = "WHERE ghost = 0 AND status = 'failed'"
        case .all: filtering = ""
        }
        let order: SQLQueryString = "ORDER BY CASE status WHEN 'failed' THEN 1 ELSE 0 END, top_rank, sort_key, context_uid, task_uid"
        let rows = try await sql.raw("""
            SELECT \(Self.taskColumns) FROM queue_tasks \(filtering) \(order) LIMIT \(bind: limit) OFFSET \(bind: offset)
            """).all()
        let tasks = try rows.map(Self.decodeTask)
        var next: Int
        switch filter {
        case .active: next = offset + 1
        case .failed: next = 0
        case .all:
            let before = try await sql.raw("""
                SELECT COUNT(*) AS n FROM (SELECT ghost, status FROM queue_tasks \(order) LIMIT \(bind: offset)) AS head
                WHERE \(active)
                """).first()
            next = try before?.decode(column: "n", as: Int.self) ?? 0
            next += 1
        }
        let positions = tasks.map { task -> Int? in
            guard TaskListFilter.active.includes(task) else { return nil }
            defer { next += 1 }
            return next
        }
        return TaskPage(tasks: tasks, filter: filter, totals: totals, positions: positions)
    }
}

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

    /// The totals in one `GROUP BY ghost, status`; the page from the queue order index: the first `offset + limit`
    /// queued and the first running tasks (few: at most `max_consumers` run) in index order, merged, then the
    /// page's rows by uid, and failed tasks from their own range. Positions count the active tasks of the merged
    /// prefix. (It sorted every task with its body by an expression before: 257 ms a page at 100,000 queued tasks,
    /// while the monitor refreshes every 5 s; found by a tryout.)
    public func taskPage(_ filter: TaskListFilter, offset: Int, limit: Int) async throws -> TaskPage {
        let sql = try self.sql
        var totals: [TaskListFilter: Int] = [.active: 0, .failed: 0, .all: 0]
        var notFailed = 0
        for row in try await sql.raw("SELECT ghost, status, COUNT(*) AS n FROM queue_tasks GROUP BY ghost, status").all() {
            let n = try row.decode(column: "n", as: Int.self)
            let failed = try row.decode(column: "status", as: String.self) == TaskStatus.failed.rawValue
            totals[.all, default: 0] += n
            if !failed { notFailed += n }
            guard try row.decode(column: "ghost", as: Int.self) == 0 else { continue }
            totals[failed ? .failed : .active, default: 0] += n
        }
        let offset = min(max(0, offset), Self.maxOffset), limit = min(max(0, limit), Self.maxOffset)
        let end = min(offset + limit, Self.maxOffset)
        var page: [PageKey] = []
        var positions: [Int?] = []
        switch filter {
        case .failed:
            page = try await Self.pageKeys(status: .failed, ghosts: false, limit: limit, offset: offset, on: sql)
            positions = page.map { _ in nil }
        case .active, .all:
            let ghosts = filter == .all
            let queued = try await Self.pageKeys(status: .queued, ghosts: ghosts, limit: end, offset: 0, on: sql)
            let running = try await Self.pageKeys(status: .running, ghosts: ghosts, limit: end, offset: 0, on: sql)
            let merged = Array((queued + running).sorted(by: PageKey.inQueueOrder).prefix(end))
            var position = 0
            for (index, key) in merged.enumerated() {
                if !key.ghost { position += 1 }
                guard index >= offset else { continue }
                page.append(key)
                positions.append(key.ghost ? nil : position)
            }
            if ghosts, page.count < limit {
                // Failed tasks come after every other one.
                let failed = try await Self.pageKeys(status: .failed, ghosts: true, limit: limit - page.count,
                                                     offset: max(0, offset - notFailed), on: sql)
                page += failed
                positions += failed.map { _ in nil }
            }
        }
        var rows: [String: QueueTask] = [:]
        if !page.isEmpty {
            let uids = SQLList(page.map { SQLBind($0.taskUID) })
            for row in try await sql.raw("SELECT \(Self.taskColumns) FROM queue_tasks WHERE task_uid IN (\(uids))").all() {
                let task = try Self.decodeTask(row)
                rows[task.taskUID] = task
            }
        }
        // A task gone between the two reads (finished meanwhile) is left out.
        var tasks: [QueueTask] = []
        var shown: [Int?] = []
        for (key, position) in zip(page, positions) {
            guard let task = rows[key.taskUID] else { continue }
            tasks.append(task)
            shown.append(position)
        }
        return TaskPage(tasks: tasks, filter: filter, totals: totals, positions: shown)
    }

    /// A task's place in the monitor's order: `(top_rank, sort_key, context_uid, task_uid)`, and whether it is a ghost.
    struct PageKey {
        var taskUID: String
        var ghost: Bool
        var order: TaskOrder

        static func inQueueOrder(_ a: PageKey, _ b: PageKey) -> Bool {
            a.order != b.order ? a.order < b.order : a.taskUID < b.taskUID
        }
    }

    /// The first `limit` tasks of `status` after `offset` in queue order, read from the queue order index
    /// (`status` equal, then its order), without ghosts unless `ghosts`.
    static func pageKeys(status: TaskStatus, ghosts: Bool, limit: Int, offset: Int, on sql: any SQLDatabase) async throws -> [PageKey] {
        guard limit > 0 else { return [] }
        let ghostFilter: SQLQueryString = ghosts ? "" : " AND ghost = 0"
        return try await sql.raw("""
            SELECT task_uid, ghost, top_rank, sort_key, context_uid FROM queue_tasks
            WHERE status = \(bind: status.rawValue)\(ghostFilter)
            ORDER BY top_rank, sort_key, context_uid, task_uid LIMIT \(bind: limit) OFFSET \(bind: offset)
            """).all().map { row in
            PageKey(taskUID: try row.decode(column: "task_uid", as: String.self),
                    ghost: try row.decode(column: "ghost", as: Int.self) != 0,
                    order: TaskOrder(topRank: try row.decode(column: "top_rank", as: Int.self),
                                     sortKey: try row.decode(column: "sort_key", as: Double.self),
                                     contextUID: try row.decode(column: "context_uid", as: String.self)))
        }
    }
}

import QueueCore
import SQLKit

extension SQLQueueStore {
    /// Promotes the delayed tasks that came due by `now` (one step ahead, `now.nextUp`: a task created ahead of the
    /// server's clock is written due one step after its `created`, ``readyAvailableAt(of:now:)``, and is claimable from
    /// its `created`) into the claims' index (``AddReadyTaskIndex``): their
    /// `available_at` becomes their `created` (the column is the claims' alone; a task's delay stays in its body).
    /// One seek in `queue_tasks_delayed` when none came due. On PostgreSQL rows another transaction holds are skipped
    /// (`FOR UPDATE SKIP LOCKED`), never waited for: a claim holding the cap lock never waits for a row (see
    /// ``finishRecordingStatement(_:now:locking:on:)``); they are promoted by a later claim.
    /// - Returns: when the next delayed task comes due, epoch seconds (nil: none waits).
    static func promoteDueTasks(now: Double, on sql: any SQLDatabase) async throws -> Double? {
        let postgres = isPostgres(sql)
        let lock: SQLQueryString = postgres ? " FOR UPDATE SKIP LOCKED" : ""
        // As in nextDelayed: `status` a filter only, so SQLite's planner takes the partial index.
        try await sql.raw("""
            UPDATE queue_tasks SET available_at = created WHERE task_uid IN (
                SELECT task_uid FROM queue_tasks
                WHERE available_at > created AND available_at <= \(bind: now.nextUp) AND \(filterOnly("status", on: sql)) = 'queued'\(lock))
            """).run()
        return try await nextDelayed(after: now, on: sql)
    }

    /// The `available_at` column of `task` written at `now`: its `created` (in the claims' index) when it is due by
    /// then (`created + delay <= now`, or no delay), else `created + delay` (waiting for a claim's promotion). A
    /// failed task re-queued from another process, or a client's task with an old `created`, is then claimable at
    /// once on every server: written unpromoted, a server whose watch did not know of it took up to 5 s to claim it
    /// for a waiting long-poll (a tryout, two servers). Without `now` only a task without a delay is written due.
    ///
    /// A task without a delay whose `created` is after `now` (a client's clock ahead of the server's: senaite.queue
    /// clients send their own `created`) is written as delayed by the smallest step (`created.nextUp`, a fraction of a
    /// microsecond): so `nextAvailableAt` tells a waiting long-poll when it becomes claimable. Written due, a long-poll
    /// missed it until its 5 s retry (created 2 s ahead: claimed after 5.5 s; a tryout).
    static func readyAvailableAt(of task: QueueTask, now: Double?) -> Double {
        if task.availableAt <= max(task.created, now ?? task.created) {
            if let now, task.created > now { return task.created.nextUp }
            return task.created
        }
        return task.availableAt
    }

    /// When the first queued delayed task not yet promoted comes due (nil: none waits); with `now`, the first not due
    /// at `now`. One seek in the partial index `queue_tasks_delayed` (``AddDelayedTaskIndex``), whatever the queue's
    /// length.
    static func nextDelayed(after now: Double?, on sql: any SQLDatabase) async throws -> Double? {
        let after: SQLQueryString = now.map { " AND available_at > \(bind: $0)" } ?? ""
        // The queue order index left out, so SQLite's planner takes the partial index, whose condition the query repeats.
        let row = try await sql.raw("""
            SELECT available_at FROM queue_tasks
            WHERE available_at > created\(after) AND \(filterOnly("status", on: sql)) = 'queued'
            ORDER BY available_at LIMIT 1
            """).first()
        return try row?.decode(column: "available_at", as: Double.self)
    }

    /// Notes tasks this process wrote queued with a delay at `now` (``readyAvailableAt(of:now:)``; nil: not known)
    /// (``DelayedTaskWatch/note(availableAt:)``), so the claim from when they come due promotes them.
    func noteDelayed(_ tasks: some Sequence<QueueTask>, now: Double?) {
        for task in tasks where (task.status ?? .queued) == .queued {
            let availableAt = Self.readyAvailableAt(of: task, now: now)
            if availableAt > task.created { delayedTasks.note(availableAt: availableAt) }
        }
    }
}

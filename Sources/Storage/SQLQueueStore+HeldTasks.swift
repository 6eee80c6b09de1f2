import QueueCore
import SQLKit

extension SQLQueueStore {
    /// Tasks at the head of the claims' index one hold pass looks at (``holdBlockedTasks(window:on:)``): a few times
    /// what a claim reads (``oneStatementWindow``, pages of ``claimPageSize``); a longer run of blocked tasks there takes
    /// several passes of one round. 512 made each pass of a long queue read 512 tasks whether or not any was blocked.
    static let holdWindow = 64

    /// Holds the blocked tasks among the first `window` tasks of the claims' index (queued, due, not held, in queue
    /// order): those whose name and path key a running task holds. A held task leaves the claims' index
    /// (``AddHeldTasks``) until a trigger releases it, when no task of its key runs any more; so a pop no longer reads
    /// past it. Only the head of the index is looked at: that is what claims walk, and blocked tasks further back
    /// are held by later passes as the head reaches them.
    ///
    /// On PostgreSQL the running task of each key is read `FOR SHARE`: a transaction that ends it (a done, which
    /// deletes it) waits for this statement's commit and its trigger then sees the tasks held here, or this statement
    /// waits for that transaction and, the task gone, holds nothing; several servers' passes at once each hold only
    /// what is not held yet. On SQLite write transactions take turns.
    /// - Returns: how many tasks were held.
    static func holdBlockedTasks(window: Int = holdWindow, on sql: any SQLDatabase) async throws -> Int {
        let postgres = isPostgres(sql)
        if postgres {
            // As the claims: the walk of the claims' index, whatever the planner statistics say.
            try await sql.raw("SELECT \(unsafeRaw: claimScanSettings)").run()
        }
        let lockRunning: SQLQueryString = postgres ? " FOR SHARE" : ""
        return try await sql.raw("""
            UPDATE queue_tasks SET held = 1
            WHERE task_uid IN (
                SELECT q.task_uid FROM (
                    SELECT task_uid, name, path_key FROM queue_tasks\(readyIndex(on: sql))
                    WHERE status = 'queued' AND available_at <= created AND held = 0
                    ORDER BY top_rank, sort_key, context_uid
                    LIMIT \(bind: window)
                ) q
                WHERE q.path_key <> '' AND EXISTS (
                    SELECT 1 FROM queue_tasks r WHERE r.status = 'running' AND r.path_key <> ''
                    AND r.name = q.name AND r.path_key = q.path_key\(lockRunning))
            ) AND status = 'queued' AND held = 0
            RETURNING task_uid
            """).all().count
    }

    /// Most tasks one hold pass looks at: a pass that held its whole window doubles it for the next, up to this, so a
    /// long run of blocked tasks at the head (20,000 tasks of one worksheet) is held within one round of passes while a
    /// queue with nothing blocked is read 64 tasks deep.
    static let maxHoldWindow = 4_096

    /// Runs hold passes (``holdBlockedTasks(window:on:)``), each in a write transaction of its own, until one holds
    /// fewer than its window or `maxPasses` ran; a pass that held its whole window doubles the next one's (at most
    /// ``maxHoldWindow``), on the writer, queued behind its work. (On PostgreSQL a pooled connection beside the writer
    /// was tried: no faster within `bench queue`'s noise, and one more connection per server, which took the test
    /// suite's PostgreSQL past its 400 connections.)
    /// - Returns: the tasks held in all.
    @discardableResult
    public func holdBlockedTasks(maxPasses: Int = 16) async throws -> Int {
        var held = 0
        var window = Self.holdWindow
        for _ in 0..<maxPasses {
            let size = window
            // A pass that holds nothing writes nothing: its success says nothing of the disk's room.
            let count = try await transaction(.rows, provesRoom: false) { sql in try await Self.holdBlockedTasks(window: size, on: sql) }
            held += count
            if count < size { break }
            window = min(window * 2, Self.maxHoldWindow)
        }
        return held
    }

    /// Whether a batch may have left tasks blocked at the head of the claims' index: it claimed or added a task with
    /// a serialization key (a claimed one blocks the queued tasks of its key; an added one may wait behind a running
    /// task of its key).
    static func mayBlock(claimed: [[ClaimedTaskRow]], added: [StagedTask]) -> Bool {
        claimed.contains { $0.contains { !$0.pathKey.isEmpty } } || added.contains { !$0.pathKey.isEmpty }
    }
}

import PostgresStatements
import QueueCore
import SQLKit

extension SQLQueueStore {
    /// Runs of the pops of a batch that ``claimShared(_:now:cap:on:)`` serves together, as index ranges: two or more
    /// consecutive pops (plain or batched) of distinct consumers. Only consecutive ones of distinct consumers: a
    /// second pop of a consumer must see the tasks its first pop claimed running (its `max` counts them; a plain pop
    /// gets nothing while its consumer runs a task), so it starts a new run, which claims after the previous one.
    static func sharedClaimRuns(_ pops: [DatabaseWriter.ClaimRequest.Pop]) -> [Range<Int>] {
        var runs: [Range<Int>] = []
        var start = 0
        var consumers: Set<String> = []
        for index in pops.indices where !consumers.insert(pops[index].consumerID).inserted {
            if index - start >= 2 { runs.append(start..<index) }
            start = index
            consumers = [pops[index].consumerID]
        }
        if pops.count - start >= 2 { runs.append(start..<pops.count) }
        return runs
    }

    /// The one-statement claim (``claimInOneStatement(_:now:cap:on:)``, which is this for one pop) for pops of
    /// distinct consumers at once, as if they ran one after the other in request order: the first due tasks no running task blocks (at most
    /// one per name and context) go to the first pop, as many as it may take (`max` less its consumer's running
    /// tasks: none for a plain pop whose consumer runs one), the next ones to the next pop, and so on, within
    /// `max_consumers` (`cap`) less every running task, and nothing while a lease has expired. A batch of pops then
    /// costs one statement instead of one per pop: on PostgreSQL each statement is a round trip of 0.25-0.5 ms on this
    /// 2-core machine, 1.6 ms for a batched claim under load.
    ///
    /// A pop that gets fewer than it asked for claims stepwise afterwards (the caller does, in request order), which
    /// also looks past the window of candidates, answers "busy" or "saturated", expires leases and purges. The outcome
    /// is that of the pops one after the other: tasks go to the pops in order, so once one gets fewer than its share,
    /// none after it got any. A pop of a consumer that runs a task gets the same either way, but were its stepwise
    /// claim to purge that task (a plain pop 10 s after its consumer's claim), the pops after it in the run did not
    /// see the purge, as if they had come first.
    /// - Parameter pops: pops of distinct consumers (a run of ``sharedClaimRuns(_:)``), in request order.
    /// - Returns: the tasks claimed per consumer id, in queue order (none for a pop that got nothing), and whether the
    ///   statement saw every claimable task: fewer due tasks than its window and no lapsed lease (PostgreSQL only;
    ///   always false on SQLite). Then a stepwise claim after it could claim nothing more for a batched pop, and
    ///   is skipped (``claimEach(_:now:settings:concurrency:oneStatement:capLocked:notifying:on:)``).
    static func claimShared(_ pops: [DatabaseWriter.ClaimRequest.Pop], now: Double, cap: Int,
                            on sql: any SQLDatabase) async throws -> (claimed: [String: [ClaimedTaskRow]], sawAll: Bool)
    {
        let nonces = pops.map { _ in String(TaskUID.make().prefix(16)) }
        var claimed: [String: [(order: TaskOrder, task: ClaimedTaskRow)]] = [:]
        let reportsWindow = isPostgres(sql)
        let window = claimWindow(pops)
        var sawAll = reportsWindow
        for row in try await sql.raw(sharedClaimStatement(pops, now: now, cap: cap, nonces: nonces, on: sql)).all() {
            if reportsWindow {
                let seen = try row.decode(column: "due_seen", as: Int.self)
                let lapsed = try row.decode(column: "lapsed", as: Bool.self)
                sawAll = sawAll && !lapsed && seen < window
                // The one row of a claim that took nothing.
                if try row.decodeNil(column: "task_uid") { continue }
            }
            let order = TaskOrder(topRank: try row.decode(column: "top_rank", as: Int.self),
                                  sortKey: try row.decode(column: "sort_key", as: Double.self),
                                  contextUID: try row.decode(column: "context_uid", as: String.self))
            // Decoded by the requesters, off the writer (``ClaimedTaskRow``).
            let task = try ClaimedTaskRow(row: row)
            if let consumerID = task.consumerID { claimed[consumerID, default: []].append((order, task)) }
        }
        return (claimed.mapValues { tasks in tasks.sorted { $0.order < $1.order }.map(\.task) }, sawAll)
    }

    /// Due tasks the claim statement of `pops` looks at, at most: ``oneStatementWindow``, or twice the tasks the
    /// pops may take when that is more.
    static func claimWindow(_ pops: [DatabaseWriter.ClaimRequest.Pop]) -> Int {
        max(oneStatementWindow, 2 * pops.reduce(0) { $0 + $1.max })
    }

    /// The statement of ``claimShared(_:now:cap:on:)``: `pops` with one lease nonce each (16 hex digits), each
    /// claimed task's lease token being its pop's nonce and 16 digits of the task's uid. Returns ``taskColumns`` and
    /// the queue order columns. The pops' shares become numbered slots (a recursive CTE: one row per task a pop may
    /// take), which the free candidates fill in queue order. On PostgreSQL the update is a part of its own and each
    /// row also says how many due tasks the statement looked at (`due_seen`) and whether a lease had lapsed
    /// (`lapsed`), with one row of those alone (its task columns NULL) when it claimed nothing: for a batched pop the
    /// stepwise claim that followed every claim short of its `max` (two more statements, 0.3-0.5 ms each here) is
    /// then skipped when it could find nothing (``claimShared(_:now:cap:on:)``), as when a long-poll of a batched
    /// consumer is answered with the one task just added, or finds the queue empty.
    static func sharedClaimStatement(_ pops: [DatabaseWriter.ClaimRequest.Pop], now: Double, cap: Int, nonces: [String],
                                     on sql: any SQLDatabase) -> SQLQueryString
    {
        let postgres = isPostgres(sql)
        let greatest: SQLQueryString = postgres ? "GREATEST" : "MAX"
        let lock: SQLQueryString = postgres ? " FOR UPDATE SKIP LOCKED" : ""
        let rows = SQLList(zip(pops.indices, nonces).map { index, nonce -> SQLQueryString in
            "(\(unsafeRaw: String(index + 1)), \(bind: pops[index].consumerID), \(bind: pops[index].max), \(bind: nonce))"
        })
        let window = claimWindow(pops)
        // Prepared on PostgreSQL (a statement per number of pops). Planning it was 0.6 ms of every claim, on the
        // writer, twice its execution (`pg_stat_statements`, `bench queue` one task per pop). A generic plan made
        // while the table was empty once walked the whole queue with sequential scans when it filled (claims of
        // 66-440 ms until autovacuum analyzed it; stop 26's tryout with two servers), which is why it ran unprepared
        // until stop 29: it runs after the cap lock's statement, which turns sequential and bitmap scans off and forces
        // generic plans for the claim's transaction (``claimScanSettings``), so its plan walks the indexes whatever
        // the statistics (``ClaimPlanTests``: a generic plan made on an empty table, run on 2,000 queued tasks).
        // The update joins `assigned` (`UPDATE ... FROM`: a nested loop of primary-key seeks on PostgreSQL, as its plan
        // test checks), each row taking its consumer and nonce from its own assigned row. Until stop 38 it took them
        // with two correlated subqueries, each of which scanned all of `assigned` for every claimed row (48 x 48 rows
        // twice for a batch of 48, `auto_explain` with `log_analyze`), and found the rows with `task_uid = ANY (ARRAY
        // (SELECT ...))`, which kept the planner from joining `assigned` against every queued row.
        return """
            \(unsafeRaw: PreparedStatementRegistry.withMarker) WITH RECURSIVE pops(ord, consumer_id, max_tasks, nonce) AS (VALUES \(rows)),
            lapsed AS (
                SELECT EXISTS (SELECT 1 FROM queue_tasks WHERE status = 'running' AND lease_expires < \(bind: now)) AS any_lapsed
            ),
            budget AS (
                SELECT CASE
                    WHEN (SELECT any_lapsed FROM lapsed) THEN 0
                    ELSE \(bind: cap) - (SELECT COUNT(*) FROM queue_tasks WHERE status = 'running')
                END AS n
            ),
            shares AS (
                SELECT p.ord, p.consumer_id, p.nonce,
                    p.max_tasks - (SELECT COUNT(*) FROM queue_tasks r WHERE r.status = 'running' AND r.consumer_id = p.consumer_id) AS n
                FROM pops p
            ),
            places(ord, consumer_id, nonce, k, n) AS (
                SELECT ord, consumer_id, nonce, 1, n FROM shares WHERE n >= 1
                UNION ALL
                SELECT ord, consumer_id, nonce, k + 1, n FROM places WHERE k < n
            ),
            slots AS (
                SELECT consumer_id, nonce, ROW_NUMBER() OVER (ORDER BY ord, k) AS slot FROM places
            ),
            due AS (
                SELECT task_uid, name, path_key, top_rank, sort_key, context_uid FROM queue_tasks\(readyIndex(on: sql))
                WHERE status = 'queued' AND available_at <= created AND held = 0 AND available_at <= \(bind: now) AND \(notBlocked("queue_tasks"))
                ORDER BY top_rank, sort_key, context_uid
                LIMIT \(bind: window)\(lock)
            ),
            free AS (
                SELECT d.task_uid, d.top_rank, d.sort_key, d.context_uid,
                    ROW_NUMBER() OVER (
                        PARTITION BY d.name, CASE WHEN d.path_key = '' THEN d.task_uid ELSE d.path_key END
                        ORDER BY d.top_rank, d.sort_key, d.context_uid) AS turn
                FROM due d
            ),
            picked AS (
                SELECT task_uid, ROW_NUMBER() OVER (ORDER BY top_rank, sort_key, context_uid) AS slot FROM free WHERE turn = 1
                ORDER BY top_rank, sort_key, context_uid
                LIMIT (SELECT \(greatest)(n, 0) FROM budget)
            ),
            assigned AS (
                SELECT k.task_uid AS assigned_uid, s.consumer_id AS assigned_consumer, s.nonce AS assigned_nonce
                FROM picked k JOIN slots s ON s.slot = k.slot
            )
            \(unsafeRaw: postgres ? ", claimed AS (" : "")UPDATE queue_tasks SET status = 'running', started = \(bind: now), lease_expires = \(bind: now) + max_seconds,
                consumer_id = a.assigned_consumer, lease_token = a.assigned_nonce || substr(task_uid, 1, 16)
            FROM assigned a
            WHERE task_uid = a.assigned_uid AND \(filterOnly("status", on: sql)) = 'queued'
            RETURNING \(taskColumns), task_uid, path_key, top_rank, sort_key, context_uid\(unsafeRaw: postgres ? """
            )
            SELECT c.*, s.due_seen, s.lapsed FROM (SELECT (SELECT COUNT(*) FROM due) AS due_seen, (SELECT any_lapsed FROM lapsed) AS lapsed) s
            LEFT JOIN claimed c ON TRUE
            """ : "")
            """
    }
}

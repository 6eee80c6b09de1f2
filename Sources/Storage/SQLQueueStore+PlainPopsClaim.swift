import PostgresStatements
import QueueCore
import SQLKit

extension SQLQueueStore {
    /// Runs of the pops of a batch that ``claimPlainPops(_:now:cap:on:)`` serves together, as index ranges: two or
    /// more consecutive plain pops (`max` 1, not batched) of distinct consumers. Only consecutive ones: a pop between
    /// them (batched, or a second pop of a consumer of the run, which must see the first one's task running) would
    /// otherwise be served after pops that came after it.
    static func sharedClaimRuns(_ pops: [DatabaseWriter.ClaimRequest.Pop]) -> [Range<Int>] {
        var runs: [Range<Int>] = []
        var start = 0
        var consumers: Set<String> = []
        for index in pops.indices {
            let plain = !pops[index].batch && pops[index].max == 1
            if plain, consumers.insert(pops[index].consumerID).inserted { continue }
            if index - start >= 2 { runs.append(start..<index) }
            start = plain ? index : index + 1
            consumers = plain ? [pops[index].consumerID] : []
        }
        if pops.count - start >= 2 { runs.append(start..<pops.count) }
        return runs
    }

    /// The one-statement claim (``claimInOneStatement(_:now:cap:on:)``) for several plain pops of distinct consumers
    /// at once, as if they ran one after the other in request order: the first due task no running task blocks goes
    /// to the first pop whose consumer runs no task, the next such task of another key to the next pop, and so on,
    /// within `max_consumers` (`cap`) less every running task, and nothing while a lease has expired. A batch of
    /// plain pops (senaite.queue consumers, one task per pop) then costs one statement instead of one per pop: on
    /// PostgreSQL each statement is a round trip of 0.25-0.5 ms on this 2-core machine.
    ///
    /// A pop it gives nothing to claims stepwise afterwards (the caller does, in request order), which also answers
    /// "busy" or "saturated", expires leases and purges. The outcome is that of the pops one after the other: tasks go
    /// to eligible pops in order, so once one gets nothing none after it got any; a pop of a consumer that runs a task
    /// gets nothing either way, but were its stepwise claim to purge that task (a plain pop 10 s after its consumer's
    /// claim), the pops after it in the run did not see the purge, as if they had come first.
    /// - Parameter pops: plain pops of distinct consumers (a run of ``sharedClaimRuns(_:)``), in request order.
    /// - Returns: the task claimed per consumer id (none for a pop that got nothing).
    static func claimPlainPops(_ pops: [DatabaseWriter.ClaimRequest.Pop], now: Double, cap: Int,
                               on sql: any SQLDatabase) async throws -> [String: QueueTask]
    {
        let nonces = pops.map { _ in String(TaskUID.make().prefix(16)) }
        var claimed: [String: QueueTask] = [:]
        for row in try await sql.raw(plainPopsStatement(pops, now: now, cap: cap, nonces: nonces, on: sql)).all() {
            let task = try decodeTask(row)
            if let consumerID = task.consumerID { claimed[consumerID] = task }
        }
        return claimed
    }

    /// The statement of ``claimPlainPops(_:now:cap:on:)``: `pops` with one lease nonce each (16 hex digits), each
    /// claimed task's lease token being its pop's nonce and 16 digits of the task's uid. Returns ``taskColumns``.
    static func plainPopsStatement(_ pops: [DatabaseWriter.ClaimRequest.Pop], now: Double, cap: Int, nonces: [String],
                                   on sql: any SQLDatabase) -> SQLQueryString
    {
        let postgres = isPostgres(sql)
        let greatest: SQLQueryString = postgres ? "GREATEST" : "MAX"
        let lock: SQLQueryString = postgres ? " FOR UPDATE SKIP LOCKED" : ""
        // As in claimStatement: the uids as an array the primary key is searched with on PostgreSQL.
        let assigned: SQLQueryString = postgres ? "= ANY (ARRAY(SELECT task_uid FROM assigned))" : "IN (SELECT task_uid FROM assigned)"
        let rows = SQLList(zip(pops.indices, nonces).map { index, nonce -> SQLQueryString in
            "(\(unsafeRaw: String(index + 1)), \(bind: pops[index].consumerID), \(bind: nonce))"
        })
        // Prepared on PostgreSQL like claimStatement (one statement per number of pops); its generic plan was checked
        // the same way (ClaimPlanTests).
        return """
            \(unsafeRaw: PreparedStatementRegistry.withMarker) WITH pops(ord, consumer_id, nonce) AS (VALUES \(rows)),
            budget AS (
                SELECT CASE
                    WHEN EXISTS (SELECT 1 FROM queue_tasks WHERE status = 'running' AND lease_expires < \(bind: now)) THEN 0
                    ELSE \(bind: cap) - (SELECT COUNT(*) FROM queue_tasks WHERE status = 'running')
                END AS n
            ),
            eligible AS (
                SELECT p.consumer_id, p.nonce, ROW_NUMBER() OVER (ORDER BY p.ord) AS slot FROM pops p
                WHERE NOT EXISTS (SELECT 1 FROM queue_tasks r WHERE r.status = 'running' AND r.consumer_id = p.consumer_id)
            ),
            due AS (
                SELECT task_uid, name, path_key, top_rank, sort_key, context_uid FROM queue_tasks
                WHERE status = 'queued' AND available_at <= \(bind: now) AND \(notBlocked("queue_tasks"))
                ORDER BY top_rank, sort_key, context_uid
                LIMIT \(bind: max(oneStatementWindow, 2 * pops.count))\(lock)
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
                SELECT k.task_uid, e.consumer_id, e.nonce FROM picked k JOIN eligible e ON e.slot = k.slot
            )
            UPDATE queue_tasks SET status = 'running', started = \(bind: now), lease_expires = \(bind: now) + max_seconds,
                consumer_id = (SELECT a.consumer_id FROM assigned a WHERE a.task_uid = queue_tasks.task_uid),
                lease_token = (SELECT a.nonce FROM assigned a WHERE a.task_uid = queue_tasks.task_uid) || substr(task_uid, 1, 16)
            WHERE task_uid \(assigned) AND \(filterOnly("status", on: sql)) = 'queued'
            RETURNING \(taskColumns)
            """
    }
}

import PostgresStatements
import QueueCore
import SQLKit

extension SQLQueueStore {
    /// Candidates one statement claim looks at, at least (queued, due, in queue order); a batched pop of `max`
    /// tasks looks at `2 x max` when that is more.
    static let oneStatementWindow = 8

    /// Claims for each pop, in request order. With `oneStatement` each pop first tries
    /// ``claimInOneStatement(_:now:cap:on:)`` (two or more consecutive pops of distinct consumers: one
    /// ``claimShared(_:now:cap:on:)`` for them all); when that claims fewer than the pop's `max`, the stepwise claim
    /// (``claim(for:now:settings:concurrency:on:)``) claims the rest. Without `oneStatement` the stepwise claim serves
    /// every pop of the batch at once. The stepwise claim also
    /// expires leases, purges and answers "busy" or "saturated" exactly as reference 1.2 says. On PostgreSQL the
    /// claims of every server are serialized by the cap lock (`pg_advisory_xact_lock`, held until the commit),
    /// taken once before the first claim, so each claim statement's snapshot sees every claim committed before it;
    /// the same statement turns bitmap scans off for the rest of the claim transaction (see the comment there).
    /// - Parameter notifying: with the one-statement claim on PostgreSQL, the origin of a change notification to send
    ///   in the cap lock's statement (``announceChange(on:origin:)``'s `pg_notify`, delivered at the commit like any
    ///   other): a batch whose dones or adds are to be announced saves that round trip. Ignored otherwise, which
    ///   ``notifiesWithLock(concurrency:oneStatement:)`` tells. Default: none.
    /// - Returns: the tasks claimed per pop, in queue order, and whether work was freed (a lease expired or a task
    ///   was purged).
    static func claimEach(_ pops: [DatabaseWriter.ClaimRequest.Pop], now: Double, settings: QueueSettings,
                          concurrency: ClaimConcurrency, oneStatement: Bool, notifying origin: String? = nil,
                          on sql: any SQLDatabase) async throws
        -> ([[QueueTask]], Bool)
    {
        // Stepwise only: one claim for every pop of the batch (one read of the running tasks, shared candidate pages).
        guard oneStatement else {
            return try await claim(for: pops, now: now, settings: settings, concurrency: concurrency, on: sql)
        }
        var claimed: [[QueueTask]] = []
        var freed = false
        if concurrency == .rowLocks {
            // With the lock, for this transaction only: no bitmap scans. Without fresh planner statistics (a new
            // table, or statistics taken while the queue was short) PostgreSQL read every queued row through a bitmap
            // scan and sorted them to find the first 8 (7.8 ms at 5,000 queued tasks, against 1.0 ms walking the
            // queue order index; EXPLAIN ANALYZE), so a backlog made every claim slower.
            // And generic plans for prepared statements, which the one-statement claim is (see there): left to
            // choose, PostgreSQL planned it afresh at every execution (its estimate of the generic plan is higher,
            // though it runs as fast), and planning was 0.3-0.4 ms of a claim's 0.45-0.7 (pg_stat_statements).
            // Set back before a stepwise claim, whose statements are not checked for generic plans.
            let notify: SQLQueryString = origin.map { ", pg_notify(\(bind: changeChannel), \(bind: $0))" } ?? ""
            try await sql.raw("""
                SELECT pg_advisory_xact_lock(\(bind: AdvisoryLock.capNamespace), 0), set_config('enable_bitmapscan', 'off', true),
                    set_config('plan_cache_mode', 'force_generic_plan', true)\(notify)
                """).run()
        }
        var genericPlans = concurrency == .rowLocks
        // Consecutive pops of distinct consumers: one statement claims for all of them when the run's first pop
        // comes (``claimShared(_:now:cap:on:)``); those given fewer than asked claim stepwise below, in order.
        let runs = sharedClaimRuns(pops)
        var sharedClaims: [String: [QueueTask]] = [:]
        for (index, pop) in pops.enumerated() {
            let tasks: [QueueTask]
            if let run = runs.first(where: { $0.contains(index) }) {
                if index == run.lowerBound {
                    sharedClaims = try await claimShared(Array(pops[run]), now: now, cap: settings.maxConsumers, on: sql)
                }
                tasks = sharedClaims[pop.consumerID] ?? []
            } else {
                tasks = try await claimInOneStatement(pop, now: now, cap: settings.maxConsumers, on: sql)
            }
            guard tasks.count < pop.max else {
                claimed.append(tasks)
                continue
            }
            if genericPlans {
                try await sql.raw("SELECT set_config('plan_cache_mode', 'auto', true)").run()
                genericPlans = false
            }
            // Fewer than asked: the stepwise claim looks further (past the window, or after expiring leases) and
            // claims what may still be claimed; what it finds comes after these in queue order (every claimable
            // task of the window was taken).
            let (stepwise, stepFreed) = try await claim(for: [pop], now: now, settings: settings, concurrency: concurrency, on: sql)
            claimed.append(tasks + stepwise[0])
            freed = freed || stepFreed
        }
        return (claimed, freed)
    }

    /// Whether ``claimEach(_:now:settings:concurrency:oneStatement:notifying:on:)`` sends a notification it is given
    /// (in the statement that takes the cap lock: PostgreSQL's one-statement claim).
    static func notifiesWithLock(concurrency: ClaimConcurrency, oneStatement: Bool) -> Bool {
        oneStatement && concurrency == .rowLocks
    }

    /// The common claim in one `UPDATE ... RETURNING` (the same SQL on SQLite and PostgreSQL but for a few
    /// functions): the first due queued tasks in queue order whose serialization key (name, non-empty path key)
    /// no running task holds, at most one per key, as many as the pop may take: `max` less the tasks its consumer
    /// runs, within `max_consumers` (`cap`) less every running task. A plain pop (`max` 1) of a consumer that still
    /// runs a task therefore claims nothing, as does any pop while a lease has expired: then the stepwise claim
    /// runs, which handles these cases (reference 1.2 pop steps 2-4, reference 4). Candidates are looked for among
    /// the first ``oneStatementWindow`` (or `2 x max`) due tasks no running task blocks (the database leaves the
    /// blocked ones out as it walks the queue order index, see ``notBlocked(_:)``), so it may claim fewer than it
    /// could (when several of those share a key), never others and never out of order; the caller then claims the
    /// rest stepwise.
    ///
    /// Each task gets a fresh lease token: 16 hex digits random per claim (from Swift) and 16 of the task's uid.
    /// On PostgreSQL candidate rows are read `FOR UPDATE SKIP LOCKED`, so rows another transaction is changing
    /// (a delete, a requeue) are left for the next claim; the caller holds the cap lock (see
    /// ``claimEach(_:now:settings:concurrency:oneStatement:notifying:on:)``).
    /// - Returns: the claimed tasks in queue order (empty when none could be claimed this way).
    static func claimInOneStatement(_ pop: DatabaseWriter.ClaimRequest.Pop, now: Double, cap: Int,
                                    on sql: any SQLDatabase) async throws -> [QueueTask]
    {
        let nonce = String(TaskUID.make().prefix(16))
        let rows = try await sql.raw(claimStatement(pop, now: now, cap: cap, nonce: nonce, on: sql)).all()
        var claimed: [(order: TaskOrder, task: QueueTask)] = []
        for row in rows {
            let order = TaskOrder(topRank: try row.decode(column: "top_rank", as: Int.self),
                                  sortKey: try row.decode(column: "sort_key", as: Double.self),
                                  contextUID: try row.decode(column: "context_uid", as: String.self))
            claimed.append((order, try decodeTask(row)))
        }
        return claimed.sorted { $0.order < $1.order }.map(\.task)
    }

    /// The statement of ``claimInOneStatement(_:now:cap:on:)``: the claim of `pop` with lease tokens made of `nonce`
    /// (16 hex digits) and each task's uid, returning the claimed tasks' columns and their queue order.
    static func claimStatement(_ pop: DatabaseWriter.ClaimRequest.Pop, now: Double, cap: Int, nonce: String,
                               on sql: any SQLDatabase) -> SQLQueryString
    {
        let postgres = isPostgres(sql)
        let least: SQLQueryString = postgres ? "LEAST" : "MIN"
        let greatest: SQLQueryString = postgres ? "GREATEST" : "MAX"
        let lock: SQLQueryString = postgres ? " FOR UPDATE SKIP LOCKED" : ""
        // PostgreSQL: the picked uids as an array the primary key is searched with. With `IN (SELECT ...)` the
        // planner, on statistics taken while the queue was short, joined `picked` against every queued row (4-5 ms at
        // 5,000 queued tasks, against 0.2 ms; EXPLAIN ANALYZE), and so did its generic plan.
        let picked: SQLQueryString = postgres ? "= ANY (ARRAY(SELECT task_uid FROM picked))" : "IN (SELECT task_uid FROM picked)"
        // Prepared on PostgreSQL (``PreparedStatementRegistry/withMarker``): planning took 0.3-0.5 ms of each claim's
        // 0.5-0.7 (pg_stat_statements); the generic plan runs 0.16-0.26 ms with fresh or stale statistics.
        return """
            \(unsafeRaw: PreparedStatementRegistry.withMarker) WITH budget AS (
                SELECT CASE
                    WHEN EXISTS (SELECT 1 FROM queue_tasks WHERE status = 'running' AND lease_expires < \(bind: now)) THEN 0
                    ELSE \(least)(
                        \(bind: pop.max) - (SELECT COUNT(*) FROM queue_tasks WHERE status = 'running' AND consumer_id = \(bind: pop.consumerID)),
                        \(bind: cap) - (SELECT COUNT(*) FROM queue_tasks WHERE status = 'running'))
                END AS n
            ),
            due AS (
                SELECT task_uid, name, path_key, top_rank, sort_key, context_uid FROM queue_tasks
                WHERE status = 'queued' AND available_at <= \(bind: now) AND \(notBlocked("queue_tasks"))
                ORDER BY top_rank, sort_key, context_uid
                LIMIT \(bind: max(oneStatementWindow, 2 * pop.max))\(lock)
            ),
            free AS (
                SELECT d.task_uid, d.top_rank, d.sort_key, d.context_uid,
                    ROW_NUMBER() OVER (
                        PARTITION BY d.name, CASE WHEN d.path_key = '' THEN d.task_uid ELSE d.path_key END
                        ORDER BY d.top_rank, d.sort_key, d.context_uid) AS turn
                FROM due d
            ),
            picked AS (
                SELECT task_uid FROM free WHERE turn = 1
                ORDER BY top_rank, sort_key, context_uid
                LIMIT (SELECT \(greatest)(n, 0) FROM budget)
            )
            UPDATE queue_tasks SET status = 'running', started = \(bind: now), lease_expires = \(bind: now) + max_seconds,
                consumer_id = \(bind: pop.consumerID), lease_token = \(bind: nonce) || substr(task_uid, 1, 16)
            WHERE task_uid \(picked) AND \(filterOnly("status", on: sql)) = 'queued'
            RETURNING \(taskColumns), top_rank, sort_key, context_uid
            """
    }

    /// A queued task's place in queue order: `(top_rank, sort_key, context_uid)` ascending, as the claim reads.
    struct TaskOrder: Comparable {
        var topRank: Int
        var sortKey: Double
        var contextUID: String

        static func < (lhs: TaskOrder, rhs: TaskOrder) -> Bool {
            (lhs.topRank, lhs.sortKey, lhs.contextUID) < (rhs.topRank, rhs.sortKey, rhs.contextUID)
        }
    }
}

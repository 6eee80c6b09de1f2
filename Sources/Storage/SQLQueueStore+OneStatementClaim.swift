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
    /// the same statement turns bitmap and sequential scans off and forces generic plans for the rest of the claim
    /// transaction (``claimScanSettings``).
    /// - Parameter notifying: with the one-statement claim on PostgreSQL, the origin of a change notification to send
    ///   in the cap lock's statement (``announceChange(on:origin:)``'s `pg_notify`, delivered at the commit like any
    ///   other): a batch whose dones or adds are to be announced saves that round trip. Ignored otherwise, which
    ///   ``notifiesWithLock(concurrency:oneStatement:)`` tells. Default: none.
    /// - Parameter capLocked: the transaction holds the cap lock already, with ``claimScanSettings`` (the dones' statement
    ///   took it, ``finishRecordingStatement(_:now:locking:on:)``): the lock's statement is skipped. Default: false.
    /// - Returns: the tasks claimed per pop, in queue order, and whether work was freed (a lease expired or a task
    ///   was purged).
    static func claimEach(_ pops: [DatabaseWriter.ClaimRequest.Pop], now: Double, settings: QueueSettings,
                          concurrency: ClaimConcurrency, oneStatement: Bool, capLocked: Bool = false,
                          notifying origin: String? = nil, on sql: any SQLDatabase) async throws
        -> ([[ClaimedTaskRow]], Bool)
    {
        // Stepwise only: one claim for every pop of the batch (one read of the running tasks, shared candidate pages).
        guard oneStatement else {
            return try await claim(for: pops, now: now, settings: settings, concurrency: concurrency, on: sql)
        }
        var claimed: [[ClaimedTaskRow]] = []
        var freed = false
        if concurrency == .rowLocks, !capLocked {
            // With the lock, for this transaction only: no bitmap and no sequential scans, generic plans
            // (``claimScanSettings``).
            let notify: SQLQueryString = origin.map { ", pg_notify(\(bind: changeChannel), \(bind: $0))" } ?? ""
            try await sql.raw("SELECT \(unsafeRaw: capLockAndScanSettings)\(notify)").run()
        }
        // Consecutive pops of distinct consumers: one statement claims for all of them when the run's first pop
        // comes (``claimShared(_:now:cap:on:)``); those given fewer than asked claim stepwise below, in order.
        let runs = sharedClaimRuns(pops)
        var sharedClaims: (claimed: [String: [ClaimedTaskRow]], sawAll: Bool) = ([:], false)
        for (index, pop) in pops.enumerated() {
            let tasks: [ClaimedTaskRow]
            if let run = runs.first(where: { $0.contains(index) }) {
                if index == run.lowerBound {
                    sharedClaims = try await claimShared(Array(pops[run]), now: now, cap: settings.maxConsumers, on: sql)
                }
                tasks = sharedClaims.claimed[pop.consumerID] ?? []
            } else {
                let single = try await claimInOneStatement(pop, now: now, cap: settings.maxConsumers, on: sql)
                (tasks, sharedClaims.sawAll) = (single.tasks, single.sawAll)
            }
            // A batched pop short of its `max` after a statement that saw every claimable task (no lapsed lease, the
            // due tasks fewer than its window): the stepwise claim would find nothing more (it purges and answers
            // "busy" for plain pops only). A plain pop short of its task still claims stepwise (its purge).
            guard tasks.count < pop.max, !(pop.batch && sharedClaims.sawAll) else {
                claimed.append(tasks)
                continue
            }
            // Fewer than asked: the stepwise claim looks further (past the window, or after expiring leases) and
            // claims what may still be claimed; what it finds comes after these in queue order (every claimable
            // task of the window was taken).
            let (stepwise, stepFreed) = try await claim(for: [pop], now: now, settings: settings, concurrency: concurrency, on: sql)
            claimed.append(tasks + stepwise[0])
            freed = freed || stepFreed
            // A lease it expired or a task it purged may make room for the run's later pops: they look stepwise too.
            if stepFreed { sharedClaims.sawAll = false }
        }
        return (claimed, freed)
    }

    /// The select-list item that takes the claims' cap lock (``AdvisoryLock/capNamespace``, held until the commit),
    /// named `cap`; a constant, so the statements that carry it are prepared alike whatever their origin.
    static let capLock = "pg_advisory_xact_lock(\(AdvisoryLock.capNamespace), 0) AS cap"

    /// What the first statement of a claim selects on PostgreSQL, alone (``claimEach(_:now:settings:concurrency:oneStatement:capLocked:notifying:on:)``)
    /// or folded into the batch's insert or dones (``lockingInsertHead(origin:)``,
    /// ``finishRecordingStatement(_:now:locking:on:)``): ``capLock`` and ``claimScanSettings``.
    static let capLockAndScanSettings = capLock + ", " + claimScanSettings

    /// The select-list items that, for the rest of a claim's transaction (PostgreSQL `set_config(..., true)`), turn
    /// bitmap and sequential scans off and make prepared statements run their generic plans; run in the statement
    /// that takes the cap lock.
    ///
    /// Bitmap scans: without fresh planner statistics (a new table, or statistics taken while the queue was short)
    /// PostgreSQL read every queued row through a bitmap scan and sorted them to find the first 8 (7.8 ms at 5,000
    /// queued tasks, against 1.0 ms walking the queue order index; EXPLAIN ANALYZE), so a backlog made every claim
    /// slower. Sequential scans: the claim statement is prepared, and a generic plan made while the table was empty
    /// scans it; with sequential scans off every plan of the claim walks the queue order and primary-key indexes,
    /// which costs nothing on an empty table and stays right as it fills (``ClaimPlanTests``). Generic plans: left
    /// to choose, PostgreSQL planned the claim afresh at every execution (its generic plan's estimates, made
    /// without the binds' values, cost more than a fresh plan's), 0.56 ms a claim against 0.26 ms of execution; the
    /// generic plan runs as fast (`pg_stat_statements`, `bench queue` one task per pop: 0.26 ms per execution).
    static let claimScanSettings =
        "set_config('enable_bitmapscan', 'off', true) AS no_bitmap_scans, set_config('enable_seqscan', 'off', true) AS no_seq_scans, "
        + "set_config('plan_cache_mode', 'force_generic_plan', true) AS generic_plans"

    /// Whether ``claimEach(_:now:settings:concurrency:oneStatement:capLocked:notifying:on:)`` sends a notification it is given
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
    /// rest stepwise. It is ``claimShared(_:now:cap:on:)`` for one pop (one statement for both).
    ///
    /// Each task gets a fresh lease token: 16 hex digits random per claim (from Swift) and 16 of the task's uid.
    /// On PostgreSQL candidate rows are read `FOR UPDATE SKIP LOCKED`, so rows another transaction is changing
    /// (a delete, a requeue) are left for the next claim; the caller holds the cap lock (see
    /// ``claimEach(_:now:settings:concurrency:oneStatement:capLocked:notifying:on:)``).
    /// - Returns: the claimed tasks in queue order (empty when none could be claimed this way), and whether the statement
    ///   saw every claimable task (``claimShared(_:now:cap:on:)``).
    static func claimInOneStatement(_ pop: DatabaseWriter.ClaimRequest.Pop, now: Double, cap: Int,
                                    on sql: any SQLDatabase) async throws -> (tasks: [ClaimedTaskRow], sawAll: Bool)
    {
        let shared = try await claimShared([pop], now: now, cap: cap, on: sql)
        return (shared.claimed[pop.consumerID] ?? [], shared.sawAll)
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

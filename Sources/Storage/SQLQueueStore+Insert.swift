import FluentKit
import QueueCore
import SQLKit

extension SQLQueueStore {
    /// Adds run in the writer's claim batches (group commit): the adds, dones and pops that arrive while a transaction
    /// runs share the next one, and an added task wakes one long-poll (see ``runBatch(_:on:)``).
    public func add(_ tasks: [QueueTask], now: Double) async throws -> [AddOutcome] {
        guard !tasks.isEmpty else { return [] }
        // Bodies encoded here, off the writer (``StagedTask``).
        return try await writer.claim(adds: try tasks.map(StagedTask.init), dones: [], pop: nil, now: now).added
    }

    /// Inserts one queued task inside the caller's transaction, applying the duplicate-uid and `unique`
    /// rules. Use it to enqueue in the same transaction as a LIMS action; then call ``notifyChange()``.
    /// On PostgreSQL an added task is announced to every server (`NOTIFY` at commit, change counter).
    public static func insert(_ task: QueueTask, topPriority: [String], on sql: any SQLDatabase) async throws -> AddOutcome {
        let outcome = try await insertOne(task, topPriority: topPriority, on: sql)
        if outcome == .added { try await announceInCallersTransaction(on: sql) }
        return outcome
    }

    /// Inserts queued tasks inside the caller's transaction, in multi-row statements, applying the
    /// duplicate-uid and `unique` rules in input order. Use it to enqueue in the same transaction as a LIMS
    /// action; then call ``notifyChange()``. On PostgreSQL added tasks are announced to every server.
    public static func insert(_ tasks: [QueueTask], topPriority: [String], on sql: any SQLDatabase) async throws -> [AddOutcome] {
        let outcomes = try await insertTasks(tasks, topPriority: topPriority, on: sql)
        if outcomes.contains(.added) { try await announceInCallersTransaction(on: sql) }
        return outcomes
    }

    /// Announces inserted tasks from inside a transaction this store does not commit: `NOTIFY` (delivered at
    /// the caller's commit) and the change counter, bumped before the commit here, so a poller that reads it
    /// first may miss the tasks until its periodic retry (5 s); listeners are not affected.
    static func announceInCallersTransaction(on sql: any SQLDatabase) async throws {
        try await announceChange(on: sql)
        await countChange(on: sql)
    }

    /// ``insert(_:topPriority:on:)`` for one task, without the announcement.
    ///
    /// A `unique` task's check and insert are atomic against every other transaction: SQLite has one writer, and on
    /// PostgreSQL (where lab writes run side by side, ``SQLLabStore``) the transaction first takes an advisory lock
    /// on the task's context and name (``AdvisoryLock/uniqueNamespace``, held to its end), so a second identical
    /// action waits and then sees the first one's task.
    static func insertOne(_ task: QueueTask, topPriority: [String], now: Double? = nil, on sql: any SQLDatabase) async throws -> AddOutcome {
        try await insertOne(try StagedTask(task), topPriority: topPriority, now: now, on: sql)
    }

    /// ``insertOne(_:topPriority:now:on:)`` of a task staged already.
    static func insertOne(_ staged: StagedTask, topPriority: [String], now: Double? = nil, on sql: any SQLDatabase) async throws -> AddOutcome {
        let task = staged.task
        if task.unique {
            if isPostgres(sql) {
                try await sql.raw("""
                    SELECT pg_advisory_xact_lock(\(bind: AdvisoryLock.uniqueNamespace), hashtext(\(bind: task.contextUID + "\u{1F}" + task.name)))
                    """).run()
            }
            let clash = try await sql.raw("""
                SELECT task_uid FROM queue_tasks
                WHERE context_uid = \(bind: task.contextUID) AND name = \(bind: task.name) AND status = 'queued'
                LIMIT 1
                """).first()
            if clash != nil { return .notUnique }
        }
        guard try await insertRows([staged], topPriority: topPriority, now: now, on: sql).inserted.contains(task.taskUID) else { return .duplicate }
        try await insertObjectUIDs(of: [task], on: sql)
        return .added
    }

    /// ``insert(_:topPriority:on:)`` for several tasks, without the announcement.
    /// - Parameter now: the writer's time, epoch seconds: a delayed task already due then is written in the claims'
    ///   index (``readyAvailableAt(of:now:)``). Default: nil (a delayed task waits for a claim's promotion).
    static func insertTasks(_ tasks: [QueueTask], topPriority: [String], now: Double? = nil, on sql: any SQLDatabase) async throws -> [AddOutcome] {
        try await insertTasks(try tasks.map(StagedTask.init), topPriority: topPriority, now: now, locking: nil, on: sql).outcomes
    }

    /// ``insertTasks(_:topPriority:now:on:)``; with `locking` (PostgreSQL, claims follow in the batch) each multi-row
    /// insert also takes the claims' cap lock, applies ``claimScanSettings`` and sends the change notification with
    /// that origin (``lockingInsertHead(origin:)``), the claims' first statement folded into it: one round trip less
    /// for a batch that adds tasks and claims (a long-poll's pop answered by an `add`).
    /// - Returns: the outcomes, and whether the lock was taken and the notification sent (true once an insert added a
    ///   row; otherwise the claims take the lock as usual, it is re-entrant).
    static func insertTasks(_ tasks: [StagedTask], topPriority: [String], now: Double? = nil, locking origin: String?,
                            on sql: any SQLDatabase) async throws -> (outcomes: [AddOutcome], locked: Bool) {
        var locked = false
        var outcomes = [AddOutcome?](repeating: nil, count: tasks.count)
        var pending: [(index: Int, task: StagedTask)] = []
        func flush() async throws {
            for start in stride(from: 0, to: pending.count, by: 100) {
                let chunk = Array(pending[start..<min(start + 100, pending.count)])
                let (inserted, lockedHere) = try await insertRows(chunk.map(\.task), topPriority: topPriority, now: now, locking: origin, on: sql)
                locked = locked || lockedHere
                var seen: Set<String> = []
                var added: [QueueTask] = []
                for (index, staged) in chunk {
                    if inserted.contains(staged.task.taskUID), seen.insert(staged.task.taskUID).inserted {
                        outcomes[index] = .added
                        added.append(staged.task)
                    } else {
                        outcomes[index] = .duplicate
                    }
                }
                try await insertObjectUIDs(of: added, on: sql)
            }
            pending.removeAll()
        }
        for (index, original) in tasks.enumerated() {
            // The body holds none of these fields (``StagedTask``): it stays as staged.
            var staged = original
            staged.task.status = .queued
            staged.task.started = nil
            staged.task.consumerID = nil
            staged.task.leaseToken = nil
            if staged.task.unique {
                try await flush()
                outcomes[index] = try await insertOne(staged, topPriority: topPriority, now: now, on: sql)
            } else {
                pending.append((index, staged))
            }
        }
        try await flush()
        return (outcomes.map { $0 ?? .duplicate }, locked)
    }

    /// One multi-row `INSERT ... ON CONFLICT DO NOTHING RETURNING task_uid`; returns the uids inserted.
    /// - Parameter locking: PostgreSQL: also take the cap lock, apply the claims' scan settings and notify with this
    ///   origin (``lockingInsertHead(origin:)``). Default: nil.
    /// - Returns: the uids inserted, and whether the lock was taken (a row was inserted with `locking`).
    static func insertRows(_ tasks: [StagedTask], topPriority: [String], now: Double? = nil, locking origin: String? = nil,
                           on sql: any SQLDatabase) async throws -> (inserted: Set<String>, locked: Bool) {
        guard !tasks.isEmpty else { return ([], false) }
        let rows = tasks.map { staged -> [any Encodable & Sendable] in
            let task = staged.task
            return [task.taskUID, task.name, task.contextUID, staged.pathKey, task.action, (task.status ?? .queued).rawValue,
                    TaskOrdering.topRank(of: task, topPriority: topPriority), TaskOrdering.sortKey(of: task),
                    readyAvailableAt(of: task, now: now), task.created, task.maxSeconds, task.ghost ? 1 : 0,
                    task.started, task.started.map { $0 + Double(task.maxSeconds) }, task.consumerID,
                    task.leaseToken, task.username, staged.body]
        }
        let locking = isPostgres(sql) ? origin.flatMap(lockingInsertHead(origin:)) : nil
        let inserted = try await MultiRowStatement(head: (locking ?? "") + """
            INSERT INTO queue_tasks (task_uid, name, context_uid, path_key, action, status, top_rank, sort_key,
                available_at, created, max_seconds, ghost, started, lease_expires, consumer_id, lease_token, username, body)
            """, rows: rows, tail: "ON CONFLICT (task_uid) DO NOTHING RETURNING task_uid" + (locking == nil ? "" : ", (SELECT cap FROM locked) AS cap"),
            on: sql).all(on: sql)
        return (Set(try inserted.map { try $0.decode(column: "task_uid", as: String.self) }), locking != nil && !inserted.isEmpty)
    }

    /// PostgreSQL: the `WITH` part of an insert that does what the claims' first statement would
    /// (``claimEach(_:now:settings:concurrency:oneStatement:capLocked:notifying:on:)``): takes the cap lock, turns
    /// bitmap and sequential scans off for the transaction (``claimScanSettings``) and sends the change notification
    /// with `origin`. The insert's returned rows read it, so an insert that added a row has done all three (one that
    /// added none has not: PostgreSQL evaluates the part only when a row reads it). The claims' statements come after
    /// it, so their snapshots see every claim committed before the lock was granted, as with the lock's own
    /// statement. The values are written as literals (the multi-row text is cached by its text, without binds):
    /// nil, and the claims take the lock themselves, unless `origin` is a hex uid (``SQLQueueStore/instanceID``).
    static func lockingInsertHead(origin: String) -> String? {
        guard !origin.isEmpty, origin.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) else { return nil }
        return "WITH locked AS (SELECT \(capLockAndScanSettings), "
            + "pg_notify('\(changeChannel)', '\(origin)') AS notified) "
    }

    /// Indexes the tasks' `uids` other than their context in `queue_task_uids`, 400 rows per statement. The
    /// context is found through `queue_tasks_context` (``LeanTaskUIDs``), so a task without uids writes no row here.
    static func insertObjectUIDs(of tasks: [QueueTask], on sql: any SQLDatabase) async throws {
        var pairs: [(String, String)] = []
        for task in tasks {
            // By bytes: the databases compare text byte by byte, so each form of a uid given is indexed as given.
            var seen: Set<ExactText> = [ExactText(task.contextUID)]
            for uid in task.uids where seen.insert(ExactText(uid)).inserted { pairs.append((task.taskUID, uid)) }
        }
        for start in stride(from: 0, to: pairs.count, by: 400) {
            let rows = pairs[start..<min(start + 400, pairs.count)].map { [$0.0, $0.1] as [any Encodable & Sendable] }
            try await MultiRowStatement(head: "INSERT INTO queue_task_uids (task_uid, uid)", rows: rows,
                                        tail: "ON CONFLICT DO NOTHING", on: sql).run(on: sql)
        }
    }
}

import FluentKit
import QueueCore
import SQLKit

extension SQLQueueStore {
    /// Candidates read per page while looking for claimable tasks (pages grow until the queue is exhausted).
    static let claimPageSize = 32

    public func pop(consumerID: String, now: Double) async throws -> QueueTask? {
        try await withCheckedThrowingContinuation { continuation in
            writer.submit(.claim(.pop(consumerID: consumerID, now: now, continuation: continuation)))
        }
    }

    public func done(_ taskUID: String, lease: LeaseClaim, now: Double) async throws -> QueueTask {
        try await withCheckedThrowingContinuation { continuation in
            writer.submit(.claim(.done(taskUID: taskUID, lease: lease, now: now, continuation: continuation)))
        }
    }

    public func doneAndPop(_ taskUID: String, lease: LeaseClaim, consumerID: String, now: Double)
        async throws -> (done: QueueTask, next: QueueTask?)
    {
        try await withCheckedThrowingContinuation { continuation in
            writer.submit(.claim(.doneAndPop(taskUID: taskUID, lease: lease, consumerID: consumerID, now: now,
                                             continuation: continuation)))
        }
    }

    /// Runs one batch of pops and dones in one claim transaction on the writer's connection and answers each.
    /// Dones (including those of done-and-pop requests) run first; a done-and-pop whose done is refused claims
    /// nothing. When work was freed (a done, an expired or purged lease) the change is announced to every process.
    func runBatch(_ requests: [DatabaseWriter.ClaimRequest], on connection: any SQLDatabase) async {
        var dones: [(taskUID: String, lease: LeaseClaim)] = []
        var now = 0.0
        for request in requests {
            switch request {
            case .pop(_, let at, _):
                now = max(now, at)
            case .done(let taskUID, let lease, let at, _), .doneAndPop(let taskUID, let lease, _, let at, _):
                dones.append((taskUID, lease))
                now = max(now, at)
            }
        }
        let at = now
        let doneRequests = dones
        let concurrency = claimConcurrency
        do {
            let settings = try await settings()
            let (doneResults, popResults, announced) = try await Self.inTransaction(connection, lock: .claims, immediate: beginsImmediate) { sql in
                let doneResults = doneRequests.isEmpty ? [] : try await Self.finish(doneRequests, now: at, on: sql)
                // Pops in request order; a done-and-pop claims only if its done succeeded.
                var consumers: [String] = []
                var doneIndex = 0
                for request in requests {
                    switch request {
                    case .pop(let consumerID, _, _):
                        consumers.append(consumerID)
                    case .done:
                        doneIndex += 1
                    case .doneAndPop(_, _, let consumerID, _, _):
                        if case .success = doneResults[doneIndex] { consumers.append(consumerID) }
                        doneIndex += 1
                    }
                }
                let (popResults, freed) = consumers.isEmpty
                    ? ([], false)
                    : try await Self.claim(for: consumers, now: at, settings: settings, concurrency: concurrency, on: sql)
                let announce = freed || doneResults.contains { (try? $0.get()) != nil }
                if announce { try await Self.announceChange(on: sql) }
                return (doneResults, popResults, announce)
            }
            if announced { await Self.countChange(on: connection) }
            var doneIndex = 0, popIndex = 0
            for request in requests {
                switch request {
                case .pop(_, _, let continuation):
                    continuation.resume(returning: popResults[popIndex])
                    popIndex += 1
                case .done(_, _, _, let continuation):
                    continuation.resume(with: doneResults[doneIndex])
                    doneIndex += 1
                case .doneAndPop(_, _, _, _, let continuation):
                    switch doneResults[doneIndex] {
                    case .success(let task):
                        continuation.resume(returning: (task, popResults[popIndex]))
                        popIndex += 1
                    case .failure(let error):
                        continuation.resume(throwing: error)
                    }
                    doneIndex += 1
                }
            }
            if announced { signal.notifyAll() }
        } catch {
            for request in requests { request.fail(error) }
        }
    }

    /// Finishes running tasks (done): checks each claim, deletes the valid ones, records them in the history.
    /// On PostgreSQL the rows are read `FOR UPDATE` (in uid order), so a lease another server expires at the same
    /// moment is seen as it ends up, never half-way.
    static func finish(_ dones: [(taskUID: String, lease: LeaseClaim)], now: Double, on sql: any SQLDatabase)
        async throws -> [Result<QueueTask, any Error>]
    {
        let uids = SQLList(Set(dones.map(\.taskUID)).sorted().map { SQLBind($0) })
        let lock: SQLQueryString = isPostgres(sql) ? " ORDER BY task_uid FOR UPDATE" : ""
        let rows = try await sql.raw("SELECT \(taskColumns) FROM queue_tasks WHERE task_uid IN (\(uids))\(lock)").all()
        var found: [String: QueueTask] = [:]
        for row in rows {
            let task = try decodeTask(row)
            found[task.taskUID] = task
        }
        var results: [Result<QueueTask, any Error>] = []
        var finished: [QueueTask] = []
        for (uid, lease) in dones {
            guard let task = found.removeValue(forKey: uid) else {
                if !lease.isEmpty, try await inHistory(uid, on: sql) {
                    results.append(.failure(QueueError(.leaseLost, "Lease lost: task \(uid) was already finished")))
                } else {
                    results.append(.failure(QueueError(.notFound, "Task \(uid)")))
                }
                continue
            }
            do {
                try lease.check(task)
                finished.append(task)
                results.append(.success(task))
            } catch {
                results.append(.failure(error))
            }
        }
        guard !finished.isEmpty else { return results }
        let finishedUIDs = SQLList(finished.map { SQLBind($0.taskUID) })
        let deleted = try await sql.raw("""
            DELETE FROM queue_tasks WHERE task_uid IN (\(finishedUIDs)) AND status = 'running' RETURNING task_uid
            """).all()
        guard deleted.count == finished.count else {
            throw QueueError(.leaseLost, "Tasks changed while they were being finished")
        }
        try await recordHistory(finished.map { ($0, HistoryEntry.Outcome.done, nil) }, now: now, on: sql)
        return results
    }

    /// Advisory lock keys (two-int form, first int = namespace) of the PostgreSQL claim.
    enum AdvisoryLock {
        /// Namespace of the serialization-key locks: (namespace, hashtext(name + US + path key)).
        static let serialKeyNamespace: Int32 = 0x4C51_0001
        /// The concurrency-cap lock: (namespace, 0).
        static let capNamespace: Int32 = 0x4C51_0002
    }

    /// Claims one task per consumer, in order (reference 1.2 pop, reference 4): expires leases, applies the
    /// purge and concurrency gate per consumer, picks claimable candidates, and marks them running in one
    /// `UPDATE ... RETURNING`. Returns a task or nil per consumer, and whether work was freed.
    ///
    /// With ``ClaimConcurrency/rowLocks`` (PostgreSQL) several servers run this at the same moment, and the set of
    /// running tasks read first may be stale. What keeps the rules exact there:
    /// - candidates are read `FOR UPDATE SKIP LOCKED` in queue order: a queued task another claim is taking is
    ///   skipped, never waited for, and never claimed twice (the final `UPDATE` is a compare-and-set as well);
    /// - for each serialization key (name, path key) a claim takes, it takes a transaction-scoped advisory lock
    ///   with `pg_try_advisory_xact_lock` and then, in a later statement (so a fresh snapshot), checks that no task
    ///   of that key runs. Two claims of one key at once: only one gets the lock, the other skips the key. A claim
    ///   that gets the lock after the other committed sees its running task in the re-check. (A unique partial
    ///   index on running keys would also catch the second claim, but only by failing its whole transaction after
    ///   waiting for the first; the lock lets it pick another task instead. The index stays as a backstop.)
    ///   Transaction-scoped locks need no session state, so they work behind a pooler in transaction mode.
    /// - the cap `max_consumers` is counted last, under one advisory lock taken with the key locks and held until
    ///   the commit: claims that take tasks serialize only for that re-read, their `UPDATE` and their commit, and
    ///   each sees every claim committed before it.
    /// - leases expired or purged by two servers at once: each row is locked `FOR UPDATE SKIP LOCKED` and checked
    ///   again before it changes, so only one of them acts.
    static func claim(for consumers: [String], now: Double, settings: QueueSettings, concurrency: ClaimConcurrency,
                      on sql: any SQLDatabase) async throws -> ([QueueTask?], Bool)
    {
        let concurrent = concurrency == .rowLocks
        var running = try await runningTasks(on: sql)
        var freed = false
        // Leases first: a running task whose started + max_seconds has passed is timed out (reference 4).
        for expired in ClaimRules.expiredLeases(running, now: now) {
            if let task = try await lockRunning(expired.taskUID, concurrent: concurrent, on: sql),
               !ClaimRules.expiredLeases([ClaimRules.RunningTask(task)], now: now).isEmpty {
                try await replace(task, with: task.timedOut(now: now), outcome: .timeout, now: now,
                                  topPriority: settings.topPriorityTasks, on: sql)
                freed = true
            }
            running.removeAll { $0.taskUID == expired.taskUID }
        }
        // Consumer gates (purge, cap) in request order; an open consumer counts as one more running task for
        // the gates of the consumers after it (a candidate for one is a candidate for all).
        var choices = [String?](repeating: nil, count: consumers.count)
        var open: [Int] = []
        var gated = running
        for (index, consumerID) in consumers.enumerated() {
            switch ClaimRules.gate(running: gated, consumerID: consumerID, maxConcurrent: settings.maxConsumers, now: now) {
            case .consumerBusy(let purge):
                for uid in purge {
                    if let task = try await lockRunning(uid, concurrent: concurrent, on: sql), task.consumerID == consumerID,
                       (task.started ?? 0) + ClaimRules.purgeAfterSeconds < now {
                        let purged = task.failed(message: "Purged on pop (\(consumerID))", now: now)
                        try await replace(task, with: purged, outcome: .purged, now: now,
                                          topPriority: settings.topPriorityTasks, on: sql)
                        freed = true
                    }
                    running.removeAll { $0.taskUID == uid }
                    gated.removeAll { $0.taskUID == uid }
                }
            case .saturated:
                break
            case .open:
                open.append(index)
                gated.append(ClaimRules.RunningTask(taskUID: "", name: "", pathKey: "", started: now, maxSeconds: 1,
                                                    consumerID: consumerID))
            }
        }
        guard !open.isEmpty else { return (choices.map { _ in nil }, freed) }
        // Candidates in queue order; on PostgreSQL keys another claim holds are skipped and picking goes on. Pages
        // there start small (every row read is locked until the commit) and double as needed.
        var keys = ClaimRules.serialKeys(of: running)
        var taken: Set<String> = []
        var pages = CandidatePages(now: now, lockRows: concurrent, pageSize: concurrent ? open.count + 1 : claimPageSize)
        var waiting = open
        var runningNow = 0
        for _ in 0..<4 where !waiting.isEmpty {
            var picked: [(index: Int, candidate: ClaimRules.Candidate)] = []
            for index in waiting {
                guard let candidate = try await pages.first(claimableWith: keys, excluding: taken, on: sql) else { break }
                picked.append((index, candidate))
                taken.insert(candidate.taskUID)
                if !candidate.pathKey.isEmpty { keys.insert(ClaimRules.SerialKey(name: candidate.name, pathKey: candidate.pathKey)) }
            }
            var refused = false
            if concurrent, !picked.isEmpty {
                let guarded = try await lockCapAndKeys(picked.map(\.candidate), on: sql)
                refused = picked.contains { guarded.refused.contains($0.candidate.taskUID) }
                picked.removeAll { guarded.refused.contains($0.candidate.taskUID) }
                runningNow = guarded.running
            }
            for (index, candidate) in picked { choices[index] = candidate.taskUID }
            let served = Set(picked.map(\.index))
            waiting.removeAll { served.contains($0) }
            if !refused { break }
        }
        var chosen = choices.enumerated().compactMap { index, uid in uid.map { (consumerID: consumers[index], taskUID: $0) } }
        guard !chosen.isEmpty else { return (choices.map { _ in nil }, freed) }
        if concurrent {
            // The cap, counted (in the last re-read) under the cap lock this claim holds until its commit.
            let room = max(0, settings.maxConsumers - runningNow)
            if chosen.count > room {
                for dropped in chosen[room...] {
                    if let index = choices.firstIndex(of: dropped.taskUID) { choices[index] = nil }
                }
                chosen = Array(chosen.prefix(room))
                guard !chosen.isEmpty else { return (choices.map { _ in nil }, freed) }
            }
        }
        let claimed = try await markRunning(chosen, now: now, on: sql)
        return (choices.map { uid in uid.flatMap { claimed[$0] } }, freed)
    }

    /// Every running task (for the claim rules).
    static func runningTasks(on sql: any SQLDatabase) async throws -> [ClaimRules.RunningTask] {
        try await sql.raw("""
            SELECT task_uid, name, path_key, started, max_seconds, consumer_id FROM queue_tasks WHERE status = 'running'
            """).all().map { row in
            ClaimRules.RunningTask(
                taskUID: try row.decode(column: "task_uid", as: String.self),
                name: try row.decode(column: "name", as: String.self),
                pathKey: try row.decode(column: "path_key", as: String.self),
                started: try row.decode(column: "started", as: Double?.self),
                maxSeconds: try row.decode(column: "max_seconds", as: Int.self),
                consumerID: try row.decode(column: "consumer_id", as: String?.self)
            )
        }
    }

    /// A task still running, read for a change by the claim (lease expiry, purge). With `concurrent`
    /// (PostgreSQL) the row is locked `FOR UPDATE SKIP LOCKED`: nil when another transaction is changing it.
    static func lockRunning(_ taskUID: String, concurrent: Bool, on sql: any SQLDatabase) async throws -> QueueTask? {
        let lock: SQLQueryString = concurrent ? " FOR UPDATE SKIP LOCKED" : ""
        return try await sql.raw("""
            SELECT \(taskColumns) FROM queue_tasks WHERE task_uid = \(bind: taskUID) AND status = 'running'\(lock)
            """).first().map(decodeTask)
    }

    /// PostgreSQL: takes the cap lock (`pg_advisory_xact_lock`, waiting; held until the commit) and the
    /// serialization-key lock of every candidate with a path key (`pg_try_advisory_xact_lock`, never waiting) in
    /// one statement, then re-reads the running tasks in the next one (a fresh snapshot, so every claim that held
    /// these locks before has committed and is seen).
    /// - Returns: the uids of candidates that may not be claimed (their key is locked by another claim, or a task
    ///   of their key runs now) and the number of running tasks now.
    static func lockCapAndKeys(_ candidates: [ClaimRules.Candidate], on sql: any SQLDatabase) async throws
        -> (refused: Set<String>, running: Int)
    {
        let keyed = candidates.filter { !$0.pathKey.isEmpty }
        var locks: [SQLQueryString] = ["pg_advisory_xact_lock(\(bind: AdvisoryLock.capNamespace), 0) AS cap"]
        for (index, candidate) in keyed.enumerated() {
            locks.append("""
                pg_try_advisory_xact_lock(\(bind: AdvisoryLock.serialKeyNamespace), \
                hashtext(\(bind: candidate.name + "\u{1F}" + candidate.pathKey))) AS \(ident: "k\(index)")
                """)
        }
        guard let row = try await sql.raw("SELECT \(SQLList(locks))").first() else {
            throw StorageError.corruptRow("advisory locks answered no row")
        }
        var refused: Set<String> = []
        var locked: [ClaimRules.Candidate] = []
        for (index, candidate) in keyed.enumerated() {
            if try row.decode(column: "k\(index)", as: Bool.self) { locked.append(candidate) } else { refused.insert(candidate.taskUID) }
        }
        let running = try await sql.raw("SELECT name, path_key FROM queue_tasks WHERE status = 'running'").all()
        var busy: Set<ClaimRules.SerialKey> = []
        for row in running {
            busy.insert(ClaimRules.SerialKey(name: try row.decode(column: "name", as: String.self),
                                             pathKey: try row.decode(column: "path_key", as: String.self)))
        }
        for candidate in locked where busy.contains(ClaimRules.SerialKey(name: candidate.name, pathKey: candidate.pathKey)) {
            refused.insert(candidate.taskUID)
        }
        return (refused, running.count)
    }

    /// Marks the chosen queued tasks running with their consumer and a fresh lease token each.
    static func markRunning(_ chosen: [(consumerID: String, taskUID: String)], now: Double, on sql: any SQLDatabase)
        async throws -> [String: QueueTask]
    {
        let tokens = chosen.map { _ in TaskUID.make() }
        let consumerCases = SQLList(chosen.map { SQLQueryString("WHEN \(bind: $0.taskUID) THEN \(bind: $0.consumerID)") },
                                    separator: SQLRaw(" "))
        let tokenCases = SQLList(zip(chosen, tokens).map { SQLQueryString("WHEN \(bind: $0.taskUID) THEN \(bind: $1)") },
                                 separator: SQLRaw(" "))
        let uids = SQLList(chosen.map { SQLBind($0.taskUID) })
        let rows = try await sql.raw("""
            UPDATE queue_tasks SET status = 'running', started = \(bind: now), lease_expires = \(bind: now) + max_seconds,
                consumer_id = CASE task_uid \(consumerCases) END,
                lease_token = CASE task_uid \(tokenCases) END
            WHERE task_uid IN (\(uids)) AND status = 'queued'
            RETURNING \(taskColumns)
            """).all()
        guard rows.count == chosen.count else {
            throw QueueError(.leaseLost, "Tasks changed while they were being claimed")
        }
        var claimed: [String: QueueTask] = [:]
        for row in rows {
            let task = try decodeTask(row)
            claimed[task.taskUID] = task
        }
        return claimed
    }

    /// Queued, due candidates in queue order, read a page at a time as a claim needs them.
    struct CandidatePages {
        let now: Double
        /// PostgreSQL: rows are read `FOR UPDATE SKIP LOCKED` (locked by this claim until its commit; rows other
        /// claims hold are skipped).
        let lockRows: Bool
        var loaded: [ClaimRules.Candidate] = []
        var maxSeconds: [String: Int] = [:]
        var exhausted = false
        var pageSize: Int

        init(now: Double, lockRows: Bool = false, pageSize: Int = SQLQueueStore.claimPageSize) {
            self.now = now
            self.lockRows = lockRows
            self.pageSize = pageSize
        }

        /// The first candidate claimable against `keys` and not already chosen; loads more pages as needed.
        mutating func first(claimableWith keys: Set<ClaimRules.SerialKey>, excluding taken: Set<String>,
                            on sql: any SQLDatabase) async throws -> ClaimRules.Candidate? {
            var searched = 0
            while true {
                let remaining = loaded[searched...].filter { !taken.contains($0.taskUID) }
                if let found = ClaimRules.firstClaimable(Array(remaining), runningKeys: keys, now: now) { return found }
                searched = loaded.count
                guard !exhausted else { return nil }
                try await loadPage(on: sql)
            }
        }

        mutating func loadPage(on sql: any SQLDatabase) async throws {
            let lock: SQLQueryString = lockRows ? " FOR UPDATE SKIP LOCKED" : ""
            let rows = try await sql.raw("""
                SELECT task_uid, name, path_key, available_at, max_seconds FROM queue_tasks
                WHERE status = 'queued' AND available_at <= \(bind: now)
                ORDER BY top_rank, sort_key, context_uid
                LIMIT \(bind: pageSize) OFFSET \(bind: loaded.count)\(lock)
                """).all()
            for row in rows {
                let candidate = ClaimRules.Candidate(
                    taskUID: try row.decode(column: "task_uid", as: String.self),
                    name: try row.decode(column: "name", as: String.self),
                    pathKey: try row.decode(column: "path_key", as: String.self),
                    availableAt: try row.decode(column: "available_at", as: Double.self)
                )
                maxSeconds[candidate.taskUID] = try row.decode(column: "max_seconds", as: Int.self)
                guard !loaded.contains(where: { $0.taskUID == candidate.taskUID }) else { continue }
                loaded.append(candidate)
            }
            if rows.count < pageSize { exhausted = true }
            pageSize *= 2
        }
    }

    /// Writes `new` over `old` with a compare-and-set on `old`'s status and lease token, and records the ended
    /// attempt in the history when `outcome` is given.
    /// - Throws: `QueueError.leaseLost` when the row changed under us.
    static func replace(_ old: QueueTask, with new: QueueTask, outcome: HistoryEntry.Outcome?, now: Double,
                        topPriority: [String], on sql: any SQLDatabase) async throws {
        let status = (new.status ?? .queued).rawValue
        let changed = try await sql.raw("""
            UPDATE queue_tasks SET
                status = \(bind: status),
                top_rank = \(bind: TaskOrdering.topRank(of: new, topPriority: topPriority)),
                sort_key = \(bind: TaskOrdering.sortKey(of: new)),
                available_at = \(bind: new.availableAt),
                created = \(bind: new.created),
                max_seconds = \(bind: new.maxSeconds),
                started = \(bind: new.started),
                lease_expires = \(bind: new.started.map { $0 + Double(new.maxSeconds) }),
                consumer_id = \(bind: new.consumerID),
                lease_token = \(bind: new.leaseToken),
                body = \(bind: try encodeBody(new))
            WHERE task_uid = \(bind: old.taskUID) AND status = \(bind: (old.status ?? .queued).rawValue)
                AND \(leaseMatch(old.leaseToken))
            RETURNING task_uid
            """).first()
        guard changed != nil else {
            throw QueueError(.leaseLost, "Task \(old.taskUID) changed while it was being updated")
        }
        if let outcome {
            try await recordHistory([(old, outcome, new.errorMessage)], now: now, on: sql)
        }
    }

    /// `lease_token = ?`, or `lease_token IS NULL` for tasks not running.
    static func leaseMatch(_ token: String?) -> SQLQueryString {
        if let token { return "lease_token = \(bind: token)" }
        return "lease_token IS NULL"
    }
}

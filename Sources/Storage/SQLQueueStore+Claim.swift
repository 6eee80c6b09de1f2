import FluentKit
import PostgresStatements
import QueueCore
import SQLKit

extension SQLQueueStore {
    /// Candidates read per page while looking for claimable tasks (pages grow until the queue is exhausted).
    static let claimPageSize = 32

    public func pop(consumerID: String, now: Double) async throws -> QueueTask? {
        try await writer.claim(dones: [], pop: .init(consumerID: consumerID, max: 1, batch: false), now: now).claimed.first?.decoded()
    }

    public func done(_ taskUID: String, lease: LeaseClaim, now: Double) async throws -> QueueTask {
        try await writer.claim(dones: [TaskLease(taskUID: taskUID, lease: lease)], pop: nil, now: now).done[0].get()
    }

    public func doneAndPop(_ taskUID: String, lease: LeaseClaim, consumerID: String, now: Double)
        async throws -> (done: QueueTask, next: QueueTask?)
    {
        let answer = try await writer.claim(dones: [TaskLease(taskUID: taskUID, lease: lease)],
                                            pop: .init(consumerID: consumerID, max: 1, batch: false), popOnlyIfDone: true, now: now)
        return (try answer.done[0].get(), try answer.claimed.first?.decoded())
    }

    public func pop(consumerID: String, max: Int, now: Double) async throws -> [QueueTask] {
        guard max >= 1 else { throw QueueError(.badRequest, "max must be 1 or more") }
        return try ClaimedTaskRow.decoded(try await writer.claim(dones: [], pop: .init(consumerID: consumerID, max: max, batch: true), now: now).claimed)
    }

    public func done(_ reports: [TaskLease], now: Double) async throws -> [Result<QueueTask, any Error>] {
        guard !reports.isEmpty else { return [] }
        return try await writer.claim(dones: reports, pop: nil, now: now).done
    }

    public func doneAndPop(_ reports: [TaskLease], consumerID: String, max: Int, now: Double) async throws
        -> (done: [Result<QueueTask, any Error>], next: [QueueTask])
    {
        guard max >= 1 else { throw QueueError(.badRequest, "max must be 1 or more") }
        let answer = try await writer.claim(dones: reports, pop: .init(consumerID: consumerID, max: max, batch: true), now: now)
        return (answer.done, try ClaimedTaskRow.decoded(answer.claimed))
    }

    /// Runs one batch of adds, pops and dones in one claim transaction on the writer's connection and answers each.
    /// The batch's added tasks are inserted first (in request order, with ``insertTasks(_:topPriority:on:)``'s
    /// duplicate and `unique` rules), then every report is applied (one `DELETE ... RETURNING`), then the claims
    /// in request order;
    /// a plain done-and-pop whose done is refused claims nothing. When work was freed (a done, an expired or
    /// purged lease) the change is announced to every process.
    ///
    /// While the disk is full (``FullDiskGate``) nothing is claimed: a pop alone is answered with the full-disk
    /// failure, and a request that also reports or adds gets those applied and claims nothing. A batch that adds or
    /// finishes tasks ends the refusal (the disk had room for it).
    /// - Returns: the error the batch failed with (every request was answered with it), nil when it ran.
    @discardableResult
    func runBatch(_ submitted: [DatabaseWriter.ClaimRequest], on connection: any SQLDatabase) async -> (any Error)? {
        let refusal = writer.fullDisk.refusal(now: submitted.map(\.now).max() ?? 0)
        if let refusal {
            for request in submitted where request.adds.isEmpty && request.dones.isEmpty { request.fail(refusal) }
        }
        let requests = refusal == nil ? submitted : submitted.filter { !$0.adds.isEmpty || !$0.dones.isEmpty }.map { request in
            var request = request
            request.pop = nil
            return request
        }
        guard !requests.isEmpty else { return nil }
        var dones: [TaskLease] = []
        var adds: [StagedTask] = []
        var now = 0.0
        for request in requests {
            adds.append(contentsOf: request.adds)
            dones.append(contentsOf: request.dones)
            now = max(now, request.now)
        }
        let at = now
        let doneRequests = dones
        let addRequests = adds
        let concurrency = claimConcurrency
        let oneStatement = claimsInOneStatement
        let origin = instanceID
        let delayedTasks = self.delayedTasks
        noteDelayed(addRequests.lazy.map(\.task), now: at)
        do {
            let settings = try await settings()
            let (addOutcomes, doneResults, popResults, announced) = try await Self.inTransaction(connection, lock: .claims, immediate: beginsImmediate) { sql in
                // PostgreSQL: when pops follow, the batch's first statement (its adds' insert, else its dones') also
                // takes the claims' cap lock and announces the change (one round trip less; see
                // ``lockingInsertHead(origin:)`` and ``finishRecordingStatement(_:now:locking:on:)``).
                let lockingOrigin = requests.contains { $0.pop != nil }
                    && Self.notifiesWithLock(concurrency: concurrency, oneStatement: oneStatement) ? origin : nil
                // Adds first (in request order, one multi-row insert): a claim of this batch may take them.
                let (addOutcomes, lockedWithAdds) = addRequests.isEmpty
                    ? ([], false)
                    : try await Self.insertTasks(addRequests, topPriority: settings.topPriorityTasks, now: at, locking: lockingOrigin, on: sql)
                let (doneResults, lockedWithDones) = doneRequests.isEmpty
                    ? ([], false)
                    : try await Self.finish(doneRequests.map { ($0.taskUID, $0.lease) }, now: at,
                                            locking: lockedWithAdds ? nil : lockingOrigin, on: sql)
                let capLocked = lockedWithAdds || lockedWithDones
                // Claims in request order; a plain done-and-pop claims only if its done succeeded.
                var pops: [(request: Int, pop: DatabaseWriter.ClaimRequest.Pop)] = []
                var doneIndex = 0
                for (index, request) in requests.enumerated() {
                    let results = doneResults[doneIndex..<(doneIndex + request.dones.count)]
                    doneIndex += request.dones.count
                    guard let pop = request.pop else { continue }
                    if request.popOnlyIfDone, results.contains(where: { (try? $0.get()) == nil }) { continue }
                    pops.append((index, pop))
                }
                // A change already known to be announced (a task finished or added) is announced with the claims'
                // lock where that is one statement (PostgreSQL), saving a round trip; otherwise after the claims.
                let finishedAny = doneResults.contains { (try? $0.get()) != nil }
                let notifiedWithClaims = !capLocked && (finishedAny || addOutcomes.contains(.added)) && !pops.isEmpty
                    && Self.notifiesWithLock(concurrency: concurrency, oneStatement: oneStatement)
                // Delayed tasks that came due join the claims' index first (``DelayedTaskWatch``).
                if !pops.isEmpty, let notes = delayedTasks.promotion(now: at) {
                    let next = try await Self.promoteDueTasks(now: at, on: sql)
                    delayedTasks.promoted(since: notes, now: at, next: next)
                }
                let (claimed, freed) = pops.isEmpty
                    ? ([], false)
                    : try await Self.claimEach(pops.map(\.pop), now: at, settings: settings, concurrency: concurrency,
                                             oneStatement: oneStatement, capLocked: capLocked,
                                             notifying: notifiedWithClaims ? origin : nil, on: sql)
                var popResults = [[ClaimedTaskRow]](repeating: [], count: requests.count)
                for (slot, pop) in pops.enumerated() { popResults[pop.request] = claimed[slot] }
                let freedWork = freed || finishedAny
                let announce = freedWork || addOutcomes.contains(.added)
                if announce, !notifiedWithClaims, !capLocked { try await Self.announceChange(on: sql, origin: origin) }
                return (addOutcomes, doneResults, popResults, (any: announce, freedWork: freedWork, requeued: freed))
            }
            // A lease expired or a task purged: requeued, perhaps with a delay.
            if announced.requeued { delayedTasks.invalidate() }
            if !isSQLite { plannerStatistics.noteAdded(addOutcomes.count { $0 == .added }) }
            if !addRequests.isEmpty || !doneRequests.isEmpty { writer.fullDisk.written() }
            var doneIndex = 0
            var addIndex = 0
            var answers: [(DatabaseWriter.ClaimRequest, DatabaseWriter.ClaimRequest.Answer)] = []
            for (index, request) in requests.enumerated() {
                let results = Array(doneResults[doneIndex..<(doneIndex + request.dones.count)])
                doneIndex += request.dones.count
                let outcomes = Array(addOutcomes[addIndex..<(addIndex + request.adds.count)])
                addIndex += request.adds.count
                answers.append((request, .init(added: outcomes, done: results, claimed: popResults[index])))
            }
            // With SQLite's deferred syncs (`--durability full`) nobody hears of the batch before it is on the disk.
            writer.answerWhenDurable { [answers] error in
                for (request, answer) in answers {
                    if let error { request.fail(error) } else { request.succeed(answer) }
                }
            }
            // Tasks handed to parked long-polls wake nobody else.
            let handedToParked = requests.indices.reduce(0) { $0 + (requests[$1].isParked ? popResults[$1].count : 0) }
            if announced.freedWork {
                signal.notifyAll()
            } else {
                // One long-poll per added task (each hands the wake on if it claims nothing): waking every waiter for
                // one task ran a claim per waiter, and the first one's answer waited for all of them.
                signal.notify(count: addOutcomes.count { $0 == .added } - handedToParked)
            }
            // The change counter after the commit, off the writer: its round trip (0.25-0.8 ms here) delays neither
            // the answers nor the writer's next batch.
            if announced.any, !isSQLite { changeCounter.bump() }
            // Tasks a claimed or added task blocks are held out of the claims' index by a pass after this batch.
            if Self.mayBlock(claimed: popResults, added: addRequests) { blockedTasks.note() }
        } catch {
            // A promotion this batch noted may have been rolled back.
            delayedTasks.invalidate()
            for request in requests { request.fail(error) }
            return error
        }
        return nil
    }

    /// Finishes running tasks (done): deletes every task its claim still holds in one `DELETE ... RETURNING`
    /// (the claim checked in the statement), records them in the history, and only then reads the tasks that
    /// were not deleted to say why (not found, not running, lease lost). Results are in input order; a uid given
    /// twice finishes once: the first report whose lease holds gets the task, a report with another lease is
    /// refused as lease lost, and so is a repeat of the applied one, saying so (a tryout's report of a wrong
    /// token before the right one refused both and left the task running).
    /// On PostgreSQL one statement deletes and records them (``finishRecordingStatement(_:now:locking:on:)``).
    /// - Parameter locking: PostgreSQL, with the statement that records the history: also take the cap lock and
    ///   announce the change with this origin (``finishRecordingStatement(_:now:locking:on:)``). Default: nil.
    /// - Returns: the results, and whether the cap lock was taken and the change announced (true only when a task
    ///   was finished by that statement; otherwise the claims take the lock as usual).
    static func finish(_ dones: [(taskUID: String, lease: LeaseClaim)], now: Double, locking origin: String? = nil,
                       on sql: any SQLDatabase) async throws -> (results: [Result<QueueTask, any Error>], capLocked: Bool)
    {
        guard !dones.isEmpty else { return ([], false) }
        let recordedInStatement = isPostgres(sql)
        let statement = recordedInStatement
            ? finishRecordingStatement(dones, now: now, locking: origin, on: sql) : finishStatement(dones, on: sql)
        let rows = try await sql.raw(statement).all()
        var deleted: [String: QueueTask] = [:]
        for row in rows {
            let task = try decodeTask(row)
            deleted[task.taskUID] = task
        }
        if !deleted.isEmpty, !recordedInStatement {
            // In input order, so that history rows of one batch keep the order of the reports.
            var recorded: Set<String> = []
            let finished = dones.compactMap { done in recorded.insert(done.taskUID).inserted ? deleted[done.taskUID] : nil }
            try await recordHistory(finished.map { ($0, HistoryEntry.Outcome.done, nil) }, now: now, on: sql)
        }
        // Why the others were refused: read only when some were.
        let refusedUIDs = Set(dones.map(\.taskUID)).subtracting(deleted.keys)
        var remaining: [String: QueueTask] = [:]
        if !refusedUIDs.isEmpty {
            let uids = SQLList(refusedUIDs.sorted().map { SQLBind($0) })
            for row in try await sql.raw("SELECT \(taskColumns) FROM queue_tasks WHERE task_uid IN (\(uids))").all() {
                let task = try decodeTask(row)
                remaining[task.taskUID] = task
            }
        }
        var results: [Result<QueueTask, any Error>] = []
        var answered: Set<String> = []
        for (uid, lease) in dones {
            if answered.contains(uid) {
                // A uid reported twice in one request: the first report whose claim held finished it (as a single done
                // sent after it would be: 409 lease lost).
                results.append(.failure(QueueError(.leaseLost, "Lease lost: task \(uid) is reported more than once in this request; "
                                                   + "the first report whose lease holds finished it")))
            } else if let task = deleted[uid] {
                do {
                    try lease.check(task)
                    answered.insert(uid)
                    results.append(.success(task))
                } catch {
                    // Another report of this request (with the lease that holds) finished it.
                    results.append(.failure(error))
                }
            } else if let task = remaining[uid] {
                do {
                    try lease.check(task)
                    // The claim holds now but did not when the row was deleted: changed meanwhile.
                    results.append(.failure(QueueError(.leaseLost, "Lease lost: task \(uid) changed while it was being finished")))
                } catch {
                    results.append(.failure(error))
                }
            } else if !lease.isEmpty, try await inHistory(uid, on: sql) {
                results.append(.failure(QueueError(.leaseLost, "Lease lost: task \(uid) is no longer in the queue (finished, or removed by an operator)")))
            } else {
                results.append(.failure(QueueError(.notFound, "Task \(uid)")))
            }
        }
        return (results, recordedInStatement && origin != nil && !rows.isEmpty)
    }

    /// Advisory lock keys (two-int form, first int = namespace) of the PostgreSQL claim.
    enum AdvisoryLock {
        /// Namespace of the serialization-key locks: (namespace, hashtext(name + US + path key)).
        static let serialKeyNamespace: Int32 = 0x4C51_0001
        /// The concurrency-cap lock: (namespace, 0).
        static let capNamespace: Int32 = 0x4C51_0002
        /// Namespace of the unique-task locks: (namespace, hashtext(context uid + US + name)).
        static let uniqueNamespace: Int32 = 0x4C51_0003
        /// The migrations' lock, a session lock held while one process migrates: (namespace, 0).
        static let migrationNamespace: Int32 = 0x4C51_0004
    }

    /// Claims tasks for each pop, in order (reference 1.2 pop, reference 4): expires leases, applies the purge
    /// and concurrency gate per pop (a batched pop: the cap and its own `max`), picks claimable candidates in
    /// queue order, and marks them running in one `UPDATE ... RETURNING`. Returns the tasks claimed per pop (at
    /// most one for a plain pop), and whether work was freed.
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
    static func claim(for pops: [DatabaseWriter.ClaimRequest.Pop], now: Double, settings: QueueSettings,
                      concurrency: ClaimConcurrency, on sql: any SQLDatabase) async throws -> ([[ClaimedTaskRow]], Bool)
    {
        let concurrent = concurrency == .rowLocks
        var running = try await runningTasks(on: sql)
        var freed = false
        let none = [[ClaimedTaskRow]](repeating: [], count: pops.count)
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
        // Consumer gates (purge, cap) in request order, one slot per task a request may claim; an open slot counts
        // as one more running task for the gates after it (a candidate for one is a candidate for all). A batched
        // pop gets as many slots as it may hold tasks beyond its running ones, within the cap; it is never purged.
        var slots: [Int] = []
        var gated = running
        for (index, pop) in pops.enumerated() {
            let consumerID = pop.consumerID
            let placeholder = ClaimRules.RunningTask(taskUID: "", name: "", pathKey: "", started: now, maxSeconds: 1,
                                                     consumerID: consumerID)
            if pop.batch {
                let held = gated.reduce(0) { $0 + ($1.consumerID == consumerID ? 1 : 0) }
                let count = min(pop.max - held, settings.maxConsumers - gated.count)
                for _ in 0..<max(0, count) {
                    slots.append(index)
                    gated.append(placeholder)
                }
                continue
            }
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
                slots.append(index)
                gated.append(placeholder)
            }
        }
        guard !slots.isEmpty else { return (none, freed) }
        // Candidates in queue order; on PostgreSQL keys another claim holds are skipped and picking goes on. Pages
        // there start small (every row read is locked until the commit) and double as needed.
        var keys = ClaimRules.serialKeys(of: running)
        var taken: Set<String> = []
        var choices = [String?](repeating: nil, count: slots.count)
        var pages = CandidatePages(now: now, lockRows: concurrent,
                                   pageSize: concurrent ? slots.count + 1 : min(claimPageSize, max(8, slots.count * 2)))
        var waiting = Array(slots.indices)
        var runningNow = 0
        for _ in 0..<4 where !waiting.isEmpty {
            var picked: [(slot: Int, candidate: ClaimRules.Candidate)] = []
            for slot in waiting {
                guard let candidate = try await pages.first(claimableWith: keys, excluding: taken, on: sql) else { break }
                picked.append((slot, candidate))
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
            for (slot, candidate) in picked { choices[slot] = candidate.taskUID }
            let served = Set(picked.map(\.slot))
            waiting.removeAll { served.contains($0) }
            if !refused { break }
        }
        var chosen = choices.enumerated().compactMap { slot, uid in uid.map { (consumerID: pops[slots[slot]].consumerID, taskUID: $0) } }
        guard !chosen.isEmpty else { return (none, freed) }
        if concurrent {
            // The cap, counted (in the last re-read) under the cap lock this claim holds until its commit.
            let room = max(0, settings.maxConsumers - runningNow)
            if chosen.count > room {
                for dropped in chosen[room...] {
                    if let slot = choices.firstIndex(of: dropped.taskUID) { choices[slot] = nil }
                }
                chosen = Array(chosen.prefix(room))
                guard !chosen.isEmpty else { return (none, freed) }
            }
        }
        let claimed = try await markRunning(chosen, now: now, on: sql)
        var result = none
        for (slot, uid) in choices.enumerated() {
            if let uid, let task = claimed[uid] { result[slots[slot]].append(task) }
        }
        return (result, freed)
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
        var locks: [SQLQueryString] = ["\(unsafeRaw: capLock)"]
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
    ///
    /// The rows are found by primary key: with 8 or more uids SQLite's planner (no statistics) preferred the
    /// `status` index and read every queued task per claim (2-4 ms a claim at a backlog of 40,000; `bench queue
    /// --batched` spent 37 % of its run there), so `status` is a filter only.
    static func markRunning(_ chosen: [(consumerID: String, taskUID: String)], now: Double, on sql: any SQLDatabase)
        async throws -> [String: ClaimedTaskRow]
    {
        let tokens = chosen.map { _ in TaskUID.make() }
        let rows = try await sql.raw(markRunningStatement(chosen, tokens: tokens, now: now, on: sql)).all()
        guard rows.count == chosen.count else {
            throw QueueError(.leaseLost, "Tasks changed while they were being claimed")
        }
        // Decoded by the requesters, off the writer (``ClaimedTaskRow``).
        var claimed: [String: ClaimedTaskRow] = [:]
        for row in rows {
            let task = try ClaimedTaskRow(row: row)
            claimed[task.taskUID] = task
        }
        return claimed
    }

    /// The `UPDATE ... RETURNING` of ``markRunning(_:now:on:)``: each chosen task (by uid, still queued) running
    /// for its consumer with its token (`tokens[i]` for `chosen[i]`), started `now`, its lease `max_seconds` long.
    static func markRunningStatement(_ chosen: [(consumerID: String, taskUID: String)], tokens: [String], now: Double,
                                     on sql: any SQLDatabase) -> SQLQueryString
    {
        let consumerCases = SQLList(chosen.map { SQLQueryString("WHEN \(bind: $0.taskUID) THEN \(bind: $0.consumerID)") },
                                    separator: SQLRaw(" "))
        let tokenCases = SQLList(zip(chosen, tokens).map { SQLQueryString("WHEN \(bind: $0.taskUID) THEN \(bind: $1)") },
                                 separator: SQLRaw(" "))
        let uids = SQLList(chosen.map { SQLBind($0.taskUID) })
        return """
            UPDATE queue_tasks SET status = 'running', started = \(bind: now), lease_expires = \(bind: now) + max_seconds,
                consumer_id = CASE task_uid \(consumerCases) END,
                lease_token = CASE task_uid \(tokenCases) END
            WHERE task_uid IN (\(uids)) AND \(filterOnly("status", on: sql)) = 'queued'
            RETURNING task_uid, path_key, \(taskColumns)
            """
    }

    /// SQLite: the `DELETE ... RETURNING` of ``finish(_:now:locking:on:)``: the running tasks among `dones` whose
    /// lease matches (consumer and token where given), found by uid. (PostgreSQL runs
    /// ``finishRecordingStatement(_:now:locking:on:)``.)
    static func finishStatement(_ dones: [(taskUID: String, lease: LeaseClaim)], on sql: any SQLDatabase) -> SQLQueryString {
        var conditions: [SQLQueryString] = []
        // Every distinct claim given for a uid: whichever holds deletes the row.
        for claim in distinctClaims(dones) {
            var condition: SQLQueryString = "(task_uid = \(bind: claim.taskUID)"
            if let consumerID = claim.lease.consumerID { condition = condition + " AND consumer_id = \(bind: consumerID)" }
            if let token = claim.lease.leaseToken { condition = condition + " AND lease_token = \(bind: token)" }
            conditions.append(condition + ")")
        }
        let match = SQLList(conditions, separator: SQLRaw(" OR "))
        // `status` a filter only, as in markRunningStatement: each row found by its uid.
        return """
            DELETE FROM queue_tasks WHERE \(filterOnly("status", on: sql)) = 'running' AND (\(match)) RETURNING \(taskColumns)
            """
    }

    /// `dones` without repeats of one claim (uid, consumer, token): each distinct claim once, in order. A consumer or
    /// token not given and one given empty are different claims (a tryout's report without a token, after the same
    /// uid with `""`, was dropped as a repeat and the task left running).
    static func distinctClaims(_ dones: [(taskUID: String, lease: LeaseClaim)]) -> [(taskUID: String, lease: LeaseClaim)] {
        struct Key: Hashable {
            let taskUID: String
            let lease: LeaseClaim
        }
        var seen: Set<Key> = []
        return dones.filter { seen.insert(Key(taskUID: $0.taskUID, lease: $0.lease)).inserted }
    }

    /// PostgreSQL, any number of dones: the `DELETE ... RETURNING` of ``finish(_:now:locking:on:)`` and the history
    /// entries of the tasks it deletes in one prepared statement (a data-modifying `WITH`). The claims and the
    /// entries are passed as arrays (`unnest`), so the statement's text and its 9 binds (12 with the lock) are the
    /// same for any batch beyond a few reports (a few are written with scalar binds, see the comment inside), and it
    /// is prepared whatever the batch: a batched consumer's 32-96 dones were
    /// an `OR` of 3 binds per done, planned at each execution (1.4 ms of planning against 0.9 ms of execution for 48
    /// dones, `pg_stat_statements` over `limsqueue bench queue --batched --database ...`), with the history `INSERT`
    /// as a second round trip. One round trip with the dones instead of two (each 0.25-0.5 ms on this machine).
    ///
    /// A task is deleted when it runs and one of the claims given for it holds (consumer and token where given).
    /// Its rows are locked in uid order first (`FOR UPDATE` in a materialized part of its own, `held`), so a lease
    /// another server expires at the same moment is seen as it ends up, never half-way, and two batches never
    /// deadlock. The `DELETE` then finds the locked rows by primary key (`= ANY (ARRAY(SELECT ...))`, read once):
    /// written as `IN (SELECT ... FOR UPDATE)` the locking subquery was a correlated semi-join that PostgreSQL
    /// re-ran for every row to delete, once its statistics had seen a few thousand tasks come and go: for 48 dones
    /// 48 runs of it, 19-23 ms where 2-4 ms had been (auto_explain, `bench queue --batched` on a used database;
    /// `pg_stat_statements`: 7.0 ms a call against 1.7 ms on a new database). The entries are those
    /// ``recordHistory(_:now:on:)`` writes: one per task deleted, in the order of the reports' first mention of it,
    /// with the claim fields as they were while it ran and outcome `done`; `context_path`, which has no column, from
    /// the body. Its generic plan finds the rows to delete by primary key once the planner's statistics show a queue
    /// (a plan made on a nearly empty table scans it, until the queue store's `PlannerStatisticsRefresher` or
    /// autovacuum runs `ANALYZE`), and the row-locking subquery walks the running tasks, at most `max_consumers`, in
    /// the queue order index (a tryout's `EXPLAIN` of the prepared statement under `force_generic_plan`).
    ///
    /// With `locking` (pops follow in the batch) it also does what the claims' first statement would
    /// (``claimEach(_:now:settings:concurrency:oneStatement:capLocked:notifying:on:)``): takes the cap lock, turns
    /// bitmap and sequential scans off for the transaction (``claimScanSettings``) and sends the change notification
    /// with that origin, one round trip less again. Every row it returns is joined with that one-row part, so a
    /// statement that finished a task has taken the lock; one that finished none may not have, and the claims then
    /// take it (it is re-entrant). The claims' statements come after this one, so their snapshots see every claim
    /// committed before the lock was granted, as with the lock's own statement. Rows are locked by the `DELETE`
    /// before or after the cap lock is waited for; no claim waits for a row lock while it holds the cap lock
    /// (claims and lease expiry skip locked rows), so the two never deadlock.
    static func finishRecordingStatement(_ dones: [(taskUID: String, lease: LeaseClaim)], now: Double, locking origin: String? = nil,
                                         on sql: any SQLDatabase) -> SQLQueryString {
        let claims = distinctClaims(dones)
        var seen: Set<String> = []
        let uids = dones.map(\.taskUID).filter { seen.insert($0).inserted }
        // A few reports: each array built from scalar binds (`ARRAY[$1, $2]`), whose length the planner sees, so
        // that PostgreSQL settles on the cached generic plan after its first few executions. An array bind's length
        // is unknown to a generic plan, which then looks costlier than a fresh one: a single done (senaite.queue's
        // usual report) was planned afresh at every execution, 0.41 ms of planning against 0.16 ms of execution (a
        // tryout's `pg_stat_statements`). More reports: one array bind per column (the batch's size does not change
        // the statement; batches of 40 settled on the generic plan after a few executions).
        // Scalar binds: 5 per claim, 3 per task (its uid in the lookup and the entries, its entry uid), the time and
        // the notification's 2; past ``PreparedStatementRegistry/maxBinds`` the statement would not be prepared.
        let scalars = 5 * claims.count + 3 * uids.count + 3 <= PreparedStatementRegistry.maxBinds
        func array<Value: Encodable & Sendable>(_ values: [Value], _ type: String) -> SQLQueryString {
            scalars ? "ARRAY[\(SQLList(values.map { SQLBind($0) }))]::\(unsafeRaw: type)[]" : "\(bind: values)::\(unsafeRaw: type)[]"
        }
        // The entries' positions: literals with scalars (the text already varies with the count).
        let positions: SQLQueryString = scalars
            ? "ARRAY[\(unsafeRaw: uids.indices.map(String.init).joined(separator: ", "))]::bigint[]" : "\(bind: Array(uids.indices))::bigint[]"
        let lockPart: SQLQueryString = origin.map { origin in
            """
            , locked AS (SELECT \(unsafeRaw: capLockAndScanSettings), pg_notify(\(bind: changeChannel), \(bind: origin)) AS notified)
            """
        } ?? ""
        let lockJoin: SQLQueryString = origin == nil ? "" : " CROSS JOIN locked"
        // A claim's consumer and token are checked only where given (a flag each: arrays hold no NULLs here).
        func holds(_ row: String) -> SQLQueryString {
            """
            EXISTS (SELECT 1 FROM claims c WHERE c.task_uid = \(unsafeRaw: row).task_uid \
            AND (NOT c.check_consumer OR c.consumer_id = \(unsafeRaw: row).consumer_id) \
            AND (NOT c.check_token OR c.lease_token = \(unsafeRaw: row).lease_token))
            """
        }
        return """
            \(unsafeRaw: PreparedStatementRegistry.withMarker) WITH claims AS (SELECT * FROM unnest(\(array(claims.map(\.taskUID), "text")), \
            \(array(claims.map { $0.lease.consumerID ?? "" }, "text")), \(array(claims.map { $0.lease.consumerID != nil }, "boolean")), \
            \(array(claims.map { $0.lease.leaseToken ?? "" }, "text")), \(array(claims.map { $0.lease.leaseToken != nil }, "boolean"))) \
            AS c (task_uid, consumer_id, check_consumer, lease_token, check_token)), \
            held AS MATERIALIZED (SELECT r.task_uid FROM queue_tasks r WHERE r.task_uid = ANY (\(array(uids, "text"))) \
            AND r.status = 'running' AND \(holds("r")) ORDER BY r.task_uid FOR UPDATE), \
            finished AS (DELETE FROM queue_tasks t WHERE t.task_uid = ANY (ARRAY(SELECT h.task_uid FROM held h)) \
            AND (t.status || '') = 'running' AND \(holds("t")) \
            RETURNING \(taskColumns), task_uid, name, context_uid, path_key, username, created), \
            recorded AS (INSERT INTO queue_history (entry_uid, task_uid, name, context_uid, context_path, path_key, username, \
            consumer_id, outcome, error_message, created, started, finished) \
            SELECT e.entry_uid, f.task_uid, f.name, f.context_uid, f.body::json ->> 'context_path', f.path_key, f.username, \
            f.consumer_id, 'done', NULL, f.created, f.started, \(bind: now) \
            FROM finished f JOIN unnest(\(array(uids, "text")), \(array(uids.map { _ in historyEntryUID(now: now) }, "text")), \
            \(positions)) \
            AS e (task_uid, entry_uid, position) ON e.task_uid = f.task_uid \
            ORDER BY e.position)\(lockPart) \
            SELECT \(taskColumns) FROM finished\(lockJoin)
            """
    }

    /// The condition that a queued task of `table` (its name or alias) is not blocked: its path key is empty, or no
    /// running task holds its serialization key (name and path key; reference 1.2). One probe of the unique partial
    /// index `queue_tasks_running_key` per task, whose condition the subquery repeats.
    static func notBlocked(_ table: String) -> SQLQueryString {
        let t = SQLIdentifier(table)
        return """
            (\(t).path_key = '' OR NOT EXISTS (SELECT 1 FROM queue_tasks r WHERE r.status = 'running' AND r.path_key <> '' \
            AND r.name = \(t).name AND r.path_key = \(t).path_key))
            """
    }

    /// SQLite: `INDEXED BY queue_tasks_ready` for a claim's walk of due tasks. Without statistics SQLite's planner took
    /// the queue order index (`status` first), which holds the delayed tasks too (``AddReadyTaskIndex``); a query that
    /// could not use the index fails instead of walking another. PostgreSQL picks it from its statistics (its claim
    /// turns sequential and bitmap scans off, ``claimScanSettings``).
    static func readyIndex(on sql: any SQLDatabase) -> SQLQueryString {
        isPostgres(sql) ? "" : " INDEXED BY queue_tasks_ready"
    }

    /// The page of ``CandidatePages/loadPage(on:)``: queued tasks that are due and promoted (in the claims' index,
    /// ``AddReadyTaskIndex``) and not blocked, in queue order, `limit` of them from `offset`; with `lockRows` read
    /// `FOR UPDATE SKIP LOCKED` (PostgreSQL).
    static func candidatePageStatement(now: Double, limit: Int, offset: Int, lockRows: Bool, on sql: any SQLDatabase) -> SQLQueryString {
        let lock: SQLQueryString = lockRows ? " FOR UPDATE SKIP LOCKED" : ""
        return """
            SELECT task_uid, name, path_key, available_at, max_seconds FROM queue_tasks\(readyIndex(on: sql))
            WHERE status = 'queued' AND available_at <= created AND held = 0 AND available_at <= \(bind: now) AND \(notBlocked("queue_tasks"))
            ORDER BY top_rank, sort_key, context_uid
            LIMIT \(bind: limit) OFFSET \(bind: offset)\(lock)
            """
    }

    /// Queued, due candidates in queue order, read a page at a time as a claim needs them.
    struct CandidatePages {
        let now: Double
        /// PostgreSQL: rows are read `FOR UPDATE SKIP LOCKED` (locked by this claim until its commit; rows other
        /// claims hold are skipped).
        let lockRows: Bool
        var loaded: [ClaimRules.Candidate] = []
        /// The uids in `loaded` (a page may repeat a row a concurrent change moved).
        var loadedUIDs: Set<String> = []
        /// Rows read so far: the next page's offset.
        var offset = 0
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

        /// Reads the next page. Tasks whose serialization key a running task holds are left out by the database
        /// (a probe of `queue_tasks_running_key` each): they cannot be claimed, and 30,000 of them queued behind one
        /// running task made each pop read and check all of them in Swift (9.7 s a pop, found by a tryout).
        mutating func loadPage(on sql: any SQLDatabase) async throws {
            let rows = try await sql.raw(SQLQueueStore.candidatePageStatement(now: now, limit: pageSize, offset: offset,
                                                                              lockRows: lockRows, on: sql)).all()
            offset += rows.count
            for row in rows {
                let candidate = ClaimRules.Candidate(
                    taskUID: try row.decode(column: "task_uid", as: String.self),
                    name: try row.decode(column: "name", as: String.self),
                    pathKey: try row.decode(column: "path_key", as: String.self),
                    availableAt: try row.decode(column: "available_at", as: Double.self)
                )
                maxSeconds[candidate.taskUID] = try row.decode(column: "max_seconds", as: Int.self)
                guard loadedUIDs.insert(candidate.taskUID).inserted else { continue }
                loaded.append(candidate)
            }
            if rows.count < pageSize { exhausted = true }
            pageSize *= 2
        }
    }

    /// Writes `new` over `old` with a compare-and-set on `old`'s status and lease token, and records the ended
    /// attempt in the history when `outcome` is given. The task comes out not held (``AddHeldTasks``): a requeued
    /// task that is blocked is held again by the next pass, and a held task never waits for a delay a requeue gave it.
    /// - Throws: `QueueError.leaseLost` when the row changed under us.
    static func replace(_ old: QueueTask, with new: QueueTask, outcome: HistoryEntry.Outcome?, now: Double,
                        topPriority: [String], on sql: any SQLDatabase) async throws {
        let status = (new.status ?? .queued).rawValue
        let changed = try await sql.raw("""
            UPDATE queue_tasks SET
                status = \(bind: status),
                top_rank = \(bind: TaskOrdering.topRank(of: new, topPriority: topPriority)),
                sort_key = \(bind: TaskOrdering.sortKey(of: new)),
                available_at = \(bind: readyAvailableAt(of: new, now: now)),
                created = \(bind: new.created),
                max_seconds = \(bind: new.maxSeconds),
                started = \(bind: new.started),
                lease_expires = \(bind: new.started.map { $0 + Double(new.maxSeconds) }),
                consumer_id = \(bind: new.consumerID),
                lease_token = \(bind: new.leaseToken),
                body = \(bind: try encodeBody(new)),
                held = 0
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

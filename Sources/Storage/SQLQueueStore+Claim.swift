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
    /// nothing.
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
        do {
            let settings = try await settings()
            let (doneResults, popResults, freed) = try await Self.inTransaction(connection, lock: .claims, immediate: beginsImmediate) { sql in
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
                    ? ([], false) : try await Self.claim(for: consumers, now: at, settings: settings, on: sql)
                return (doneResults, popResults, freed)
            }
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
            if freed || doneResults.contains(where: { (try? $0.get()) != nil }) { signal.notifyAll() }
        } catch {
            for request in requests { request.fail(error) }
        }
    }

    /// Finishes running tasks (done): checks each claim, deletes the valid ones, records them in the history.
    static func finish(_ dones: [(taskUID: String, lease: LeaseClaim)], now: Double, on sql: any SQLDatabase)
        async throws -> [Result<QueueTask, any Error>]
    {
        let uids = SQLList(Set(dones.map(\.taskUID)).sorted().map { SQLBind($0) })
        let rows = try await sql.raw("SELECT \(taskColumns) FROM queue_tasks WHERE task_uid IN (\(uids))").all()
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

    /// Claims one task per consumer, in order (reference 1.2 pop, reference 4): expires leases, applies the
    /// purge and concurrency gate per consumer, picks claimable candidates, and marks them running in one
    /// `UPDATE ... RETURNING`. Returns a task or nil per consumer, and whether work was freed.
    static func claim(for consumers: [String], now: Double, settings: QueueSettings, on sql: any SQLDatabase)
        async throws -> ([QueueTask?], Bool)
    {
        var running = try await sql.raw("""
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
        var freed = false
        // Leases first: a running task whose started + max_seconds has passed is timed out (reference 4).
        for expired in ClaimRules.expiredLeases(running, now: now) {
            if let task = try await load(expired.taskUID, on: sql) {
                try await replace(task, with: task.timedOut(now: now), outcome: .timeout, now: now,
                                  topPriority: settings.topPriorityTasks, on: sql)
            }
            running.removeAll { $0.taskUID == expired.taskUID }
            freed = true
        }
        var choices: [String?] = []
        var chosen: [(consumerID: String, taskUID: String)] = []
        var pages = CandidatePages(now: now)
        for consumerID in consumers {
            switch ClaimRules.gate(running: running, consumerID: consumerID, maxConcurrent: settings.maxConsumers, now: now) {
            case .consumerBusy(let purge):
                for uid in purge {
                    if let task = try await load(uid, on: sql) {
                        let purged = task.failed(message: "Purged on pop (\(consumerID))", now: now)
                        try await replace(task, with: purged, outcome: .purged, now: now,
                                          topPriority: settings.topPriorityTasks, on: sql)
                    }
                    running.removeAll { $0.taskUID == uid }
                    freed = true
                }
                choices.append(nil)
            case .saturated:
                choices.append(nil)
            case .open:
                let keys = ClaimRules.serialKeys(of: running)
                guard let candidate = try await pages.first(claimableWith: keys, excluding: Set(chosen.map(\.taskUID)), on: sql) else {
                    choices.append(nil)
                    continue
                }
                chosen.append((consumerID, candidate.taskUID))
                running.append(ClaimRules.RunningTask(taskUID: candidate.taskUID, name: candidate.name, pathKey: candidate.pathKey,
                                                      started: now, maxSeconds: pages.maxSeconds[candidate.taskUID] ?? 120,
                                                      consumerID: consumerID))
                choices.append(candidate.taskUID)
            }
        }
        guard !chosen.isEmpty else { return (choices.map { _ in nil }, freed) }
        let claimed = try await markRunning(chosen, now: now, on: sql)
        return (choices.map { uid in uid.flatMap { claimed[$0] } }, freed)
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
        var loaded: [ClaimRules.Candidate] = []
        var maxSeconds: [String: Int] = [:]
        var exhausted = false
        var pageSize = SQLQueueStore.claimPageSize

        init(now: Double) {
            self.now = now
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
            let rows = try await sql.raw("""
                SELECT task_uid, name, path_key, available_at, max_seconds FROM queue_tasks
                WHERE status = 'queued' AND available_at <= \(bind: now)
                ORDER BY top_rank, sort_key, context_uid
                LIMIT \(bind: pageSize) OFFSET \(bind: loaded.count)
                """).all()
            for row in rows {
                let candidate = ClaimRules.Candidate(
                    taskUID: try row.decode(column: "task_uid", as: String.self),
                    name: try row.decode(column: "name", as: String.self),
                    pathKey: try row.decode(column: "path_key", as: String.self),
                    availableAt: try row.decode(column: "available_at", as: Double.self)
                )
                maxSeconds[candidate.taskUID] = try row.decode(column: "max_seconds", as: Int.self)
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

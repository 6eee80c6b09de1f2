import FluentKit
import QueueCore
import SQLKit

extension SQLQueueStore {
    /// Candidates read per page while looking for a claimable task (pages grow until the queue is exhausted).
    static let claimPageSize = 32

    public func pop(consumerID: String, now: Double) async throws -> QueueTask? {
        let settings = try await settings()
        let (claimed, freedWork) = try await write(bumping: .claimLock) { sql -> (QueueTask?, Bool) in
            // Leases first: a running task whose started + max_seconds has passed is timed out (reference 4).
            var running = try await Self.runningTasks(on: sql)
            var freed = false
            for expired in ClaimRules.expiredLeases(running.map(ClaimRules.RunningTask.init), now: now) {
                guard let task = running.first(where: { $0.taskUID == expired.taskUID }) else { continue }
                try await Self.replace(task, with: task.timedOut(now: now), outcome: .timeout, now: now,
                                       topPriority: settings.topPriorityTasks, on: sql)
                running.removeAll { $0.taskUID == expired.taskUID }
                freed = true
            }
            let snapshot = running.map(ClaimRules.RunningTask.init)
            switch ClaimRules.gate(running: snapshot, consumerID: consumerID, maxConcurrent: settings.maxConsumers, now: now) {
            case .consumerBusy(let purge):
                for uid in purge {
                    guard let task = running.first(where: { $0.taskUID == uid }) else { continue }
                    let purged = task.failed(message: "Purged on pop (\(consumerID))", now: now)
                    try await Self.replace(task, with: purged, outcome: .purged, now: now,
                                           topPriority: settings.topPriorityTasks, on: sql)
                    freed = true
                }
                return (nil, freed)
            case .saturated:
                return (nil, freed)
            case .open:
                break
            }
            let runningKeys = ClaimRules.serialKeys(of: snapshot)
            var offset = 0
            var pageSize = Self.claimPageSize
            while true {
                let rows = try await sql.raw("""
                    SELECT task_uid, name, path_key, available_at FROM queue_tasks
                    WHERE status = 'queued' AND available_at <= \(bind: now)
                    ORDER BY top_rank, sort_key, context_uid
                    LIMIT \(bind: pageSize) OFFSET \(bind: offset)
                    """).all()
                let candidates = try rows.map { row in
                    ClaimRules.Candidate(
                        taskUID: try row.decode(column: "task_uid", as: String.self),
                        name: try row.decode(column: "name", as: String.self),
                        pathKey: try row.decode(column: "path_key", as: String.self),
                        availableAt: try row.decode(column: "available_at", as: Double.self)
                    )
                }
                if let chosen = ClaimRules.firstClaimable(candidates, runningKeys: runningKeys, now: now) {
                    guard let row = try await sql.raw("SELECT body FROM queue_tasks WHERE task_uid = \(bind: chosen.taskUID)").first() else {
                        return (nil, freed)
                    }
                    let task = try Self.decodeTask(row)
                    let claimed = task.claimed(by: consumerID, leaseToken: TaskUID.make(), now: now)
                    try await Self.replace(task, with: claimed, outcome: nil, now: now,
                                           topPriority: settings.topPriorityTasks, on: sql)
                    return (claimed, freed)
                }
                if rows.count < pageSize { return (nil, freed) }
                offset += pageSize
                pageSize *= 2
            }
        }
        if freedWork {
            try await bumpChanges()
            signal.notifyAll()
        }
        return claimed
    }

    /// Every running task, decoded.
    static func runningTasks(on sql: any SQLDatabase) async throws -> [QueueTask] {
        try await sql.raw("SELECT body FROM queue_tasks WHERE status = 'running'").all().map(decodeTask)
    }

    func bumpChanges() async throws {
        try await sql.raw("UPDATE queue_state SET counter = counter + 1 WHERE id = \(bind: StateRow.changes.rawValue)").run()
    }

    /// Writes `new` over `old` with a compare-and-set on `old`'s status and lease token, and records the ended
    /// attempt in the history when `outcome` is given.
    /// - Throws: `QueueError.leaseLost` when the row changed under us (cannot happen while the lock row is held,
    ///   but the check keeps the transition honest).
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
            try await recordHistory(old, outcome: outcome, errorMessage: new.errorMessage, now: now, on: sql)
        }
    }

    /// `lease_token = ?`, or `lease_token IS NULL` for tasks not running.
    static func leaseMatch(_ token: String?) -> SQLQueryString {
        if let token { return "lease_token = \(bind: token)" }
        return "lease_token IS NULL"
    }
}

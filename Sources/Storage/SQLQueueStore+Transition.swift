import FluentKit
import QueueCore
import SQLKit

extension SQLQueueStore {
    public func fail(_ taskUID: String, message: String, lease: LeaseClaim, now: Double) async throws -> QueueTask {
        try await fail(taskUID, message: message, lease: lease, now: now, retry: true)
    }

    public func fail(_ taskUID: String, message: String, lease: LeaseClaim, now: Double, retry: Bool) async throws -> QueueTask {
        try await finishAttempt(taskUID, lease: lease, now: now) { task in
            let failed = task.failed(message: message, now: now, retry: retry)
            return (failed, failed.status == .failed ? .failed : .retried)
        }
    }

    public func fail(_ reports: [TaskFailureReport], now: Double) async throws -> [Result<QueueTask, any Error>] {
        guard !reports.isEmpty else { return [] }
        let topPriority = try await settings().topPriorityTasks
        let results = try await transaction(.rows, announce: { $0.contains { (try? $0.get()) != nil } }) { sql in
            var results: [Result<QueueTask, any Error>] = []
            var applied: Set<String> = []
            for report in reports {
                // A uid reported again after a report of it was applied: refused saying so, as batched done does (the
                // task was requeued or failed by the first; its lease is gone).
                let uid = report.task.taskUID
                if applied.contains(uid) {
                    results.append(.failure(QueueError(.leaseLost, "Lease lost: task \(uid) is reported more than once in this "
                                                       + "request; the first report whose lease holds failed it")))
                    continue
                }
                // A refusal (unknown task, not running, lease lost) is decided before any row changes: it refuses
                // this report alone. Database errors end the whole transaction.
                do {
                    let task = try await Self.require(uid, lease: report.task.lease, on: sql)
                    let failed = task.failed(message: report.message, now: now, retry: report.retry)
                    try await Self.replace(task, with: failed, outcome: failed.status == .failed ? .failed : .retried, now: now,
                                           topPriority: topPriority, on: sql)
                    results.append(.success(failed))
                    applied.insert(uid)
                } catch let error as QueueError {
                    results.append(.failure(error))
                }
            }
            return results
        }
        noteDelayed(results.compactMap { try? $0.get() }, now: now)
        if results.contains(where: { (try? $0.get()) != nil }) { signal.notifyAll() }
        return results
    }

    public func timeout(_ taskUID: String, lease: LeaseClaim, now: Double) async throws -> QueueTask {
        try await finishAttempt(taskUID, lease: lease, now: now) { task in
            (task.timedOut(now: now), .timeout)
        }
    }

    /// Shared path of fail and timeout: check the claim, apply the core transition, compare-and-set, record.
    private func finishAttempt(
        _ taskUID: String, lease: LeaseClaim, now: Double,
        _ transition: @escaping @Sendable (QueueTask) -> (QueueTask, HistoryEntry.Outcome)
    ) async throws -> QueueTask {
        let topPriority = try await settings().topPriorityTasks
        let task = try await transaction(.rows, announce: { _ in true }) { sql -> QueueTask in
            let task = try await Self.require(taskUID, lease: lease, on: sql)
            let (next, outcome) = transition(task)
            try await Self.replace(task, with: next, outcome: outcome, now: now, topPriority: topPriority, on: sql)
            return next
        }
        noteDelayed([task], now: now)
        signal.notifyAll()
        return task
    }

    public func requeue(_ taskUID: String, lease: LeaseClaim, now: Double) async throws -> QueueTask {
        try await requeue(taskUID, lease: lease, onlyIf: nil, now: now)
    }

    public func requeue(_ taskUID: String, onlyIf statuses: Set<TaskStatus>, now: Double) async throws -> QueueTask {
        try await requeue([(taskUID: taskUID, onlyIf: statuses)], now: now)[0].get()
    }

    public func release(_ taskUID: String, lease: LeaseClaim, now: Double) async throws -> QueueTask {
        try await requeue(taskUID, lease: lease, onlyIf: nil, keepRetries: true, now: now)
    }

    private func requeue(_ taskUID: String, lease: LeaseClaim, onlyIf statuses: Set<TaskStatus>?, keepRetries: Bool = false,
                         now: Double) async throws -> QueueTask {
        if lease.isEmpty, !keepRetries { return try await requeue([(taskUID: taskUID, onlyIf: statuses)], now: now)[0].get() }
        let settings = try await settings()
        let task = try await transaction(.rows, announce: { _ in true }) { sql -> QueueTask in
            let task = try await Self.require(taskUID, lease: lease, on: sql)
            let requeued = keepRetries ? task.released() : task.requeued(maxRetries: settings.maxRetries)
            try await Self.replace(task, with: requeued, outcome: task.status == .running ? .interrupted : nil,
                                   now: now, topPriority: settings.topPriorityTasks, on: sql)
            return requeued
        }
        noteDelayed([task], now: now)
        signal.notifyAll()
        return task
    }

    public func delete(_ taskUID: String, now: Double) async throws -> QueueTask {
        try await delete(taskUID, statuses: nil, now: now)
    }

    public func delete(_ taskUID: String, onlyIf statuses: Set<TaskStatus>, now: Double) async throws -> QueueTask {
        try await delete(taskUID, statuses: statuses, now: now)
    }

    /// Tasks a transaction of ``delete(_:now:)`` (many) removes at most.
    static let deleteChunk = 500

    public func delete(_ targets: [(taskUID: String, onlyIf: Set<TaskStatus>?)], now: Double) async throws
        -> [Result<QueueTask, any Error>]
    {
        try await inChunks(targets) { chunk, sql in try await Self.delete(chunk, now: now, on: sql) }
    }

    public func requeue(_ targets: [(taskUID: String, onlyIf: Set<TaskStatus>?)], now: Double) async throws
        -> [Result<QueueTask, any Error>]
    {
        let settings = try await settings()
        let results = try await inChunks(targets) { chunk, sql in
            try await Self.requeue(chunk, settings: settings, now: now, on: sql)
        }
        noteDelayed(results.compactMap { try? $0.get() }, now: now)
        return results
    }

    /// Runs `body` on `targets` in transactions of at most ``deleteChunk``, announcing each that changed a task, and
    /// wakes this process's long-polls when any did. - Returns: `body`'s results, in order.
    private func inChunks(_ targets: [(taskUID: String, onlyIf: Set<TaskStatus>?)],
                          _ body: @escaping @Sendable ([(taskUID: String, onlyIf: Set<TaskStatus>?)], any SQLDatabase) async throws
                              -> [Result<QueueTask, any Error>]) async throws -> [Result<QueueTask, any Error>]
    {
        var results: [Result<QueueTask, any Error>] = []
        for start in stride(from: 0, to: targets.count, by: Self.deleteChunk) {
            let chunk = Array(targets[start..<min(start + Self.deleteChunk, targets.count)])
            results += try await transaction(.rows, announce: { $0.contains { (try? $0.get()) != nil } }) { sql in
                try await body(chunk, sql)
            }
        }
        if results.contains(where: { (try? $0.get()) != nil }) { signal.notifyAll() }
        return results
    }

    /// The targets' rows by uid, locked `FOR UPDATE` on PostgreSQL (as one delete or requeue does), in uid order.
    private static func lockTargets(_ targets: [(taskUID: String, onlyIf: Set<TaskStatus>?)], on sql: any SQLDatabase)
        async throws -> [String: QueueTask]
    {
        let lock: SQLQueryString = isPostgres(sql) ? " FOR UPDATE" : ""
        let uids = SQLList(Set(targets.map(\.taskUID)).sorted().map { SQLBind($0) })
        var found: [String: QueueTask] = [:]
        for row in try await sql.raw("SELECT \(taskColumns) FROM queue_tasks WHERE task_uid IN (\(uids)) ORDER BY task_uid\(lock)").all() {
            let task = try decodeTask(row)
            found[task.taskUID] = task
        }
        return found
    }

    /// One transaction of ``requeue(_:now:)`` (many): each target in order as its own requeue would be (a uid given
    /// again is requeued again: it is queued by then).
    private static func requeue(_ targets: [(taskUID: String, onlyIf: Set<TaskStatus>?)], settings: QueueSettings, now: Double,
                                on sql: any SQLDatabase) async throws -> [Result<QueueTask, any Error>] {
        try await eachTarget(targets, on: sql) { task in
            let requeued = task.requeued(maxRetries: settings.maxRetries)
            try await replace(task, with: requeued, outcome: task.status == .running ? .interrupted : nil,
                              now: now, topPriority: settings.topPriorityTasks, on: sql)
            return (requeued, requeued)
        }
    }

    /// One transaction of ``delete(_:now:)`` (many): decides each target in order, deletes the chosen rows in one
    /// statement and records the running ones in the history as interrupted ("Deleted").
    private static func delete(_ targets: [(taskUID: String, onlyIf: Set<TaskStatus>?)], now: Double,
                               on sql: any SQLDatabase) async throws -> [Result<QueueTask, any Error>] {
        // A uid given again: gone, as for a second delete.
        let results = try await eachTarget(targets, on: sql) { task in (task, nil) }
        let doomed = results.compactMap { try? $0.get() }
        guard !doomed.isEmpty else { return results }
        try await sql.raw("DELETE FROM queue_tasks WHERE task_uid IN (\(SQLList(doomed.map { SQLBind($0.taskUID) })))").run()
        let interrupted = doomed.filter { $0.status == .running }
        if !interrupted.isEmpty {
            try await recordHistory(interrupted.map { ($0, .interrupted, "Deleted") }, now: now, on: sql)
        }
        return results
    }

    /// The decisions of an operator's change of many tasks, in target order: the targets' rows are read and locked
    /// (``lockTargets(_:on:)``); an unknown uid is refused (`.notFound`), one whose status is not among its `onlyIf`
    /// too (``TaskStatusChanged``); `apply` changes each other one and gives the answer and the task as it is then
    /// (nil: gone), which a later target of the same uid meets. A `QueueError` from `apply` refuses its target alone;
    /// other errors end the transaction.
    private static func eachTarget(_ targets: [(taskUID: String, onlyIf: Set<TaskStatus>?)], on sql: any SQLDatabase,
                                   _ apply: (QueueTask) async throws -> (answer: QueueTask, after: QueueTask?)) async throws
        -> [Result<QueueTask, any Error>]
    {
        var found = try await lockTargets(targets, on: sql)
        var results: [Result<QueueTask, any Error>] = []
        for target in targets {
            guard let task = found[target.taskUID] else {
                results.append(.failure(QueueError(.notFound, "Task \(target.taskUID)")))
                continue
            }
            do {
                try require(task, in: target.onlyIf)
                let (answer, after) = try await apply(task)
                found[target.taskUID] = after
                results.append(.success(answer))
            } catch let error as QueueError {
                results.append(.failure(error))
            } catch let error as TaskStatusChanged {
                results.append(.failure(error))
            }
        }
        return results
    }

    /// Throws ``TaskStatusChanged`` when `statuses` is given and does not hold the task's status.
    private static func require(_ task: QueueTask, in statuses: Set<TaskStatus>?) throws {
        guard let statuses, let status = task.status, !statuses.contains(status) else { return }
        throw TaskStatusChanged(taskUID: task.taskUID, status: status)
    }

    private func delete(_ taskUID: String, statuses: Set<TaskStatus>?, now: Double) async throws -> QueueTask {
        try await delete([(taskUID: taskUID, onlyIf: statuses)], now: now)[0].get()
    }

    /// Whether the queue or its history holds a task not named one of `names`: a database a lab has used, which
    /// ``deleteAllTasks()`` must not empty (`limsqueue bench queue --database` and `bench store --database` check it
    /// with their no-op tasks' names). Stops at the first such row; reads every row only of a database that holds
    /// nothing else.
    public func holdsTasks(otherThan names: [String]) async throws -> Bool {
        let list = SQLList(names.map { SQLBind($0) })
        let row = try await sql.raw("""
            SELECT CASE WHEN EXISTS (SELECT 1 FROM queue_tasks WHERE name NOT IN (\(list)))
                OR EXISTS (SELECT 1 FROM queue_history WHERE name NOT IN (\(list))) THEN 1 ELSE 0 END AS used
            """).first()
        return try row?.decode(column: "used", as: Int.self) == 1
    }

    /// Deletes every task, its object index entries and the whole attempt history (benchmarks that reuse one
    /// PostgreSQL database). Settings stay.
    public func deleteAllTasks() async throws {
        try await transaction(.rows) { sql in
            try await sql.raw("DELETE FROM queue_task_uids").run()
            try await sql.raw("DELETE FROM queue_tasks").run()
            try await sql.raw("DELETE FROM queue_history").run()
        }
    }

    /// Loads a task and checks that `lease` may finish it.
    /// - Throws: `.notFound`, `.notRunning`, `.leaseLost`.
    /// On PostgreSQL the row is locked `FOR UPDATE`, so a change another server makes at the same moment is
    /// waited for and seen, and the compare-and-set that follows cannot miss.
    static func require(_ taskUID: String, lease: LeaseClaim, on sql: any SQLDatabase) async throws -> QueueTask {
        let lock: SQLQueryString = isPostgres(sql) ? " FOR UPDATE" : ""
        let found = try await sql.raw("SELECT \(taskColumns) FROM queue_tasks WHERE task_uid = \(bind: taskUID)\(lock)").first()
        guard let task = try found.map(decodeTask) else {
            if !lease.isEmpty, try await inHistory(taskUID, on: sql) {
                throw QueueError(.leaseLost, "Lease lost: task \(taskUID) is no longer in the queue (finished, or removed by an operator)")
            }
            throw QueueError(.notFound, "Task \(taskUID)")
        }
        try lease.check(task)
        return task
    }

    static func load(_ taskUID: String, on sql: any SQLDatabase) async throws -> QueueTask? {
        try await sql.raw("SELECT \(taskColumns) FROM queue_tasks WHERE task_uid = \(bind: taskUID)").first().map(decodeTask)
    }

    static func inHistory(_ taskUID: String, on sql: any SQLDatabase) async throws -> Bool {
        try await sql.raw("SELECT task_uid FROM queue_history WHERE task_uid = \(bind: taskUID) LIMIT 1").first() != nil
    }
}

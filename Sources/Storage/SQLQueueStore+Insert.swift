import FluentKit
import QueueCore
import SQLKit

extension SQLQueueStore {
    public func add(_ tasks: [QueueTask], now: Double) async throws -> [AddOutcome] {
        guard !tasks.isEmpty else { return [] }
        let topPriority = try await settings().topPriorityTasks
        let outcomes = try await write(bumping: .changes) { sql in
            var outcomes: [AddOutcome] = []
            for var task in tasks {
                task.status = .queued
                task.started = nil
                task.consumerID = nil
                task.leaseToken = nil
                outcomes.append(try await Self.insert(task, topPriority: topPriority, on: sql))
            }
            return outcomes
        }
        if outcomes.contains(.added) { signal.notifyAll() }
        return outcomes
    }

    /// Inserts one queued task inside the caller's transaction, applying the duplicate-uid and `unique`
    /// rules. Use it to enqueue in the same transaction as a LIMS action; then call ``notifyChange()``.
    public static func insert(_ task: QueueTask, topPriority: [String], on sql: any SQLDatabase) async throws -> AddOutcome {
        if task.unique {
            let clash = try await sql.raw("""
                SELECT task_uid FROM queue_tasks
                WHERE context_uid = \(bind: task.contextUID) AND name = \(bind: task.name) AND status = 'queued'
                LIMIT 1
                """).first()
            if clash != nil { return .notUnique }
        }
        let inserted = try await sql.raw("""
            INSERT INTO queue_tasks (task_uid, name, context_uid, path_key, action, status, top_rank, sort_key,
                available_at, created, ghost, started, lease_expires, consumer_id, lease_token, body)
            VALUES (\(bind: task.taskUID), \(bind: task.name), \(bind: task.contextUID), \(bind: task.pathKey),
                \(bind: task.action), \(bind: (task.status ?? .queued).rawValue),
                \(bind: TaskOrdering.topRank(of: task, topPriority: topPriority)), \(bind: TaskOrdering.sortKey(of: task)),
                \(bind: task.availableAt), \(bind: task.created), \(bind: task.ghost ? 1 : 0), \(bind: task.started),
                \(bind: task.started.map { $0 + Double(task.maxSeconds) }), \(bind: task.consumerID),
                \(bind: task.leaseToken), \(bind: try encodeBody(task)))
            ON CONFLICT (task_uid) DO NOTHING
            RETURNING task_uid
            """).first()
        guard inserted != nil else { return .duplicate }
        try await insertObjectUIDs(of: task, on: sql)
        return .added
    }

    /// Indexes the task's context and `uids` in `queue_task_uids` (for `get_tasks_for`, `is_queued`).
    static func insertObjectUIDs(of task: QueueTask, on sql: any SQLDatabase) async throws {
        var seen: Set<String> = [task.contextUID]
        var uids = [task.contextUID]
        for uid in task.uids where seen.insert(uid).inserted { uids.append(uid) }
        for start in stride(from: 0, to: uids.count, by: 400) {
            let batch = uids[start..<min(start + 400, uids.count)]
            let rows = batch.map { SQLGroupExpression([SQLBind(task.taskUID), SQLBind($0)]) }
            try await sql.raw("""
                INSERT INTO queue_task_uids (task_uid, uid) VALUES \(SQLList(rows))
                ON CONFLICT DO NOTHING
                """).run()
        }
    }
}

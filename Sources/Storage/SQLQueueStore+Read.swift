import FluentKit
import QueueCore
import SQLKit

extension SQLQueueStore {
    public func task(_ taskUID: String) async throws -> QueueTask? {
        try await Self.load(taskUID.lowercased(), on: sql)
    }

    public func tasks(status: Set<TaskStatus>, since: Double?) async throws -> [QueueTask] {
        guard !status.isEmpty else { return [] }
        let statuses = SQLList(status.sorted { $0.rawValue < $1.rawValue }.map { SQLBind($0.rawValue) })
        let sinceFilter: SQLQueryString = since.map { "AND created > \(bind: $0)" } ?? ""
        return try await sql.raw("""
            SELECT \(Self.taskColumns) FROM queue_tasks WHERE status IN (\(statuses)) \(sinceFilter)
            ORDER BY CASE status WHEN 'failed' THEN 1 ELSE 0 END, top_rank, sort_key, context_uid, task_uid
            """).all().map(Self.decodeTask)
    }

    /// Reads three short columns per task, no task body (a `diff` at 20,000 queued tasks decoded every body: 250 ms).
    public func taskKeys(status: Set<TaskStatus>) async throws -> [TaskKey] {
        guard !status.isEmpty else { return [] }
        let statuses = SQLList(status.sorted { $0.rawValue < $1.rawValue }.map { SQLBind($0.rawValue) })
        return try await sql.raw("""
            SELECT task_uid, status, ghost FROM queue_tasks WHERE status IN (\(statuses))
            ORDER BY CASE status WHEN 'failed' THEN 1 ELSE 0 END, top_rank, sort_key, context_uid, task_uid
            """).all().map { row in
                guard let status = TaskStatus(rawValue: try row.decode(column: "status", as: String.self)) else {
                    throw StorageError.corruptRow("queue_tasks.status")
                }
                return TaskKey(taskUID: try row.decode(column: "task_uid", as: String.self), status: status,
                               ghost: try row.decode(column: "ghost", as: Int.self) != 0)
            }
    }

    /// By primary key, 500 uids a statement.
    public func tasks(uids: [String]) async throws -> [String: QueueTask] {
        let wanted = Array(Set(uids.map { $0.lowercased() }))
        var found: [String: QueueTask] = [:]
        for start in stride(from: 0, to: wanted.count, by: 500) {
            let list = SQLList(wanted[start..<min(wanted.count, start + 500)].map { SQLBind($0) })
            for row in try await sql.raw("SELECT \(Self.taskColumns) FROM queue_tasks WHERE task_uid IN (\(list))").all() {
                let task = try Self.decodeTask(row)
                found[task.taskUID] = task
            }
        }
        return found
    }

    public func tasks(for uid: String, name: String?) async throws -> [QueueTask] {
        let nameFilter: SQLQueryString = name.map { "AND t.name = \(bind: $0)" } ?? ""
        return try await sql.raw("""
            SELECT t.body, t.status, t.started, t.consumer_id, t.lease_token FROM queue_tasks t
            WHERE t.task_uid IN (SELECT u.task_uid FROM queue_task_uids u WHERE u.uid = \(bind: uid)
                                 UNION SELECT c.task_uid FROM queue_tasks c WHERE c.context_uid = \(bind: uid)) \(nameFilter)
            ORDER BY t.top_rank, t.sort_key, t.context_uid
            """).all().map(Self.decodeTask)
    }

    /// Failed tasks through `queue_tasks_failed_user`; queued and running ones through `queue_tasks_order`,
    /// compared on the `username` column (``AddTaskUsername``).
    /// Each of the two reads takes `offset + limit` rows at most; they are merged, then `offset` dropped.
    public func tasks(username: String, status: Set<TaskStatus>, offset: Int, limit: Int?) async throws -> [QueueTask] {
        var found: [QueueTask] = []
        let offset = min(max(0, offset), Self.maxOffset)
        let limiting: SQLQueryString = limit.map { "LIMIT \(bind: offset + min(max(0, $0), Self.maxOffset))" } ?? ""
        for filter in try userFilters(username: username, status: status) {
            found += try await sql.raw("""
                SELECT \(Self.taskColumns) FROM queue_tasks WHERE \(filter) ORDER BY created DESC, task_uid DESC \(limiting)
                """).all().map(Self.decodeTask)
        }
        let sorted = found.sorted { ($0.created, $0.taskUID) > ($1.created, $1.taskUID) }.dropFirst(offset)
        return Array(limit.map { sorted.prefix(max(0, $0)) } ?? sorted)
    }

    public func taskCount(username: String, status: Set<TaskStatus>) async throws -> Int {
        var count = 0
        for filter in try userFilters(username: username, status: status) {
            count += try await sql.raw("SELECT COUNT(*) AS n FROM queue_tasks WHERE \(filter)").first()?
                .decode(column: "n", as: Int.self) ?? 0
        }
        return count
    }

    /// The conditions of a user's tasks: failed ones (`status = 'failed'`, so that the partial index applies) and
    /// the others, apart.
    private func userFilters(username: String, status: Set<TaskStatus>) throws -> [SQLQueryString] {
        var filters: [SQLQueryString] = []
        if status.contains(.failed) { filters.append("status = 'failed' AND username = \(bind: username)") }
        let active = status.subtracting([.failed]).sorted { $0.rawValue < $1.rawValue }
        if !active.isEmpty {
            filters.append("status IN (\(SQLList(active.map { SQLBind($0.rawValue) }))) AND username = \(bind: username)")
        }
        return filters
    }

    public func objectUIDs(status: Set<TaskStatus>) async throws -> Set<String> {
        Set(try await objectUIDList(status: status))
    }

    public func objectUIDList(status: Set<TaskStatus>) async throws -> [String] {
        guard !status.isEmpty else { return [] }
        let statuses = SQLList(status.sorted { $0.rawValue < $1.rawValue }.map { SQLBind($0.rawValue) })
        let rows = try await sql.raw("""
            SELECT u.uid FROM queue_task_uids u JOIN queue_tasks t ON t.task_uid = u.task_uid
            WHERE t.status IN (\(statuses))
            UNION SELECT t.context_uid FROM queue_tasks t WHERE t.status IN (\(statuses))
            """).all()
        // The union is distinct by the database's comparison (bytes); kept so here (`ExactText`), not folded by `String`.
        let uids = Set(try rows.map { ExactText(try $0.decode(column: "uid", as: String.self)) }).map(\.text)
        return uids.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// Two probes per uid (`queue_task_uids_uid` and `queue_tasks_context`), 500 uids a statement.
    public func objectUIDs(status: Set<TaskStatus>, among uids: [String]) async throws -> Set<String> {
        guard !status.isEmpty, !uids.isEmpty else { return [] }
        let statuses = SQLList(status.sorted { $0.rawValue < $1.rawValue }.map { SQLBind($0.rawValue) })
        let sql = try self.sql
        var result: Set<String> = []
        // Distinct by bytes (as the databases compare), so each form of a uid asked for is probed.
        let distinct = Array(Set(uids.map(ExactText.init))).map(\.text)
        for row in try await SQLLabReader.rows(in: distinct, { set in
            Self.activeAmongStatement(set, statuses: statuses, on: sql)
        }, on: sql) {
            result.insert(try row.decode(column: "uid", as: String.self))
        }
        return result
    }

    /// The uids of `set` that a task with one of `statuses` names, as its context or among its
    /// objects. The status is a filter only: otherwise SQLite's planner walked the queue order index, every queued
    /// task for each page of a listing, instead of probing by uid.
    static func activeAmongStatement(_ set: SQLUIDSet, statuses: SQLList, on sql: any SQLDatabase) -> SQLQueryString {
        let status = filterOnly("t.status", on: sql)
        return """
            SELECT u.uid FROM queue_task_uids u JOIN queue_tasks t ON t.task_uid = u.task_uid
            WHERE u.uid \(set) AND \(status) IN (\(statuses))
            UNION SELECT t.context_uid FROM queue_tasks t WHERE t.context_uid \(set) AND \(status) IN (\(statuses))
            """
    }

    public func sinceTime() async throws -> Double {
        let row = try await sql.raw("SELECT MIN(created) AS since FROM queue_tasks WHERE status <> 'failed'").first()
        return try row?.decode(column: "since", as: Double?.self) ?? -1
    }

    /// One seek in the partial index `queue_tasks_delayed` (``AddDelayedTaskIndex``), whatever the queue's length.
    /// A delayed task that is due but not yet promoted into the claims' index (another process wrote it) makes the
    /// answer `now`: the waiting long-poll claims at once. The answer is noted (``DelayedTaskWatch``): the first claim
    /// from then promotes the task, wherever it was added.
    public func nextAvailableAt(after now: Double) async throws -> Double? {
        guard let first = try await Self.nextDelayed(after: nil, on: sql) else { return nil }
        delayedTasks.note(availableAt: first)
        if first <= now { return now }
        return first
    }

    /// True while a task is queued or running: two index seeks, whatever the queue's length (``counts()`` reads
    /// every row's index entry).
    public func hasActiveTasks() async throws -> Bool {
        let row = try await sql.raw("""
            SELECT EXISTS (SELECT 1 FROM queue_tasks WHERE status = 'queued')
                OR EXISTS (SELECT 1 FROM queue_tasks WHERE status = 'running') AS active
            """).first()
        return try row?.decode(column: "active", as: Bool.self) ?? false
    }

    /// Number of tasks per status.
    public func counts(ghosts: Bool) async throws -> [TaskStatus: Int] {
        let filter: SQLQueryString = ghosts ? "" : " WHERE ghost = 0"
        let rows = try await sql.raw("SELECT status, COUNT(*) AS n FROM queue_tasks\(filter) GROUP BY status").all()
        var counts: [TaskStatus: Int] = [:]
        for row in rows {
            if let status = TaskStatus(rawValue: try row.decode(column: "status", as: String.self)) {
                counts[status] = try row.decode(column: "n", as: Int.self)
            }
        }
        return counts
    }
}

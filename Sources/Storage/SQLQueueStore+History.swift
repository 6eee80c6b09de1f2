import FluentKit
import QueueCore
import SQLKit

extension SQLQueueStore {
    /// A history row's key, 32 hex digits: `now` in microseconds (13 digits), then 19 random ones. Rows written at
    /// one moment sort together, so each insert lands at the right edge of the key's index, not on a random page
    /// (one random page write less per finished task).
    static func historyEntryUID(now: Double) -> String {
        let micros = UInt64(max(0, now) * 1_000_000)
        let time = String(micros, radix: 16)
        let padded = String(repeating: "0", count: max(0, 13 - time.count)) + time.suffix(13)
        return padded + TaskUID.make().prefix(19)
    }

    /// Records ended attempts (each task with its claim fields as they were while it ran) in one statement.
    static func recordHistory(_ entries: [(task: QueueTask, outcome: HistoryEntry.Outcome, errorMessage: String?)],
                              now: Double, on sql: any SQLDatabase) async throws {
        for start in stride(from: 0, to: entries.count, by: 50) {
            let rows = entries[start..<min(start + 50, entries.count)].map { entry -> SQLQueryString in
                let task = entry.task
                return """
                    (\(bind: historyEntryUID(now: now)), \(bind: task.taskUID), \(bind: task.name), \(bind: task.contextUID),
                    \(bind: task.contextPath), \(bind: task.pathKey), \(bind: task.username), \(bind: task.consumerID),
                    \(bind: entry.outcome.rawValue), \(bind: entry.errorMessage), \(bind: task.created), \(bind: task.started),
                    \(bind: now))
                    """
            }
            try await sql.raw("""
                INSERT INTO queue_history (entry_uid, task_uid, name, context_uid, context_path, path_key, username,
                    consumer_id, outcome, error_message, created, started, finished)
                VALUES \(SQLList(rows))
                """).run()
        }
    }

    public func history(since: Double, limit: Int) async throws -> [HistoryEntry] {
        let rows = try await sql.raw("""
            SELECT task_uid, name, context_path, username, consumer_id, outcome, error_message, created, started, finished
            FROM queue_history WHERE finished >= \(bind: since)
            ORDER BY finished DESC LIMIT \(bind: max(0, limit))
            """).all()
        return try rows.map { row in
            guard let outcome = HistoryEntry.Outcome(rawValue: try row.decode(column: "outcome", as: String.self)) else {
                throw StorageError.corruptRow("queue_history.outcome")
            }
            return HistoryEntry(
                taskUID: try row.decode(column: "task_uid", as: String.self),
                name: try row.decode(column: "name", as: String.self),
                contextPath: try row.decode(column: "context_path", as: String.self),
                username: try row.decode(column: "username", as: String.self),
                consumerID: try row.decode(column: "consumer_id", as: String?.self),
                outcome: outcome,
                errorMessage: try row.decode(column: "error_message", as: String?.self),
                created: try row.decode(column: "created", as: Double.self),
                started: try row.decode(column: "started", as: Double?.self),
                finished: try row.decode(column: "finished", as: Double.self)
            )
        }
    }

    public func pruneHistory(now: Double) async throws -> Int {
        let days = try await settings().historyDays
        let cutoff = now - Double(days) * 86_400
        // Through the process's single writer, like every other write.
        return try await transaction(.rows) { sql in
            try await sql.raw("DELETE FROM queue_history WHERE finished < \(bind: cutoff) RETURNING entry_uid").all().count
        }
    }
}

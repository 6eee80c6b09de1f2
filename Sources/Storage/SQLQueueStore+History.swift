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
            let rows = entries[start..<min(start + 50, entries.count)].map { entry -> [any Encodable & Sendable] in
                let task = entry.task
                return [historyEntryUID(now: now), task.taskUID, task.name, task.contextUID, task.contextPath, task.pathKey,
                        task.username, task.consumerID, entry.outcome.rawValue, entry.errorMessage, task.created,
                        task.started, now]
            }
            try await MultiRowStatement(head: """
                INSERT INTO queue_history (entry_uid, task_uid, name, context_uid, context_path, path_key, username,
                    consumer_id, outcome, error_message, created, started, finished)
                """, rows: rows, on: sql).run(on: sql)
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

extension SQLQueueStore {
    /// One aggregate over the window (counts and means per name, through the `queue_history_finished` index), then
    /// per name the two 95th percentiles by the nearest-rank method (one ordered seek each): a window of a
    /// million attempts is summarized in the database, never decoded here. Equal to
    /// ``QueueCore/TaskKindStatistics/summarize(_:)`` of the window's history (means up to rounding).
    public func kindStatistics(since: Double) async throws -> [TaskKindStatistics] {
        let sql = try self.sql
        let wait: SQLQueryString = "CASE WHEN started > created THEN started - created ELSE 0.0 END"
        let run: SQLQueryString = "CASE WHEN finished > started THEN finished - started ELSE 0.0 END"
        let rows = try await sql.raw("""
            SELECT name, COUNT(*) AS attempts,
                SUM(CASE WHEN outcome = 'done' THEN 1 ELSE 0 END) AS processed,
                SUM(CASE WHEN outcome = 'failed' THEN 1 ELSE 0 END) AS failed,
                SUM(CASE WHEN outcome = 'done' AND started IS NOT NULL THEN 1 ELSE 0 END) AS timed,
                AVG(CASE WHEN outcome = 'done' AND started IS NOT NULL THEN \(wait) END) AS wait_mean,
                AVG(CASE WHEN outcome = 'done' AND started IS NOT NULL THEN \(run) END) AS run_mean
            FROM queue_history WHERE finished >= \(bind: since)
            GROUP BY name ORDER BY name
            """).all()
        var result: [TaskKindStatistics] = []
        for row in rows {
            var stats = TaskKindStatistics(name: try row.decode(column: "name", as: String.self))
            let attempts = try row.decode(column: "attempts", as: Int.self)
            stats.processed = try row.decode(column: "processed", as: Int.self)
            stats.failed = try row.decode(column: "failed", as: Int.self)
            stats.retried = attempts - stats.processed - stats.failed
            let timed = try row.decode(column: "timed", as: Int.self)
            if timed > 0 {
                stats.waitMean = try row.decode(column: "wait_mean", as: Double?.self) ?? 0
                stats.runMean = try row.decode(column: "run_mean", as: Double?.self) ?? 0
                // Nearest rank: the ceil(0.95 n)-th smallest.
                let offset = min(max(Int((0.95 * Double(timed)).rounded(.up)), 1), timed) - 1
                for (expression, keyPath) in [(wait, \TaskKindStatistics.waitP95), (run, \TaskKindStatistics.runP95)] {
                    let row = try await sql.raw("""
                        SELECT v FROM (
                            SELECT \(expression) AS v FROM queue_history
                            WHERE finished >= \(bind: since) AND name = \(bind: stats.name) AND outcome = 'done' AND started IS NOT NULL
                        ) AS window_values ORDER BY v LIMIT 1 OFFSET \(bind: offset)
                        """).first()
                    stats[keyPath: keyPath] = try row?.decode(column: "v", as: Double.self) ?? 0
                }
            }
            result.append(stats)
        }
        return result.sorted { $0.name < $1.name } // Swift's order on every database's collation
    }
}

import FluentKit
import Foundation
import QueueCore
import SQLKit

/// Schema: each task's `username` (the user it acts for) as a column of `queue_tasks`, and a partial index
/// `queue_tasks_failed_user (username, created) WHERE status = 'failed'`.
///
/// Every web page shows the signed-in user their failed background work, and `my_tasks` lists their tasks. Both
/// read every task of the queue and parsed its body to find the user's (a whole-table read on every page view:
/// failed tasks stay until someone retries or dismisses them). With the column the failed ones are one index range
/// and the queued and running ones a scan of the active queue that parses nothing. Only failed tasks enter the
/// index, so adds, claims and dones pay nothing for it. Existing tasks get the column from their stored body.
/// Same DDL on SQLite and PostgreSQL.
public struct AddTaskUsername: AsyncMigration {
    public init() {}

    public var name: String { "limsqueue-0008-task-username" }

    public func prepare(on database: any Database) async throws {
        let sql = try database.sqlDatabase()
        try await sql.raw("ALTER TABLE queue_tasks ADD COLUMN username TEXT NOT NULL DEFAULT ''").run()
        // Existing tasks: the username from the body, 500 rows per statement.
        let rows = try await sql.raw("SELECT task_uid, body FROM queue_tasks").all()
        var pairs: [(String, String)] = []
        for row in rows {
            let body = try row.decode(column: "body", as: String.self)
            let username = (try? JSONValue.parse(body))?.objectValue?["username"]?.stringValue ?? ""
            if !username.isEmpty { pairs.append((try row.decode(column: "task_uid", as: String.self), username)) }
        }
        for start in stride(from: 0, to: pairs.count, by: 500) {
            let values = pairs[start..<min(start + 500, pairs.count)].map { pair -> SQLQueryString in "(\(bind: pair.0), \(bind: pair.1))" }
            try await sql.raw("""
                UPDATE queue_tasks SET username = given.column2 FROM (VALUES \(SQLList(values))) AS given
                WHERE queue_tasks.task_uid = given.column1
                """).run()
        }
        try await sql.raw("CREATE INDEX queue_tasks_failed_user ON queue_tasks (username, created) WHERE status = 'failed'").run()
    }

    public func revert(on database: any Database) async throws {
        let sql = try database.sqlDatabase()
        try await sql.raw("DROP INDEX IF EXISTS queue_tasks_failed_user").run()
        try await sql.raw("ALTER TABLE queue_tasks DROP COLUMN username").run()
    }
}

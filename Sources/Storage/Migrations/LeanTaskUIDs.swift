import FluentKit
import SQLKit

/// Schema: `queue_task_uids` no longer holds a row for each task's own context.
///
/// Every task wrote `(task_uid, context_uid)` there beside the uids of its payload, although `queue_tasks_context
/// (context_uid, name)` already finds a task by its context. For the common task without uids (a no-op, a
/// client's security walk chunk) that row was three more b-tree inserts on add and three deletes on done (the
/// table, its primary key and `queue_task_uids_uid`). Measured on the statements alone (SQLite, WAL, synchronous
/// NORMAL, 20,000 tasks: batched add, claim and done of 16 at a time): 6,000 -> 10,000 tasks/s.
///
/// The readers (``SQLQueueStore/objectUIDs(status:among:)``, ``SQLQueueStore/tasks(for:name:)``, the lab's
/// `queued(among:)` and the template pick) ask both indexes. Same SQL on SQLite and PostgreSQL; `revert` writes
/// the context rows back.
public struct LeanTaskUIDs: AsyncMigration {
    public init() {}

    public var name: String { "limsqueue-0007-lean-task-uids" }

    public func prepare(on database: any Database) async throws {
        let sql = try database.sqlDatabase()
        try await sql.raw("""
            DELETE FROM queue_task_uids
            WHERE uid = (SELECT t.context_uid FROM queue_tasks t WHERE t.task_uid = queue_task_uids.task_uid)
            """).run()
    }

    public func revert(on database: any Database) async throws {
        let sql = try database.sqlDatabase()
        // `WHERE` before `ON CONFLICT`: without it SQLite reads the `ON` as a join constraint of the `SELECT`.
        try await sql.raw("""
            INSERT INTO queue_task_uids (task_uid, uid) SELECT task_uid, context_uid FROM queue_tasks WHERE 1 = 1
            ON CONFLICT DO NOTHING
            """).run()
    }
}

import FluentKit
import SQLKit

/// Schema: the claims' own order index, `queue_tasks_ready (top_rank, sort_key, context_uid)` over the queued tasks
/// that are due, `status = 'queued' AND available_at <= created`.
///
/// A task added without a delay enters it at once; a delayed one (`available_at > created`) enters it when it comes
/// due and a claim promotes it (``SQLQueueStore/promoteDueTasks(now:on:)`` sets `available_at` to `created`). The claims
/// walk this index, so tasks delayed for later are never in their way: with the queue order index
/// (`queue_tasks_order`, which every queued task is in) 30,000 tasks delayed an hour ahead of the due ones in queue
/// order made each pop read past all of them, 6 ms a pop on SQLite and 12 ms on PostgreSQL (`limsqueue bench store
/// --delayed-ahead 30000`). Delayed tasks that are already due when this runs are promoted by the first claim. Same
/// DDL on SQLite and PostgreSQL.
public struct AddReadyTaskIndex: AsyncMigration {
    public init() {}

    public var name: String { "limsqueue-0010-ready-task-index" }

    public func prepare(on database: any Database) async throws {
        try await database.sqlDatabase().raw("""
            CREATE INDEX queue_tasks_ready ON queue_tasks (top_rank, sort_key, context_uid)
            WHERE status = 'queued' AND available_at <= created
            """).run()
    }

    public func revert(on database: any Database) async throws {
        try await database.sqlDatabase().raw("DROP INDEX IF EXISTS queue_tasks_ready").run()
    }
}

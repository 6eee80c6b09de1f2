import Foundation
import FluentKit
import SQLKit

/// Schema: queued tasks that a running task of their serialization key blocks can be *held*, out of the claims'
/// index, so that a pop no longer reads past them.
///
/// A claim walks the claims' index (``AddReadyTaskIndex``) in queue order and leaves out the tasks whose name and
/// path key a running task holds (reference 1.2). Each blocked task still cost an index entry read and a probe per
/// pop: 20,000 tasks of one worksheet queued ahead of the rest made every pop take 7.2 ms instead of 0.3 ms on SQLite
/// (`limsqueue bench store --blocked-ahead 20000`). Now:
/// - `queue_tasks.held` (0 or 1): a held task is queued, in the queue as before, but not in `queue_tasks_ready`,
///   whose predicate gains `held = 0`;
/// - the store holds blocked tasks found at the head of the claims' index after claims of keyed tasks
///   (``SQLQueueStore/holdBlockedTasks(window:on:)``);
/// - triggers give each key its turn back: when a task of a key stops running (done, failed, retried, timed out,
///   purged, deleted) or a queued task of it is deleted or changed other than by its claim, the key's first held task
///   in queue order is released (`held = 0`). So whenever no task of a key runs, its first held task is claimable,
///   and the claims' order is exactly as without holds. A release by a trigger cannot be forgotten by any code path
///   that ends a task, and it runs in that path's own transaction.
/// - `queue_tasks_held (name, path_key, top_rank, sort_key, context_uid) WHERE held = 1` finds a key's first held task.
///
/// SQLite's triggers are SQL, per row; PostgreSQL's call PL/pgSQL functions: per row for updates (a claim's update
/// does not call it), per statement for deletes (`queue_tasks_release_held_deleted`, over the deleted rows). `revert`
/// drops them, releases every held task and restores the index.
public struct AddHeldTasks: AsyncMigration {
    public init() {}

    public var name: String { "limsqueue-0012-held-tasks" }

    /// Which rows' changes give their key's turn back: a row of a key that was running or queued and is not (or no
    /// longer) running after the change. A claim (queued to running) and a hold or release (only `held` changes,
    /// which is not among the watched columns) do not.
    static let releasingUpdate = """
        OLD.path_key <> '' AND NEW.status <> 'running' AND OLD.status IN ('running', 'queued')
        """
    static let releasingDelete = "OLD.path_key <> '' AND OLD.status IN ('running', 'queued')"

    /// The statement that releases the first held task of `OLD`'s key, in queue order.
    static let releaseFirstHeld = """
        UPDATE queue_tasks SET held = 0 WHERE task_uid = (
            SELECT h.task_uid FROM queue_tasks h WHERE h.held = 1 AND h.name = OLD.name AND h.path_key = OLD.path_key
            ORDER BY h.top_rank, h.sort_key, h.context_uid LIMIT 1)
        """

    /// PostgreSQL's form of ``releaseFirstHeld``: the held task's row is taken `FOR UPDATE SKIP LOCKED`, never waited
    /// for. A report holds the claims' cap lock when its trigger runs, and a claim of another server may hold that
    /// row (its promotion of delayed tasks or a lease it expired released it first) while it waits for the cap lock:
    /// waiting here deadlocked them (a tryout: 3-8 deadlocks a minute with three servers). A locked first held task is
    /// being released by that other transaction; the next one released here as well only lets claims look at it again
    /// (it is blocked, or the first of its key's turn), which the claims' own check of running keys covers.
    static let releaseFirstHeldSkippingLocked = """
        UPDATE queue_tasks SET held = 0 WHERE task_uid IN (
            SELECT h.task_uid FROM queue_tasks h WHERE h.held = 1 AND h.name = OLD.name AND h.path_key = OLD.path_key
            ORDER BY h.top_rank, h.sort_key, h.context_uid LIMIT 1 FOR UPDATE SKIP LOCKED)
        """

    public func prepare(on database: any Database) async throws {
        let sql = try database.sqlDatabase()
        try await sql.raw("ALTER TABLE queue_tasks ADD COLUMN held INTEGER NOT NULL DEFAULT 0 CHECK (held IN (0, 1))").run()
        try await sql.raw("DROP INDEX IF EXISTS queue_tasks_ready").run()
        try await sql.raw("""
            CREATE INDEX queue_tasks_ready ON queue_tasks (top_rank, sort_key, context_uid)
            WHERE status = 'queued' AND available_at <= created AND held = 0
            """).run()
        try await sql.raw("""
            CREATE INDEX queue_tasks_held ON queue_tasks (name, path_key, top_rank, sort_key, context_uid) WHERE held = 1
            """).run()
        let watched = "status, available_at, top_rank, sort_key"
        if sql.dialect.name == "postgresql" {
            try await sql.raw("""
                CREATE FUNCTION queue_tasks_release_held() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    \(unsafeRaw: Self.releaseFirstHeldSkippingLocked);
                    RETURN NULL;
                END
                $$
                """).run()
            try await sql.raw("""
                CREATE TRIGGER queue_tasks_release_on_update AFTER UPDATE OF \(unsafeRaw: watched) ON queue_tasks
                FOR EACH ROW WHEN (\(unsafeRaw: Self.releasingUpdate)) EXECUTE FUNCTION queue_tasks_release_held()
                """).run()
            // Deletes (dones, in batches) once per statement: a PL/pgSQL call per finished task cost batched dones
            // 3-16 % (`bench queue --batched --database ...`). The keys of the deleted rows each give their first
            // held task its turn.
            try await sql.raw("""
                CREATE FUNCTION queue_tasks_release_held_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    -- Nothing held anywhere (the usual case): one probe of queue_tasks_held instead of one per key.
                    IF NOT EXISTS (SELECT 1 FROM queue_tasks WHERE held = 1) THEN
                        RETURN NULL;
                    END IF;
                    UPDATE queue_tasks SET held = 0 WHERE task_uid IN (
                        SELECT f.task_uid
                        FROM (SELECT DISTINCT g.name, g.path_key FROM gone g WHERE \(unsafeRaw: Self.releasingDelete.replacingOccurrences(of: "OLD.", with: "g."))) k
                        CROSS JOIN LATERAL (
                            SELECT h.task_uid FROM queue_tasks h WHERE h.held = 1 AND h.name = k.name AND h.path_key = k.path_key
                            ORDER BY h.top_rank, h.sort_key, h.context_uid LIMIT 1 FOR UPDATE OF h SKIP LOCKED) f);
                    RETURN NULL;
                END
                $$
                """).run()
            try await sql.raw("""
                CREATE TRIGGER queue_tasks_release_on_delete AFTER DELETE ON queue_tasks
                REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION queue_tasks_release_held_deleted()
                """).run()
        } else {
            try await sql.raw("""
                CREATE TRIGGER queue_tasks_release_on_update AFTER UPDATE OF \(unsafeRaw: watched) ON queue_tasks
                FOR EACH ROW WHEN \(unsafeRaw: Self.releasingUpdate)
                BEGIN \(unsafeRaw: Self.releaseFirstHeld); END
                """).run()
            try await sql.raw("""
                CREATE TRIGGER queue_tasks_release_on_delete AFTER DELETE ON queue_tasks
                FOR EACH ROW WHEN \(unsafeRaw: Self.releasingDelete)
                BEGIN \(unsafeRaw: Self.releaseFirstHeld); END
                """).run()
        }
    }

    public func revert(on database: any Database) async throws {
        let sql = try database.sqlDatabase()
        let postgres = sql.dialect.name == "postgresql"
        try await sql.raw("DROP TRIGGER IF EXISTS queue_tasks_release_on_update\(unsafeRaw: postgres ? " ON queue_tasks" : "")").run()
        try await sql.raw("DROP TRIGGER IF EXISTS queue_tasks_release_on_delete\(unsafeRaw: postgres ? " ON queue_tasks" : "")").run()
        if postgres {
            try await sql.raw("DROP FUNCTION IF EXISTS queue_tasks_release_held()").run()
            try await sql.raw("DROP FUNCTION IF EXISTS queue_tasks_release_held_deleted()").run()
        }
        try await sql.raw("DROP INDEX IF EXISTS queue_tasks_held").run()
        try await sql.raw("DROP INDEX IF EXISTS queue_tasks_ready").run()
        try await sql.raw("""
            CREATE INDEX queue_tasks_ready ON queue_tasks (top_rank, sort_key, context_uid)
            WHERE status = 'queued' AND available_at <= created
            """).run()
        try await sql.raw("ALTER TABLE queue_tasks DROP COLUMN held").run()
    }
}

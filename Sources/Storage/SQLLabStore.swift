import FluentKit
import Foundation
import LIMSCore
import Logging
import QueueCore
import SQLKit
import Synchronization

/// The LIMS objects on any SQL database FluentKit drives, with ZODB-like conflict control.
///
/// A unit of work (``perform(maxRetries:_:afterSave:)``) loads the lab, applies pure `LIMSCore` operations to it
/// and writes what changed in one transaction on the process's single writer (shared with the queue store, so
/// that tasks can be enqueued in the same transaction). Every object row carries a version; a write over a
/// version someone else changed since the unit of work read it fails, and the unit of work is run again from a
/// fresh load, up to `maxRetries` times, then fails cleanly with ``ConflictError``.
///
/// The loaded lab is cached per process and kept current incrementally: each write transaction takes the next
/// number of the LIMS sequence (`queue_state` row 3) and stamps the rows it writes; a load reads only rows
/// (and deletions) stamped after the cached state.
public final class SQLLabStore: Sendable {
    let database: any Database
    let writer: DatabaseWriter
    let logger: Logger
    let cache = Mutex<(state: LabState, seq: Int)?>(nil)

    /// - Parameters:
    ///   - database: a migrated Fluent database, for reads.
    ///   - queue: the queue store whose writer this store shares (one writer per process).
    /// The queue store tasks are enqueued into (same writer, same transaction).
    let queue: SQLQueueStore

    public init(database: any Database, queue: SQLQueueStore, logger: Logger = Logger(label: "limsqueue.lims")) {
        self.database = database
        self.queue = queue
        self.writer = queue.writer
        self.logger = logger
    }

    /// The reader: pooled connections whose statements fail after ``BoundedSQLDatabase/readerTimeoutSeconds`` instead
    /// of hanging on a connection the database server dropped (a PostgreSQL restart; see ``BoundedSQLDatabase``).
    var sql: any SQLDatabase {
        get throws { BoundedSQLDatabase(base: try database.sqlDatabase(), seconds: BoundedSQLDatabase.readerTimeoutSeconds) }
    }

    static let sequenceRow = 3

    // MARK: Loading

    /// The current lab: every object, counter and the lab settings, with stored versions; no changes recorded.
    public func load() async throws -> LabState {
        try await loadWithSequence().state
    }

    /// The current lab and the LIMS sequence number it reflects.
    func loadWithSequence() async throws -> (state: LabState, seq: Int) {
        let sql = try self.sql
        let seq = try await Self.currentSequence(on: sql)
        var (state, cachedSeq) = cache.withLock { $0 } ?? (LabState(), -1)
        if cachedSeq == seq { return (state, seq) }
        let rows = try await sql.raw("""
            SELECT portal_type, version, body FROM lims_objects WHERE seq > \(bind: cachedSeq)
            """).all()
        for row in rows {
            let object = try LabObjectCoding.decode(
                try row.decode(column: "body", as: String.self),
                portalType: try row.decode(column: "portal_type", as: String.self),
                version: try row.decode(column: "version", as: Int.self)
            )
            state.load(object)
        }
        if cachedSeq >= 0 {
            let deleted = try await sql.raw("SELECT uid FROM lims_deletions WHERE seq > \(bind: cachedSeq)").all()
            for row in deleted { state.delete(try row.decode(column: "uid", as: String.self)) }
        }
        for row in try await sql.raw("SELECT key, value FROM lims_counters").all() {
            state.loadCounter(try row.decode(column: "key", as: String.self), value: try row.decode(column: "value", as: Int.self))
        }
        if let settingsRow = try await sql.raw("SELECT value FROM lims_settings WHERE key = 'lab'").first() {
            state.settings = try JSONDecoder().decode(LabSettings.self, from: Data(try settingsRow.decode(column: "value", as: String.self).utf8))
        }
        state.clearChanges()
        let loaded = state
        cache.withLock { $0 = (loaded, seq) }
        return (state, seq)
    }

    static func currentSequence(on sql: any SQLDatabase) async throws -> Int {
        try await sql.raw("SELECT counter FROM queue_state WHERE id = \(bind: sequenceRow)").first()?
            .decode(column: "counter", as: Int.self) ?? 0
    }

    // MARK: Units of work

    /// Runs a unit of work: loads the lab, runs `body` on it, and writes its changes (plus whatever
    /// `afterSave` writes on the same transaction, e.g. queued tasks) atomically. On a conflict the whole unit of
    /// work runs again from a fresh load, at most `maxRetries` more times.
    ///
    /// - Parameters:
    ///   - maxRetries: retries after the first attempt. Default: 3 (as Zope).
    ///   - body: the pure operations; it may throw to abort (nothing is written).
    ///   - afterSave: runs inside the same transaction after the objects are written, with the saved lab.
    /// - Returns: `body`'s result.
    /// - Throws: ``ConflictError`` after the last attempt; `body`'s and the database's errors as they come.
    public func perform<T: Sendable>(
        maxRetries: Int = 3,
        _ body: @Sendable (inout LabState) async throws -> T,
        afterSave: (@Sendable (any SQLDatabase, LabState) async throws -> Void)? = nil
    ) async throws -> T {
        var hook: (@Sendable (any SQLDatabase, LabState, T) async throws -> Void)?
        if let afterSave {
            hook = { @Sendable (sql: any SQLDatabase, state: LabState, _: T) async throws in try await afterSave(sql, state) }
        }
        return try await performCore(maxRetries: maxRetries, body, afterSave: hook)
    }

    /// A unit of work whose `body` also returns tasks to enqueue; they are inserted in the same transaction as
    /// the lab's changes (rules of queue_server `add`), and the queue's long-polls are woken after the commit.
    /// - Throws: ``ConflictError`` after the last retry; ``LabRepositoryError`` `alreadyQueued` (nothing written)
    ///   when a `unique` task meets a queued task of the same name and context; `body`'s and the database's errors.
    public func perform<T: Sendable>(
        maxRetries: Int = 3, enqueuing body: @Sendable (inout LabState) async throws -> (T, [QueueTask])
    ) async throws -> T {
        let topPriority = try await queue.settings().topPriorityTasks
        let (result, tasks) = try await performCore(maxRetries: maxRetries, body) { sql, _, output in
            let outcomes = try await SQLQueueStore.insert(output.1, topPriority: topPriority, on: sql)
            // A unique task that meets a queued twin aborts the whole unit of work (reference 4: never silently
            // dropped). The check runs inside the write transaction, so two racing identical actions cannot
            // both pass it.
            for (task, outcome) in zip(output.1, outcomes) where outcome == .notUnique {
                let twin = try await sql.raw("""
                    SELECT task_uid FROM queue_tasks
                    WHERE context_uid = \(bind: task.contextUID) AND name = \(bind: task.name) AND status = 'queued'
                    LIMIT 1
                    """).first()?.decode(column: "task_uid", as: String.self)
                throw LabRepositoryError(.alreadyQueued, uids: [twin ?? ""].filter { !$0.isEmpty })
            }
        }
        if !tasks.isEmpty { queue.notifyChange() }
        return result
    }

    func performCore<T: Sendable>(
        maxRetries: Int,
        _ body: @Sendable (inout LabState) async throws -> T,
        afterSave: (@Sendable (any SQLDatabase, LabState, T) async throws -> Void)?
    ) async throws -> T {
        var attempt = 0
        while true {
            attempt += 1
            let (original, loadedSeq) = try await loadWithSequence()
            var state = original
            let result = try await body(&state)
            if state.changes.isEmpty, afterSave == nil { return result }
            do {
                var hook: (@Sendable (any SQLDatabase, LabState) async throws -> Void)?
                if let afterSave {
                    hook = { @Sendable (sql: any SQLDatabase, saved: LabState) async throws in try await afterSave(sql, saved, result) }
                }
                try await save(state, original: original, loadedSeq: loadedSeq, afterSave: hook)
                return result
            } catch let conflict as ConflictError {
                logger.notice("conflict, retrying", metadata: ["lims.conflict.uids": .string(conflict.uids.joined(separator: ",")),
                                                               "lims.attempt": .stringConvertible(attempt)])
                cache.withLock { $0 = nil }
                guard attempt <= maxRetries else { throw ConflictError(uids: conflict.uids, attempts: attempt) }
                // Jittered backoff (up to 2, 4, 8 ... 50 ms) so that writers of one worksheet stop colliding in step.
                let ceiling = min(50.0, 2.0 * pow(2.0, Double(attempt - 1)))
                try? await Task.sleep(nanoseconds: UInt64(Double.random(in: 0.5...ceiling) * 1_000_000))
            }
        }
    }

    /// Re-indexes `allowedRolesAndUsers` of the given objects (a step of a security walk).
    public func reindexSecurity(_ uids: [String]) async throws {
        let state = try await load()
        try await writer.write { sql in
            try await SQLQueueStore.inTransaction(sql, lock: .rows, immediate: sql.dialect.name == "sqlite") { sql in
                try await Self.writeSecurity(of: uids, in: state, on: sql)
            }
        }
    }

    /// Object uids of `portalType` the user may see (the `allowedRolesAndUsers` filter of SENAITE's catalog):
    /// Managers and LabManagers see all; others see objects indexed with one of their roles or `user:<id>`.
    public func search(_ portalType: PortalType, visibleTo user: User) async throws -> [String] {
        let rows: [any SQLRow]
        if user.isLabManager {
            rows = try await sql.raw("SELECT uid FROM lims_objects WHERE portal_type = \(bind: portalType.rawValue) ORDER BY path").all()
        } else {
            let tokens = SQLList((user.roles.map(\.rawValue) + ["user:\(user.userid)"]).sorted().map { SQLBind($0) })
            rows = try await sql.raw("""
                SELECT o.uid FROM lims_objects o
                WHERE o.portal_type = \(bind: portalType.rawValue)
                  AND EXISTS (SELECT 1 FROM lims_security s WHERE s.uid = o.uid AND s.token IN (\(tokens)))
                ORDER BY o.path
                """).all()
        }
        return try rows.map { try $0.decode(column: "uid", as: String.self) }
    }

    /// The stored `allowedRolesAndUsers` tokens of one object.
    public func securityTokens(of uid: String) async throws -> Set<String> {
        Set(try await sql.raw("SELECT token FROM lims_security WHERE uid = \(bind: uid)").all()
            .map { try $0.decode(column: "token", as: String.self) })
    }

    /// Stores the lab settings (self-verification and the like).
    public func updateSettings(_ settings: LabSettings) async throws {
        let text = String(decoding: try JSONEncoder().encode(settings), as: UTF8.self)
        try await writer.write { sql in
            try await SQLQueueStore.inTransaction(sql, lock: .rows, immediate: sql.dialect.name == "sqlite") { sql in
                try await sql.raw("""
                    INSERT INTO lims_settings (key, value) VALUES ('lab', \(bind: text))
                    ON CONFLICT (key) DO UPDATE SET value = excluded.value
                    """).run()
                _ = try await Self.nextSequence(on: sql)
            }
        }
        cache.withLock { $0 = nil }
    }
}

import FluentKit
import Foundation
import Logging
import QueueCore
import SQLKit
import Synchronization

/// The durable queue on any SQL database FluentKit drives (SQLite embedded, PostgreSQL to scale out),
/// through one code path of SQLKit statements.
///
/// Every change is one transaction and a compare-and-set on the task's status (and lease). How claims of
/// several processes stay correct depends on what the database offers (``ClaimConcurrency``): on SQLite every
/// write transaction begins `IMMEDIATE`, so writers of every process take turns and a claim's reads are
/// authoritative; on PostgreSQL claims of several server instances run side by side (candidate rows
/// `FOR UPDATE SKIP LOCKED`, transaction-scoped advisory locks on serialization keys and on the concurrency
/// cap, see `SQLQueueStore+Claim.swift`). Changes that can make a task claimable are announced to other
/// processes: `NOTIFY limsqueue_changes` on PostgreSQL (a listener per process calls ``notifyChange()``), and a
/// change counter every long-poll can also poll (``changeCounter()``).
public final class SQLQueueStore: QueueStore {
    public let database: any Database
    let logger: Logger
    let signal = ChangeSignal()
    /// Runs every write transaction of this store, coalescing concurrent pops and dones.
    let writer: DatabaseWriter
    private let cachedSettings = Mutex<(settings: QueueSettings, read: ContinuousClock.Instant)?>(nil)
    /// True on SQLite (read once: the dialect of a database never changes).
    let isSQLite: Bool
    /// PostgreSQL: refreshes the queue tables' planner statistics after bursts of adds (``PlannerStatisticsRefresher``).
    let plannerStatistics: PlannerStatisticsRefresher
    /// Bumps the PostgreSQL change counter after the writer's batches (``ChangeCounterBumper``).
    let changeCounter: ChangeCounterBumper
    /// When the next claim promotes delayed tasks that came due (``promoteDueTasks(now:on:)``).
    let delayedTasks = DelayedTaskWatch()
    /// Holds the tasks a running task blocks, after batches that may have blocked some (``BlockedTaskHolder``).
    let blockedTasks = BlockedTaskHolder()
    /// SQLite: reader connections the store's reads take (``sql``); empty: `database`.
    let threadBoundReaders: [ThreadBoundSQLDatabase]
    /// The number of reads started on ``threadBoundReaders``, for the turn.
    let readTurn = Atomic<Int>(0)
    /// This store's id in change notifications (``announceChange(on:origin:)``): a random 32-hex uid.
    public let instanceID = TaskUID.make()

    /// Seconds settings read from the database are reused before they are read again (another process may
    /// have changed them). Default: 1 second.
    public let settingsCacheSeconds: Double

    /// Whether a claim first tries one `UPDATE ... RETURNING` statement (``claimInOneStatement(_:now:cap:on:)``)
    /// before the stepwise claim. Default: on PostgreSQL, where every statement is a network round trip; not on
    /// SQLite, where a statement costs about 25 us and the one long statement, parsed afresh each time (sqlite-nio
    /// keeps no prepared statements), took longer than the three short ones (measured with `bench store`).
    public let claimsInOneStatement: Bool

    /// - Parameters:
    ///   - database: a Fluent database whose schema ``StorageMigrations`` has migrated, for reads.
    ///   - writerDatabase: the database (its own connection pool) the process's single writer uses; default:
    ///     `database`. With SQLite's one connection per pool, give it a pool of its own so reads never wait for
    ///     a long group-commit run.
    ///   - logger: for warnings about unreadable rows.
    ///   - settingsCacheSeconds: seconds settings are reused before being read again. Default: 1 second.
    ///   - claimInOneStatement: see ``claimsInOneStatement``; nil (default) chooses by database. Tests set it to run
    ///     both claims on either database.
    ///   - writerHoldsConnection: whether the writer keeps its connection checked out between bursts of work until
    ///     ``quiesce()``; nil (default): on SQLite when `writerDatabase` is given (a pool nobody else uses). Give false
    ///     when another store's writer shares that pool.
    ///   - writerConnection: a connection of the writer's own (SQLite: an `InlineSQLiteConnection` and its thread);
    ///     when given, `writerDatabase` and `writerHoldsConnection` are not used. The caller closes it after
    ///     ``quiesce()``.
    ///   - threadBoundReaders: SQLite: reader connections of the same database (the lab store's) that the store's
    ///     reads take instead of `database` (``sql``); the caller closes them after ``quiesce()``. Default: none.
    public init(database: any Database, writerDatabase: (any Database)? = nil, logger: Logger = Logger(label: "limsqueue.storage"),
                settingsCacheSeconds: Double = 1, claimInOneStatement: Bool? = nil, writerHoldsConnection: Bool? = nil,
                writerConnection: DedicatedConnection? = nil, threadBoundReaders: [ThreadBoundSQLDatabase] = []) {
        self.database = database
        self.threadBoundReaders = threadBoundReaders
        self.settingsCacheSeconds = settingsCacheSeconds
        self.logger = logger
        self.isSQLite = (try? database.sqlDatabase().dialect.name) == "sqlite"
        self.claimsInOneStatement = claimInOneStatement ?? !isSQLite
        // The writer holds its connection only on a SQLite pool of its own (see DatabaseWriter.init).
        if let writerConnection {
            self.writer = DatabaseWriter(dedicated: writerConnection)
        } else {
            self.writer = DatabaseWriter(database: writerDatabase ?? database,
                                         holdsConnection: isSQLite && (writerHoldsConnection ?? (writerDatabase != nil)))
        }
        // Bounded as the reader is: a statement sent on a connection the database server dropped never ends.
        plannerStatistics = PlannerStatisticsRefresher(database: { [database] in
            BoundedSQLDatabase(base: try database.sqlDatabase(), seconds: BoundedSQLDatabase.readerTimeoutSeconds)
        })
        changeCounter = ChangeCounterBumper(database: { [database] in
            BoundedSQLDatabase(base: try database.sqlDatabase(), seconds: BoundedSQLDatabase.readerTimeoutSeconds)
        })
        writer.setClaimRunner { [unowned self] requests, sql in await self.runBatch(requests, on: sql) }
        blockedTasks.setPass { [weak self] in (try? await self?.holdBlockedTasks()) ?? 0 }
    }

    /// Waits until the writer is idle and has handed its connection back, and no change-counter bump runs; call
    /// before closing the databases.
    public func quiesce() async {
        await blockedTasks.waitUntilIdle()
        await writer.waitUntilIdle()
        await changeCounter.waitUntilIdle()
    }

    // MARK: Transactions

    /// What a write transaction locks before it reads (kept for the callers that pass it; see ``inTransaction``).
    enum Lock {
        /// A claim: on SQLite `BEGIN IMMEDIATE`; on PostgreSQL the claim takes its own row and advisory locks.
        case claims
        /// Other writes rely on compare-and-set updates only.
        case rows
    }

    /// How claims of several processes on one database are kept correct.
    enum ClaimConcurrency {
        /// SQLite: `BEGIN IMMEDIATE` takes the database write lock up front, so writers of every process take
        /// turns and the claim's reads (running tasks, candidates) are authoritative. `FOR UPDATE` does not
        /// exist there and is never used.
        case serializedWriters
        /// PostgreSQL: claims of several server instances run at once. Candidates are read `FOR UPDATE SKIP
        /// LOCKED`, every serialization key a claim takes is guarded by a transaction-scoped advisory lock plus a
        /// fresh re-check, and the concurrency cap (`max_consumers`) by one advisory lock held from the final
        /// count to the commit.
        case rowLocks
    }

    /// True on SQLite: `BEGIN IMMEDIATE` takes the database write lock up front (waiting while another
    /// process holds it), so no transaction ever upgrades from reader to writer and fails as busy.
    var beginsImmediate: Bool { isSQLite }

    /// ``ClaimConcurrency/serializedWriters`` on SQLite, ``ClaimConcurrency/rowLocks`` on PostgreSQL.
    var claimConcurrency: ClaimConcurrency {
        beginsImmediate ? .serializedWriters : .rowLocks
    }

    /// `column` (a text column) as a term the planner uses as a filter only, never to choose an index: `+column` on
    /// SQLite (which plans without statistics), `(column || '')` on PostgreSQL (no unary plus on text). For a query
    /// whose best index the planner would otherwise pass over: PostgreSQL too, on statistics taken while the queue
    /// was short, walked every queued task through the queue order index (`status` its first column) to find a few
    /// by uid (``ClaimPlanTests``).
    static func filterOnly(_ column: String, on sql: any SQLDatabase) -> SQLQueryString {
        isPostgres(sql) ? SQLQueryString("(" + column + " || '')") : SQLQueryString("+" + column)
    }

    /// True on PostgreSQL (`NOTIFY` and the `queue_changes` sequence exist).
    static func isPostgres(_ sql: any SQLDatabase) -> Bool {
        sql.dialect.name == "postgresql"
    }

    /// Runs `body` in one write transaction on the process's writer connection (`BEGIN IMMEDIATE` on SQLite).
    /// When `announce` says so for the result, the change is announced to every process: `NOTIFY` inside the
    /// transaction (delivered at commit) and a bump of the change counter after the commit.
    /// `provesRoom`: as ``DatabaseWriter/write(provesRoom:_:)``; default true.
    func transaction<T: Sendable>(_ lock: Lock, provesRoom: Bool = true, announce: @escaping @Sendable (T) -> Bool = { _ in false },
                                  _ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        let immediate = beginsImmediate
        let origin = instanceID
        return try await writer.write(provesRoom: provesRoom) { sql in
            let result = try await Self.inTransaction(sql, lock: lock, immediate: immediate) { sql in
                let result = try await body(sql)
                if announce(result) { try await Self.announceChange(on: sql, origin: origin) }
                return result
            }
            if announce(result) { await Self.countChange(on: sql) }
            return result
        }
    }

    /// Runs `body` between BEGIN and COMMIT on `sql` (a single connection), rolling back on error.
    /// `immediate` (SQLite) begins `IMMEDIATE`. `lock` is not used on PostgreSQL any more: claims guard
    /// themselves (``ClaimConcurrency/rowLocks``) and other writes are compare-and-set updates.
    static func inTransaction<T: Sendable>(_ sql: any SQLDatabase, lock: Lock, immediate: Bool,
                                           _ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await sql.raw(immediate ? "BEGIN IMMEDIATE" : "BEGIN").run()
        do {
            let result = try await body(sql)
            try await sql.raw("COMMIT").run()
            return result
        } catch {
            await rollback(sql)
            throw error
        }
    }

    /// The PostgreSQL notification channel on which every change that can make a task claimable is announced
    /// (insert, requeue, done, fail, timeout, delete, a lease expired or purged, settings). Payload: empty.
    public static let changeChannel = "limsqueue_changes"

    /// Inside a transaction: `NOTIFY limsqueue_changes` on PostgreSQL (sent when the transaction commits,
    /// never for a rollback); nothing on SQLite, whose other processes watch `PRAGMA data_version`.
    /// - Parameter origin: the announcing store's ``instanceID`` as the payload, so that its own listener skips the
    ///   notification (the store wakes its own long-polls in memory); empty (every listener wakes) when the change
    ///   is made in a transaction of another component. Default: empty.
    static func announceChange(on sql: any SQLDatabase, origin: String = "") async throws {
        guard isPostgres(sql) else { return }
        if origin.isEmpty {
            try await sql.raw("NOTIFY \(unsafeRaw: changeChannel)").run()
        } else {
            try await sql.raw("SELECT pg_notify(\(bind: changeChannel), \(bind: origin))").run()
        }
    }

    /// Whether a notification with `payload` on ``changeChannel`` must wake this store's long-polls: not when this
    /// store sent it (it woke them in memory already).
    public func isForeignChange(payload: String) -> Bool {
        payload != instanceID
    }

    /// After a commit: bumps the PostgreSQL change counter (sequence `queue_changes`) that long-polls poll when
    /// notifications cannot reach them. Bumped after the commit so that a poller that sees the new value also
    /// sees the change. Best effort: a failure only delays pollers to their periodic retry.
    static func countChange(on sql: any SQLDatabase) async {
        guard isPostgres(sql) else { return }
        _ = try? await sql.raw("SELECT nextval('queue_changes') AS value").run()
    }

    /// Seconds a ROLLBACK may take before the connection is given up (see ``rollback(_:)``).
    static let rollbackTimeoutSeconds: Double = 5

    /// Sends ROLLBACK, ignoring its error, and waits for it at most ``rollbackTimeoutSeconds``. After the database
    /// server dropped the connection (e.g. PostgreSQL restarting), PostgresNIO 1.33 never completes a query sent
    /// on the closed channel; without the bound the process's single writer would wait forever and every
    /// later pop, done and write would hang (found by scripts/chaos). The abandoned query stays suspended.
    static func rollback(_ sql: any SQLDatabase) async {
        let finished = Mutex(false)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let once: @Sendable () -> Void = {
                let first = finished.withLock { done -> Bool in
                    defer { done = true }
                    return !done
                }
                if first { continuation.resume() }
            }
            Task {
                try? await sql.raw("ROLLBACK").run()
                once()
            }
            Task {
                try? await Task.sleep(nanoseconds: UInt64(rollbackTimeoutSeconds * 1_000_000_000))
                once()
            }
        }
    }

    /// The reader: pooled connections whose statements fail after ``BoundedSQLDatabase/readerTimeoutSeconds`` instead
    /// of hanging on a connection the database server dropped (a PostgreSQL restart; see ``BoundedSQLDatabase``).
    /// SQLite: the reads take ``threadBoundReaders`` when given (the reader of the unit of work that reads, if any).
    var sql: any SQLDatabase {
        get throws {
            if let reader = ThreadBoundSQLDatabase.pick(threadBoundReaders, turn: readTurn) { return reader }
            return BoundedSQLDatabase(base: try database.sqlDatabase(), seconds: BoundedSQLDatabase.readerTimeoutSeconds)
        }
    }

    // MARK: Settings

    public func settings() async throws -> QueueSettings {
        if let cached = cachedSettings.withLock({ $0 }),
           cached.read.duration(to: .now) < .milliseconds(Int64(settingsCacheSeconds * 1000)) {
            return cached.settings
        }
        let rows = try await sql.raw("SELECT key, value FROM queue_settings").all()
        var settings = QueueSettings()
        for row in rows {
            let key = try row.decode(column: "key", as: String.self)
            let value = try row.decode(column: "value", as: String.self)
            guard key != Self.authKeySetting else { continue }
            do {
                try settings.set(key, to: value)
            } catch {
                logger.warning("stored setting ignored", metadata: ["lims.setting": .string(key), "lims.error": .string("\(error)")])
            }
        }
        let read = settings
        cachedSettings.withLock { $0 = (read, .now) }
        return settings
    }

    public func updateSettings(_ settings: QueueSettings) async throws {
        let previous = try await self.settings()
        let topChanged = previous.topPriorityTasks != settings.topPriorityTasks
        try await transaction(.rows, announce: { _ in true }) { sql in
            for field in QueueSettings.fields {
                try await Self.upsertSetting(field.key, try settings.value(forKey: field.key), on: sql)
            }
            if topChanged {
                try await Self.rerank(topPriority: settings.topPriorityTasks, on: sql)
            }
        }
        cachedSettings.withLock { $0 = (settings, .now) }
        signal.notifyAll()
    }

    static let authKeySetting = "auth_key"

    static func upsertSetting(_ key: String, _ value: String, on sql: any SQLDatabase) async throws {
        try await sql.raw("""
            INSERT INTO queue_settings (key, value) VALUES (\(bind: key), \(bind: value))
            ON CONFLICT (key) DO UPDATE SET value = excluded.value
            """).run()
    }

    /// Recomputes the top-priority rank of every queued and running task.
    static func rerank(topPriority: [String], on sql: any SQLDatabase) async throws {
        let rows = try await sql.raw("SELECT task_uid, name, action FROM queue_tasks WHERE status <> 'failed'").all()
        for row in rows {
            let uid = try row.decode(column: "task_uid", as: String.self)
            let name = try row.decode(column: "name", as: String.self)
            let action = try row.decode(column: "action", as: String?.self)
            let probe = QueueTask(taskUID: uid, name: name, contextUID: "", contextPath: "", created: 0, username: "", action: action)
            let rank = TaskOrdering.topRank(of: probe, topPriority: topPriority)
            try await sql.raw("UPDATE queue_tasks SET top_rank = \(bind: rank) WHERE task_uid = \(bind: uid)").run()
        }
    }

    /// The auth key stored in the database; when none is stored yet, `generate()` makes one and it is stored
    /// (first start). Concurrent first starts agree on one key.
    public func authKey(generate: @Sendable () -> String) async throws -> String {
        if let key = try await storedAuthKey() { return key }
        let fresh = generate()
        try await transaction(.rows) { sql in
            try await sql.raw("""
                INSERT INTO queue_settings (key, value) VALUES (\(bind: Self.authKeySetting), \(bind: fresh))
                ON CONFLICT (key) DO NOTHING
                """).run()
        }
        return try await storedAuthKey() ?? fresh
    }

    /// Replaces the stored auth key.
    public func setAuthKey(_ key: String) async throws {
        try await transaction(.rows) { sql in
            try await Self.upsertSetting(Self.authKeySetting, key, on: sql)
        }
    }

    func storedAuthKey() async throws -> String? {
        let row = try await sql.raw("SELECT value FROM queue_settings WHERE key = \(bind: Self.authKeySetting)").first()
        return try row?.decode(column: "value", as: String.self)
    }

    // MARK: Change signalling

    /// On SQLite, `PRAGMA data_version` (it changes when another connection, i.e. another process, commits);
    /// on PostgreSQL the `queue_changes` sequence, bumped after every commit that can make a task claimable.
    /// Changes made in this process wake waiters directly; on PostgreSQL a listener wakes them on notifications.
    public func changeCounter() async throws -> Int {
        if beginsImmediate {
            let row = try await sql.raw("PRAGMA data_version").first()
            return try row?.decode(column: "data_version", as: Int.self) ?? 0
        }
        // A fresh sequence reads last_value 1 before and after its first nextval; is_called tells them apart.
        let row = try await sql.raw("SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS value FROM queue_changes").first()
        return try row?.decode(column: "value", as: Int.self) ?? 0
    }

    public func waitForChange(seconds: Double) async {
        await signal.wait(seconds: seconds)
    }

    public func signalWaiter() -> Int {
        signal.register()
    }

    public func waitForSignal(_ waiter: Int, seconds: Double) async -> Bool {
        await signal.wait(waiter, seconds: seconds)
    }

    public func park(consumerID: String, max: Int?) -> ParkedPopTicket {
        writer.parkedPops.park(.init(consumerID: consumerID, max: max ?? 1, batch: max != nil))
    }

    public func waitForParkedAnswer(_ ticket: ParkedPopTicket) async {
        await writer.parkedPops.waitForAnswer(ticket)
    }

    public func withdraw(_ ticket: ParkedPopTicket) async -> [QueueTask] {
        await writer.parkedPops.withdraw(ticket)
    }

    public func passOnSignal() {
        signal.handOn()
    }

    /// Wakes this process's long-polls; call after a change made outside this store's methods
    /// (e.g. tasks inserted by a LIMS action in its own transaction) and when a notification on
    /// ``changeChannel`` arrives from another process.
    public func notifyChange() {
        signal.notifyAll()
    }

    // MARK: Row encoding

    /// Task dict keys held in columns only (the columns are authoritative).
    static let columnKeys: Set<String> = ["status", "started", "consumer_id", "lease_token"]

    /// The columns every task read selects: the body and the column-held fields.
    static let taskColumns: SQLQueryString = "body, status, started, consumer_id, lease_token"

    /// The largest offset or limit a listing reads with (larger ones are capped; no sum of two overflows).
    static let maxOffset = Int(Int32.max)

    /// The stored body of `task` (`queue_tasks.body`): its wire dict without ``columnKeys``, as compact JSON with
    /// sorted keys.
    static func encodeBody(_ task: QueueTask) throws -> String {
        // The column keys removed in place (a `filter` rehashed every member into a new dictionary).
        var dict = task.wireDictionary
        for key in columnKeys { dict.removeValue(forKey: key) }
        return JSONValue.object(dict).jsonString
    }

    /// Tasks decoded from bodies read lately (a claim's and then its report's read of one task).
    static let decodedBodies = DecodedBodyCache()

    /// A task from a row of ``taskColumns``.
    static func decodeTask(_ row: any SQLRow) throws -> QueueTask {
        try task(body: try row.decode(column: "body", as: String.self), status: try row.decode(column: "status", as: String.self),
                 started: try row.decode(column: "started", as: Double?.self),
                 consumerID: try row.decode(column: "consumer_id", as: String?.self),
                 leaseToken: try row.decode(column: "lease_token", as: String?.self))
    }

    /// A task from its stored body and its column-held fields (``columnKeys``); the body is decoded through
    /// ``decodedBodies``.
    /// - Throws: `StorageError.corruptRow` when the body is not a JSON object or `status` is not a task status;
    ///   `QueueError` `.invalidTask` naming a malformed field of the body.
    static func task(body: String, status: String, started: Double?, consumerID: String?, leaseToken: String?) throws -> QueueTask {
        var task = try decodedBodies.task(for: body) { body in
            guard let dict = try JSONValue.parse(body).objectValue else { throw StorageError.corruptRow("queue_tasks.body") }
            return try QueueTask(stored: dict)
        }
        guard let status = TaskStatus(rawValue: status) else {
            throw StorageError.corruptRow("queue_tasks.status")
        }
        task.status = status
        task.started = started
        task.consumerID = consumerID
        task.leaseToken = leaseToken
        return task
    }
}

import FluentKit
import Foundation
import Logging
import QueueCore
import SQLKit
import Synchronization

/// The durable queue on any SQL database FluentKit drives (SQLite embedded, PostgreSQL to scale out),
/// through one code path of SQLKit statements.
///
/// Every change is one transaction and a compare-and-set on the task's status (and lease). Claims are
/// serialized by a row lock on `queue_state` row 1, so the claim rules, which read the set of running tasks,
/// hold across processes and servers. On SQLite every write transaction starts with a write so that the
/// database lock is taken (waiting if busy) before anything is read.
public final class SQLQueueStore: QueueStore {
    let database: any Database
    let logger: Logger
    let signal = ChangeSignal()
    private let cachedSettings = Mutex<(settings: QueueSettings, read: ContinuousClock.Instant)?>(nil)

    /// Seconds settings read from the database are reused before they are read again (another process may
    /// have changed them). Default: 1 second.
    public let settingsCacheSeconds: Double

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    /// - Parameters:
    ///   - database: a Fluent database whose schema ``StorageMigrations`` has migrated.
    ///   - logger: for warnings about unreadable rows.
    ///   - settingsCacheSeconds: seconds settings are reused before being read again. Default: 1 second.
    public init(database: any Database, logger: Logger = Logger(label: "limsqueue.storage"), settingsCacheSeconds: Double = 1) {
        self.database = database
        self.settingsCacheSeconds = settingsCacheSeconds
        self.logger = logger
    }

    // MARK: Transactions

    /// Which `queue_state` row a write transaction bumps first.
    enum StateRow: Int {
        /// Serializes claims (pop) across every process and server.
        case claimLock = 1
        /// Counts changes that may make work claimable; long-polls in other processes watch it.
        case changes = 2
    }

    /// Runs `body` in one transaction that starts by bumping `row` (taking the write lock on SQLite and the
    /// row lock on PostgreSQL before anything is read).
    func write<T: Sendable>(bumping row: StateRow, _ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await database.transaction { db in
            let sql = try db.sqlDatabase()
            try await sql.raw("UPDATE queue_state SET counter = counter + 1 WHERE id = \(bind: row.rawValue)").run()
            return try await body(sql)
        }
    }

    var sql: any SQLDatabase {
        get throws { try database.sqlDatabase() }
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
        try await write(bumping: .changes) { sql in
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
        try await write(bumping: .changes) { sql in
            try await sql.raw("""
                INSERT INTO queue_settings (key, value) VALUES (\(bind: Self.authKeySetting), \(bind: fresh))
                ON CONFLICT (key) DO NOTHING
                """).run()
        }
        return try await storedAuthKey() ?? fresh
    }

    /// Replaces the stored auth key.
    public func setAuthKey(_ key: String) async throws {
        try await write(bumping: .changes) { sql in
            try await Self.upsertSetting(Self.authKeySetting, key, on: sql)
        }
    }

    func storedAuthKey() async throws -> String? {
        let row = try await sql.raw("SELECT value FROM queue_settings WHERE key = \(bind: Self.authKeySetting)").first()
        return try row?.decode(column: "value", as: String.self)
    }

    // MARK: Change signalling

    public func changeCounter() async throws -> Int {
        let row = try await sql.raw("SELECT counter FROM queue_state WHERE id = \(bind: StateRow.changes.rawValue)").first()
        return try row?.decode(column: "counter", as: Int.self) ?? 0
    }

    public func waitForChange(seconds: Double) async {
        await signal.wait(seconds: seconds)
    }

    /// Wakes this process's long-polls; call after a change made outside this store's methods
    /// (e.g. tasks inserted by a LIMS action in its own transaction).
    public func notifyChange() {
        signal.notifyAll()
    }

    // MARK: Row encoding

    static func encodeBody(_ task: QueueTask) throws -> String {
        let data = try encoder.encode(task.wireDictionary)
        return String(decoding: data, as: UTF8.self)
    }

    static func decodeBody(_ body: String) throws -> QueueTask {
        let dict = try JSONDecoder().decode([String: JSONValue].self, from: Data(body.utf8))
        return try QueueTask(stored: dict)
    }

    static func decodeTask(_ row: any SQLRow) throws -> QueueTask {
        try decodeBody(try row.decode(column: "body", as: String.self))
    }
}

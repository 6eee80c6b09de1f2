import Logging
import NIOCore
import SQLiteKit
import SQLiteNIO
import SQLKit
import Synchronization
// The SQLite library sqlite-nio vendors (its symbols prefixed `sqlite_nio_`). The same copy as every other
// connection of the process: two copies of SQLite in one process would each keep their own table of POSIX locks,
// and closing a file in one drops the locks the other holds (https://www.sqlite.org/howtocorrupt.html, 2.2.1).
import VaporCSQLite

/// One SQLite connection that runs each statement on the calling thread, from prepared statements it keeps, and
/// hands rows to SQLKit as they are stepped. For the process's single writer (``Storage/DatabaseWriter``), whose
/// transactions are a handful of short statements each.
///
/// Why not sqlite-nio's connection: it runs every statement as a work item of a `NIOThreadPool` (two thread
/// switches), prepares the statement afresh each time and delivers each row through an event-loop task. A claim
/// (7 statements) paid that 7 times: two thirds of a pop's time on this 2-core machine, measured with `perf` and
/// `limsqueue bench store` (see the closing note of issue 12). The SQL, its binds and the rows' decoding are
/// sqlite-kit's own (``SQLiteDialect``, ``SQLiteDataEncoder``, ``SQLiteDataDecoder``), so the store's one SQLKit
/// code path reads and writes the same values through either connection.
///
/// Statements block the calling thread (while SQLite reads and writes pages, and while it waits, up to
/// ``busyTimeoutMilliseconds``, for another process's write lock): run it on a thread of its own
/// (``Storage/EventLoopTaskExecutor``), never on the cooperative pool. Calls are serialized by a lock; the
/// connection is meant for one caller at a time.
public final class InlineSQLiteConnection: SQLDatabase, @unchecked Sendable {
    /// Milliseconds a statement waits for another connection's lock before it fails with `SQLITE_BUSY`: 30,000.
    public static let busyTimeoutMilliseconds: Int32 = 30_000
    /// Prepared statements kept, by SQL text. Beyond it the least recently used is finalized. Statements whose text
    /// varies (an `IN` list of n binds) take places of their own, so the bound keeps memory flat.
    public static let statementCacheSize = 128

    public let logger: Logger
    public let eventLoop: any EventLoop
    public var dialect: any SQLDialect { SQLiteDialect() }
    public var version: (any SQLDatabaseReportedVersion)? { InlineSQLiteVersion.runtime }
    public var queryLogLevel: Logger.Level? { .debug }

    private let encoder = SQLiteDataEncoder()
    private let decoder = SQLiteDataDecoder()
    private let state: Mutex<State>

    /// The handle and the statement cache; only touched under the lock.
    fileprivate struct State: ~Copyable {
        var handle: OpaquePointer?
        var statements: [StatementText: PreparedStatement] = [:]
        var useCounter: UInt64 = 0

        deinit {
            for statement in statements.values { sqlite_nio_sqlite3_finalize(statement.handle) }
            if let handle { sqlite_nio_sqlite3_close_v2(handle) }
        }
    }

    /// A statement's SQL text as the cache's key: hashed and compared by its UTF-8 bytes. Not the `String` itself:
    /// Swift's string equality is canonical equivalence, so two texts that differ in bytes (a composed and a
    /// decomposed "é" in a literal) would share one prepared statement.
    fileprivate struct StatementText: Hashable {
        let sql: String

        static func == (lhs: StatementText, rhs: StatementText) -> Bool {
            var (left, right) = (lhs.sql, rhs.sql)
            return left.withUTF8 { left in right.withUTF8 { right in left.elementsEqual(right) } }
        }

        func hash(into hasher: inout Hasher) {
            var sql = sql
            sql.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        }
    }

    /// A statement kept prepared, with its result columns (names read once).
    fileprivate struct PreparedStatement {
        let handle: OpaquePointer
        let columns: InlineSQLiteColumns
        var lastUse: UInt64
    }

    /// Opens (creating it if needed) the SQLite database at `path`.
    /// - Parameters:
    ///   - path: the database file.
    ///   - logger: logs each statement at `.debug` as sqlite-kit does (`Executing query`, metadata `sql` and `binds`).
    ///   - eventLoop: only for SQLKit's future-based API (``execute(sql:_:)-(_,_)->EventLoopFuture<Void>``).
    ///   - busyTimeoutMilliseconds: how long a statement waits for another process's lock before it fails with
    ///     `SQLITE_BUSY`. Default: ``busyTimeoutMilliseconds`` (30 s).
    /// - Throws: ``InlineSQLiteError`` when the file cannot be opened.
    public init(path: String, logger: Logger, eventLoop: any EventLoop,
                busyTimeoutMilliseconds: Int32 = InlineSQLiteConnection.busyTimeoutMilliseconds) throws {
        sqlite_nio_sqlite3_initialize()
        var handle: OpaquePointer?
        let flags = SQLITE_OPEN_CREATE | SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_URI | SQLITE_OPEN_EXRESCODE
        let opened = sqlite_nio_sqlite3_open_v2(path, &handle, flags, nil)
        guard opened == SQLITE_OK, let handle else {
            let message = handle.flatMap { sqlite_nio_sqlite3_errmsg($0) }.map { String(cString: $0) } ?? "cannot open"
            if let handle { sqlite_nio_sqlite3_close_v2(handle) }
            throw InlineSQLiteError(code: opened, message: message, sql: "open \(path)")
        }
        sqlite_nio_sqlite3_busy_timeout(handle, busyTimeoutMilliseconds)
        self.state = Mutex(State(handle: handle))
        self.logger = logger
        self.eventLoop = eventLoop
    }

    /// True when SQLite opened the main database read-only (the file or its directory is not writable for this
    /// process): every write would fail, and the connection stays read-only after the permissions are fixed.
    public var isReadOnly: Bool {
        state.withLock { state in state.handle.map { sqlite_nio_sqlite3_db_readonly($0, "main") == 1 } ?? true }
    }

    /// Closes the connection, finalizing its statements. Later statements fail with `SQLITE_MISUSE`.
    public func close() {
        state.withLock { state in
            for statement in state.statements.values { sqlite_nio_sqlite3_finalize(statement.handle) }
            state.statements = [:]
            if let handle = state.handle { sqlite_nio_sqlite3_close_v2(handle) }
            state.handle = nil
        }
    }

    /// Runs `query` now, on this thread, calling `onRow` for each result row before it returns.
    /// - Throws: ``InlineSQLiteError`` (SQLite's code and message, and the SQL) when SQLite refuses the statement
    ///   or a step fails; an encoding error for a bind SQLite cannot store.
    public func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> ()) async throws {
        try run(query, onRow)
    }

    /// SQLKit's future-based form: runs the statement now and returns a completed future.
    public func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> ()) -> EventLoopFuture<Void> {
        do {
            try run(query, onRow)
            return eventLoop.makeSucceededVoidFuture()
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
    }

    private func run(_ query: any SQLExpression, _ onRow: (any SQLRow) -> ()) throws {
        let (sql, binds) = serialize(query)
        let values = try binds.map { try Self.converted($0) ?? encoder.encode($0) }
        // As sqlite-kit logs: the binds in their own metadata key, which log handlers can redact.
        logger.debug("Executing query", metadata: ["sql": .string(sql), "binds": .array(values.map { .string("\($0)") })])
        try state.withLock { state in
            let statement = try state.prepared(sql)
            let handle = statement.handle
            // Reset only: every run binds every parameter of the text again. `sqlite3_clear_bindings` would expire
            // any statement whose plan looked at a bound value (a `LIMIT ?`, a partial index's term), so each next
            // step would parse and plan it again (seen in `perf` as `sqlite3Reprepare`, 2 % of the writer thread).
            defer { sqlite_nio_sqlite3_reset(handle) }
            for (index, value) in values.enumerated() {
                let code = Self.bind(value, at: Int32(index + 1), to: handle)
                guard code == SQLITE_OK else { throw InlineSQLiteError(code: code, handle: state.handle, sql: sql) }
            }
            while true {
                let code = sqlite_nio_sqlite3_step(handle)
                if code == SQLITE_DONE { return }
                guard code == SQLITE_ROW else { throw InlineSQLiteError(code: code, handle: state.handle, sql: sql) }
                let count = statement.columns.names.count
                var row: [SQLiteData] = []
                row.reserveCapacity(count)
                for column in 0..<Int32(count) { row.append(Self.value(of: handle, at: column)) }
                onRow(InlineSQLiteRow(columns: statement.columns, values: row, decoder: decoder))
            }
        }
    }

    /// `bind` as SQLite data when it is a `String`, `Int`, `Double` or `Bool` or an optional of one: exactly what
    /// ``SQLiteDataEncoder`` makes of them (`SQLiteDataConvertible`'s `sqliteData`; a nil optional is a null), found
    /// by comparing the opened existential's type rather than by the encoder's cast to a protocol (2 % of the writer
    /// thread in `perf` of `limsqueue bench store`). Nil for any other type.
    private static func converted(_ bind: any Encodable) -> SQLiteData? {
        converted(opened: bind)
    }

    private static func converted<T: Encodable>(opened value: T) -> SQLiteData? {
        if T.self == String.self { return .text(unsafeBitCast(value, to: String.self)) }
        if T.self == Int.self { return .integer(numericCast(unsafeBitCast(value, to: Int.self))) }
        if T.self == Double.self { return .float(unsafeBitCast(value, to: Double.self)) }
        if T.self == Bool.self { return .integer(unsafeBitCast(value, to: Bool.self) ? 1 : 0) }
        if T.self == String?.self { return unsafeBitCast(value, to: String?.self).map { .text($0) } ?? .null }
        if T.self == Int?.self { return unsafeBitCast(value, to: Int?.self).map { .integer(numericCast($0)) } ?? .null }
        if T.self == Double?.self { return unsafeBitCast(value, to: Double?.self).map { .float($0) } ?? .null }
        if T.self == Bool?.self { return unsafeBitCast(value, to: Bool?.self).map { .integer($0 ? 1 : 0) } ?? .null }
        return nil
    }

    private static func bind(_ value: SQLiteData, at index: Int32, to handle: OpaquePointer) -> Int32 {
        switch value {
        case .integer(let integer):
            return sqlite_nio_sqlite3_bind_int64(handle, index, Int64(integer))
        case .float(let double):
            return sqlite_nio_sqlite3_bind_double(handle, index, double)
        case .text(let text):
            return sqlite_nio_sqlite3_bind_text64(handle, index, text, UInt64(text.utf8.count), transient, UInt8(SQLITE_UTF8))
        case .blob(let buffer):
            return buffer.withUnsafeReadableBytes {
                sqlite_nio_sqlite3_bind_blob64(handle, index, $0.baseAddress, UInt64($0.count), transient)
            }
        case .null:
            return sqlite_nio_sqlite3_bind_null(handle, index)
        }
    }

    private static func value(of handle: OpaquePointer, at column: Int32) -> SQLiteData {
        switch sqlite_nio_sqlite3_column_type(handle, column) {
        case SQLITE_INTEGER:
            return .integer(SQLiteInt64(sqlite_nio_sqlite3_column_int64(handle, column)))
        case SQLITE_FLOAT:
            return .float(sqlite_nio_sqlite3_column_double(handle, column))
        case SQLITE_TEXT:
            guard let text = sqlite_nio_sqlite3_column_text(handle, column) else { return .text("") }
            let length = Int(sqlite_nio_sqlite3_column_bytes(handle, column))
            return .text(String(decoding: UnsafeBufferPointer(start: text, count: length), as: UTF8.self))
        case SQLITE_BLOB:
            let length = Int(sqlite_nio_sqlite3_column_bytes(handle, column))
            var buffer = ByteBufferAllocator().buffer(capacity: length)
            if let bytes = sqlite_nio_sqlite3_column_blob(handle, column) {
                buffer.writeBytes(UnsafeRawBufferPointer(start: bytes, count: length))
            }
            return .blob(buffer)
        default:
            return .null
        }
    }

    /// `SQLITE_TRANSIENT`: SQLite copies a bound text or blob before the call returns.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
}

extension InlineSQLiteConnection.State {
    /// The cached statement for `sql`, prepared (`SQLITE_PREPARE_PERSISTENT`) on first use.
    mutating func prepared(_ sql: String) throws -> InlineSQLiteConnection.PreparedStatement {
        useCounter &+= 1
        let key = InlineSQLiteConnection.StatementText(sql: sql)
        if var statement = statements[key] {
            statement.lastUse = useCounter
            statements[key] = statement
            return statement
        }
        guard let connection = handle else {
            throw InlineSQLiteError(code: SQLITE_MISUSE, message: "the connection is closed", sql: sql)
        }
        var prepared: OpaquePointer?
        let code = sqlite_nio_sqlite3_prepare_v3(connection, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &prepared, nil)
        guard code == SQLITE_OK else { throw InlineSQLiteError(code: code, handle: connection, sql: sql) }
        guard let prepared else {
            // Only a comment or white space: nothing to run. Prepare a no-op so the caller's path stays the same.
            return try self.prepared("SELECT 1 WHERE 0")
        }
        let names = (0..<sqlite_nio_sqlite3_column_count(prepared)).map { column in
            sqlite_nio_sqlite3_column_name(prepared, column).map { String(cString: $0) } ?? ""
        }
        if statements.count >= InlineSQLiteConnection.statementCacheSize,
           let oldest = statements.min(by: { $0.value.lastUse < $1.value.lastUse }) {
            sqlite_nio_sqlite3_finalize(oldest.value.handle)
            statements[oldest.key] = nil
        }
        let statement = InlineSQLiteConnection.PreparedStatement(handle: prepared, columns: InlineSQLiteColumns(names: names),
                                                                 lastUse: useCounter)
        statements[key] = statement
        return statement
    }
}

/// SQLite's answer to a statement it refused or could not finish: its extended result code, its message, the SQL.
public struct InlineSQLiteError: Error, CustomStringConvertible, Sendable {
    /// SQLite's extended result code (`SQLITE_BUSY` 5, `SQLITE_CONSTRAINT_UNIQUE` 2067, ...).
    public let code: Int32
    public let message: String
    public let sql: String

    /// An error with SQLite's extended result `code`, its `message` and the `sql` it came from.
    public init(code: Int32, message: String, sql: String) {
        self.code = code
        self.message = message
        self.sql = sql
    }

    init(code: Int32, handle: OpaquePointer?, sql: String) {
        let message = handle.flatMap { sqlite_nio_sqlite3_errmsg($0) }.map { String(cString: $0) }
            ?? String(cString: sqlite_nio_sqlite3_errstr(code))
        self.init(code: code, message: message, sql: sql)
    }

    public var description: String { "SQLite error \(code): \(message) (in: \(sql))" }
}

/// The SQLite library's version as SQLKit reports a database's version.
struct InlineSQLiteVersion: SQLDatabaseReportedVersion {
    let intValue: Int
    let stringValue: String

    static let runtime = InlineSQLiteVersion(intValue: Int(sqlite_nio_sqlite3_libversion_number()),
                                             stringValue: String(cString: sqlite_nio_sqlite3_libversion()))

    func isEqual(to otherVersion: any SQLDatabaseReportedVersion) -> Bool {
        (otherVersion as? Self)?.intValue == intValue
    }

    func isOlder(than otherVersion: any SQLDatabaseReportedVersion) -> Bool {
        guard let other = otherVersion as? Self else { return false }
        return intValue < other.intValue
    }
}

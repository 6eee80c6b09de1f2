/// A database failure an operator can act on (a full disk, a lock held by another process, a database that is
/// down), told apart from a bug: the HTTP layer answers it 507 or 503 with the database's own words instead of a
/// bare 500. The database drivers' errors conform where the drivers are imported (the CLI module).
public protocol StorageFailure: Error {
    /// The condition, or nil when the error is none of them (then it is answered as any other error: 500).
    var storageCondition: StorageCondition? { get }
    /// The database's message, safe to show: it never carries SQL text or bound values.
    var storageMessage: String { get }
}

/// What an operator can do about a ``StorageFailure``.
public enum StorageCondition: Sendable, Equatable {
    /// The disk holding the database is full (SQLite `SQLITE_FULL`, PostgreSQL `53100 disk_full`): free space;
    /// nothing was written. HTTP 507.
    case full
    /// Another process held a lock longer than the busy timeout (SQLite `SQLITE_BUSY`/`SQLITE_LOCKED`): try again
    /// shortly. HTTP 503 with `Retry-After`.
    case busy
    /// The database cannot be written or reached now (read-only file, server down, too many connections): HTTP
    /// 503 with `Retry-After`.
    case unavailable
    /// The database ended the transaction because a concurrent one collided with it (PostgreSQL `40P01
    /// deadlock_detected`, `40001 serialization_failure`): nothing was written, and running it again will work. A
    /// unit of work retries it itself, as a version conflict; HTTP 503 with `Retry-After` if one still reaches a client.
    case conflict
}

extension StorageCondition {
    /// What happened and what to do, in the words every adapter uses (the HTTP 507/503 answers, the command line):
    /// e.g. "the database's disk is full; nothing was written: free space and try again".
    public var summary: String {
        switch self {
        case .full: "the database's disk is full; nothing was written: free space and try again"
        case .busy: "the database is locked by another process; nothing was written: try again"
        case .unavailable: "the database cannot be written or reached now; nothing was written"
        case .conflict: "the database stopped this write because a concurrent one collided with it; nothing was written: try again"
        }
    }
}

extension StorageFailure {
    /// ``StorageCondition/summary`` with the database's message in brackets; nil for an unclassified failure.
    public var operatorMessage: String? {
        storageCondition.map { "\($0.summary) (\(storageMessage))" }
    }
}

/// How logs and task histories name an error: a ``StorageFailure`` by its type and the database's own words, any
/// other error as it describes itself. PostgresNIO describes every error as "Generic description to prevent
/// accidental leakage", which hides the cause (found in a task's history and in the change listener's log by
/// tryouts).
public func loggedDescription(of error: any Error) -> String {
    if let failure = error as? any StorageFailure { return "\(type(of: error)): \(failure.storageMessage)" }
    return String(describing: error)
}

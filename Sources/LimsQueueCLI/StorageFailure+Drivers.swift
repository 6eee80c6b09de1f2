import FluentPostgresDriver
import FluentSQLiteDriver
import InlineSQLite
import PostgresNIO
import QueueCore
import SQLiteNIO

// The database drivers' errors as ``QueueCore/StorageFailure``s: the HTTP layer answers a full disk 507 and a
// busy or unreachable database 503 with the database's own message, instead of a bare 500 naming the error type.

/// The SQLite writer's errors, by primary result code (the low byte of the extended code; sqlite.org/rescode.html).
extension InlineSQLiteError: StorageFailure {
    public var storageCondition: StorageCondition? {
        switch code & 0xFF {
        case 13: .full            // SQLITE_FULL
        case 5, 6: .busy          // SQLITE_BUSY, SQLITE_LOCKED
        case 8, 14: .unavailable  // SQLITE_READONLY, SQLITE_CANTOPEN
        default: nil
        }
    }

    public var storageMessage: String { message }
}

/// sqlite-nio's errors (the read connections).
extension SQLiteError: StorageFailure {
    public var storageCondition: StorageCondition? {
        switch reason {
        case .full: .full
        case .busy, .busyTimeout, .busyInRecovery, .busyInSnapshot, .locked, .lockedBySharedCache: .busy
        case .readOnly, .readonlyCantLock, .readonlyDirectory, .readonlyInRollback, .readonlyInRecovery, .cantOpen: .unavailable
        default: nil
        }
    }

    public var storageMessage: String { message }
}

/// PostgreSQL's errors: by SQLSTATE (postgresql.org/docs/current/errcodes-appendix.html), or a lost connection.
extension PSQLError: StorageFailure {
    public var storageCondition: StorageCondition? {
        switch code {
        case .connectionError, .serverClosedConnection: return .unavailable
        default: break
        }
        switch serverInfo?[.sqlState] {
        case "53100": return .full                                        // disk_full
        case "53300", "57P01", "57P02", "57P03", "08000", "08003", "08006": return .unavailable
        case "40P01", "40001": return .conflict                           // deadlock_detected, serialization_failure
        default: return nil
        }
    }

    /// The server's own message when it sent one (e.g. `database "lab" does not exist`), else what happened to the
    /// connection, with the network error of a refused or failed connection.
    public var storageMessage: String {
        if let message = serverInfo?[.message] { return message }
        switch code {
        case .connectionError: return "cannot connect to PostgreSQL" + (underlying.map { ": \($0)" } ?? "")
        case .serverClosedConnection: return "the connection to PostgreSQL was lost"
        // A tryout's sslmode=require against a server without TLS read "PostgreSQL: PostgreSQL: sslUnsupported".
        case .sslUnsupported: return "the server does not accept TLS connections, which sslmode=require (or verify-ca, verify-full) asks for"
        default: return "\(code)"
        }
    }
}

extension CLIError {
    /// `error` as the command line shows it: a classified storage failure in the server's words
    /// (``QueueCore/StorageFailure/operatorMessage``), another PostgreSQL error with the server's message (PostgresNIO
    /// describes its errors as "Generic description to prevent accidental leakage of sensitive data"; a tryout got
    /// only that for a database that does not exist), anything else as it is.
    static func readable(_ error: any Error) -> any Error {
        if let failure = error as? any StorageFailure, let message = failure.operatorMessage { return CLIError(message) }
        if let postgres = error as? PSQLError { return CLIError("PostgreSQL: \(postgres.storageMessage)") }
        return error
    }
}

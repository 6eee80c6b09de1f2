import Foundation
import Logging
import NIOCore
import QueueCore
import SQLKit
import Synchronization

/// An `SQLDatabase` (one connection) whose statements each fail with ``StatementTimeoutError`` when they take
/// longer than `seconds`, forwarding everything else to `base`.
///
/// Why: when the database server drops a connection (a PostgreSQL restart), PostgresNIO 1.33 never completes a
/// statement sent on the closed channel (its write is sent without a promise). On the process's single writer
/// that one statement would hang every later pop, done and write of the process for good (found by
/// scripts/chaos). With the bound the statement fails, its transaction rolls back (also bounded), the batch's
/// requests get the error, and the writer's next batch checks out a fresh connection. The abandoned statement
/// stays suspended; it only ever happens on a dead connection.
struct BoundedSQLDatabase: SQLDatabase {
    /// Bound of the stores' pooled reads, seconds: far above the longest legitimate read (loading a large lab, a
    /// day of history), so that only a statement on a dropped connection meets it. Default: 60 seconds.
    static let readerTimeoutSeconds: Double = 60

    let base: any SQLDatabase
    /// Seconds a statement may take, far above any legitimate statement of the writer (milliseconds).
    let seconds: Double
    /// False on SQLite: statements go straight to `base`.
    let bounded: Bool

    /// - Parameters:
    ///   - base: the connection (or pool) statements go to.
    ///   - seconds: bound of one statement, seconds (ignored on SQLite). No default is provided.
    init(base: any SQLDatabase, seconds: Double) {
        self.base = base
        self.seconds = seconds
        self.bounded = base.dialect.name != "sqlite"
    }

    var logger: Logger { base.logger }
    var eventLoop: any EventLoop { base.eventLoop }
    var version: (any SQLDatabaseReportedVersion)? { base.version }
    var dialect: any SQLDialect { base.dialect }
    var queryLogLevel: Logger.Level? { base.queryLogLevel }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> ()) -> EventLoopFuture<Void> {
        guard bounded else { return base.execute(sql: query, onRow) }
        let promise = eventLoop.makePromise(of: Void.self)
        let once = Mutex(false)
        let complete: @Sendable (Result<Void, any Error>) -> Void = { result in
            let first = once.withLock { done -> Bool in
                defer { done = true }
                return !done
            }
            if first { promise.completeWith(result) }
        }
        let timeout = eventLoop.scheduleTask(in: .milliseconds(Int64(seconds * 1000))) {
            complete(.failure(StatementTimeoutError(seconds: seconds)))
        }
        base.execute(sql: query, onRow).whenComplete { result in
            timeout.cancel()
            complete(result)
        }
        return promise.futureResult
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> ()) async throws {
        guard bounded else { return try await base.execute(sql: query, onRow) }
        try await execute(sql: query, onRow).get()
    }
}

/// A statement did not complete within its bound (see ``BoundedSQLDatabase``); its connection is presumed dead.
/// A ``QueueCore/StorageFailure`` of condition `unavailable`: the HTTP layer answers 503 with `Retry-After`, as for
/// any lost connection (it was a bare 500 "StatementTimeoutError" for requests caught on a PostgreSQL connection
/// that `pg_terminate_backend` had ended; found by a tryout's 800 concurrent dones with 6 terminations).
public struct StatementTimeoutError: Error, CustomStringConvertible, Sendable, StorageFailure {
    /// The bound, in seconds.
    public let seconds: Double

    /// - Parameter seconds: the bound that passed.
    public init(seconds: Double) { self.seconds = seconds }

    public var storageCondition: StorageCondition? { .unavailable }
    public var storageMessage: String { description }

    public var description: String { "The database did not answer a statement within \(seconds) s (connection lost?)" }
}

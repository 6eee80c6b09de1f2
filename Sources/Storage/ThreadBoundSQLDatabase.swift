import Logging
import NIOCore
import SQLKit
import Synchronization

/// An `SQLDatabase` over one connection whose statements block the calling thread (an `InlineSQLite` connection),
/// each statement run on a thread of the connection's own (``EventLoopTaskExecutor``): the SQLite lab readers of
/// ``SQLLabStore``.
///
/// Why: sqlite-nio's connection runs each statement as a work item of a `NIOThreadPool`, prepares it afresh every
/// time and hands each row over through an event-loop task. In `perf` of `limsqueue bench lims` (50 users entering
/// results) its lab reads took 18.6 % of the CPU, of which preparing statements was 5.7 % and thread-pool and
/// event-loop hops 7.5 %. Here a statement is prepared once per connection (the connection's cache) and a read costs
/// one hop to the reader's thread and one back; a caller already running on that executor (a unit of work's body,
/// ``SQLLabStore/performCore(maxRetries:_:afterSave:)``) runs its statements without any hop.
///
/// A slow statement (a deep page of a large listing) holds the reader's thread only, never a thread of the
/// cooperative pool that serves HTTP requests and queue claims.
public struct ThreadBoundSQLDatabase: SQLDatabase {
    /// The connection; its statements run synchronously on the calling thread.
    public let base: any SQLDatabase
    /// Runs the statements: the thread that may block on `base`.
    public let executor: EventLoopTaskExecutor

    /// The reader whose thread the current task runs a body on (``running(_:)``): the queue store's reads of that
    /// unit of work (its guards) take it too, without a hop (``SQLQueueStore``).
    @TaskLocal public static var current: ThreadBoundSQLDatabase?

    /// Identifies the connection: two values over one connection are the same reader.
    public let connectionID: ObjectIdentifier
    /// Bodies (``running(_:)``) and statements (``execute(sql:_:)-(_,_)``) running or waiting on the reader's thread
    /// now, shared by every copy of this value.
    let load = Load()

    /// A count the copies of a reader share.
    final class Load: Sendable {
        let units = Atomic<Int>(0)
    }

    /// - Parameters:
    ///   - base: a connection whose `execute` runs the statement before it returns (`InlineSQLiteConnection`).
    ///   - executor: the thread its statements run on; it should have nothing else to do.
    public init(base: any SQLDatabase & AnyObject, executor: EventLoopTaskExecutor) {
        self.base = base
        self.executor = executor
        self.connectionID = ObjectIdentifier(base)
    }

    public var logger: Logger { base.logger }
    public var eventLoop: any EventLoop { executor.eventLoop }
    public var version: (any SQLDatabaseReportedVersion)? { base.version }
    public var dialect: any SQLDialect { base.dialect }
    public var queryLogLevel: Logger.Level? { base.queryLogLevel }

    /// Runs `query` on the executor's thread (no hop when the caller already runs there).
    /// - Throws: the connection's errors.
    public func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> ()) async throws {
        let base = self.base
        // Counted while it waits and runs: a slow statement (a deep page) makes its reader the busier one, so other
        // requests' reads go to another reader instead of queuing behind it (``pick(_:turn:)``).
        load.units.wrappingAdd(1, ordering: .relaxed)
        defer { load.units.wrappingSubtract(1, ordering: .relaxed) }
        try await withTaskExecutorPreference(executor) {
            try await base.execute(sql: query, onRow)
        }
    }

    /// SQLKit's future-based form: the statement runs on the executor's event loop.
    public func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> ()) -> EventLoopFuture<Void> {
        let base = self.base
        let load = self.load
        load.units.wrappingAdd(1, ordering: .relaxed)
        let result = executor.eventLoop.flatSubmit { base.execute(sql: query, onRow) }
        result.whenComplete { _ in load.units.wrappingSubtract(1, ordering: .relaxed) }
        return result
    }

    /// Runs `body` on the executor's thread, with this reader as ``current``: its statements on this database then
    /// need no hop. For a unit of work whose body reads many times.
    /// - Throws: what `body` throws.
    public func running<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        load.units.wrappingAdd(1, ordering: .relaxed)
        defer { load.units.wrappingSubtract(1, ordering: .relaxed) }
        return try await Self.$current.withValue(self) {
            try await withTaskExecutorPreference(executor, operation: body)
        }
    }

    /// The reader of `readers` to use now: ``current`` when it is one of them, else the one with the fewest bodies and
    /// statements running or waiting (``load``), the next in turn of `turn` among equals. Taken in turn regardless of
    /// load, two units of work met on one reader's thread while the other was idle (`demo samples`, two batches in
    /// flight, ran 5-20 % slower than on the cooperative pool), and with only bodies counted, one slow listing (a
    /// search sorted by id, 1.1 s on 200,000 samples) made every other request whose reads fell on its reader wait for
    /// it: a one-row read 2 -> 900-1,000 ms median (a tryout). Nil when `readers` is empty.
    static func pick(_ readers: [ThreadBoundSQLDatabase], turn: borrowing Atomic<Int>) -> ThreadBoundSQLDatabase? {
        guard !readers.isEmpty else { return nil }
        if let current, readers.contains(where: { $0.connectionID == current.connectionID }) { return current }
        let start = Int(UInt(bitPattern: turn.wrappingAdd(1, ordering: .relaxed).oldValue) % UInt(readers.count))
        var best = readers[start]
        var bestLoad = best.load.units.load(ordering: .relaxed)
        for offset in 1..<readers.count where bestLoad > 0 {
            let reader = readers[(start + offset) % readers.count]
            let load = reader.load.units.load(ordering: .relaxed)
            if load < bestLoad { (best, bestLoad) = (reader, load) }
        }
        return best
    }
}

import SQLKit

/// The single writer's own connection and the executor its work runs on: a SQLite connection that runs statements
/// on the calling thread (``InlineSQLite``) and the thread that may block on it (``EventLoopTaskExecutor``).
/// The writer keeps it for its whole life; its owner closes it after ``SQLQueueStore/quiesce()``.
public struct DedicatedConnection: Sendable {
    /// The connection every write transaction runs on.
    public let connection: any SQLDatabase
    /// Runs the writer's drain: statements block its thread.
    public let executor: any TaskExecutor
    /// When set, the connection commits without syncing and a transaction's answer waits for this group sync of the
    /// write-ahead log (SQLite `--durability full`, ``WALGroupSync``); nil: answered at its commit.
    public let durableAfter: WALGroupSync?

    public init(connection: any SQLDatabase, executor: any TaskExecutor, durableAfter: WALGroupSync? = nil) {
        self.connection = connection
        self.executor = executor
        self.durableAfter = durableAfter
    }
}

import Logging
import QueueCore
import SQLKit

/// Copies SQLite's write-ahead log back into the database file from a connection other than the writer's, so
/// that the process's single writer (``SQLQueueStore``) never pays for a checkpoint inside a commit.
///
/// SQLite's default: the connection whose commit takes the log past 1,000 pages runs a PASSIVE checkpoint itself,
/// as part of that commit (it copies the logged pages into the database file and, unless `synchronous=OFF`,
/// fsyncs the log before and the database file after). On LimsQueue's writer that is every pop and done of the
/// batch that happened to cross the threshold (profile of `bench queue --batched`: 3.4 % of all samples in
/// checkpoints called from the writer's commits, more than half of them in fsync). Any connection may checkpoint, and
/// a PASSIVE checkpoint never waits for, nor blocks, the writer or readers. So while ``run()`` runs, the writer's
/// automatic checkpoints are off (`PRAGMA wal_autocheckpoint = 0`) and this loop runs
/// `PRAGMA wal_checkpoint(PASSIVE)` on its own connection about once every ``Configuration/interval`` while the
/// database changes (`PRAGMA data_version`, which also sees other processes' commits).
///
/// The log must not grow without bound. It is rewound to its start only by a write transaction that begins after
/// a checkpoint copied every frame, and a checkpoint beside a busy writer never does: the writer appends while it
/// copies (measured with `bench queue --batched`: PASSIVE checkpoints alone, once a second, let the log grow by
/// 30-40 MB a second, never rewound). So when the log holds more than ``Configuration/walLimitBytes`` (or the
/// checkpoint on the own connection failed), a second PASSIVE checkpoint follows at once on the writer's
/// connection, queued between its transactions: nothing is appended while it runs, it copies only what the writer
/// appended since the first (the first copied and fsynced the bulk), and the writer's next transaction rewinds the
/// log. Under sustained writes the log thus stays near one interval of writes; SQLite's own automatic checkpoint
/// runs on the writer at every 1,000 pages instead.
///
/// With ``Durability/normal`` (`synchronous=NORMAL`) a checkpoint is also when the log is fsynced: with this loop a
/// serving process fsyncs it within about one interval after a commit, where SQLite's default waits until the log
/// reaches 1,000 pages (with a lab's trickle of tasks, possibly hours).
///
/// Every process that writes keeps checkpoints: the writer's automatic checkpoints are off only while `run()`
/// runs, and `run()` turns them back on (to the value it found) however it ends. Processes that do not run a
/// checkpointer (one-shot admin commands, `consumer`) keep SQLite's default. On PostgreSQL `run()` returns at once.
///
/// ```swift
/// let checkpointer = SQLiteCheckpointer(store: store, connection: ownConnection.sql(), clock: SystemWallClock())
/// try await checkpointer.run()    // until its task is cancelled
/// ```
///
/// Source of the rules: https://www.sqlite.org/wal.html#ckpt (automatic and application-initiated checkpoints,
/// checkpoint starvation), https://www.sqlite.org/pragma.html#pragma_wal_autocheckpoint,
/// https://www.sqlite.org/pragma.html#pragma_wal_checkpoint, https://www.sqlite.org/c3ref/wal_checkpoint_v2.html
/// and https://www.sqlite.org/pragma.html#pragma_data_version.
public struct SQLiteCheckpointer: Sendable {
    /// When and how far checkpoints run.
    public struct Configuration: Sendable {
        /// Time between checkpoints while the database changes, on the injected clock. Default: 1 second.
        public var interval: Duration
        /// Log content, bytes (frames x (page size + 24)), above which a checkpoint on the writer follows the one on
        /// the own connection, so that the log is rewound. Default: 4 MiB (SQLite's automatic checkpoint runs at
        /// 1,000 pages, about 4 MiB with 4 KiB pages).
        public var walLimitBytes: Int

        /// - Parameters:
        ///   - interval: see ``interval``. Default: 1 second.
        ///   - walLimitBytes: see ``walLimitBytes``. Default: 4 MiB.
        public init(interval: Duration = .seconds(1), walLimitBytes: Int = 4 << 20) {
            self.interval = interval
            self.walLimitBytes = walLimitBytes
        }
    }

    /// What one checkpoint found and did (the three columns of `PRAGMA wal_checkpoint`).
    public struct Outcome: Sendable, Equatable {
        /// Frames (logged pages) in the write-ahead log when the checkpoint began; 0 after the log was rewound.
        public var logFrames: Int
        /// Frames of the log now copied into the database file: `logFrames` when the checkpoint caught up, fewer
        /// when a reader still used older frames. Frames the writer appended meanwhile are in neither.
        public var checkpointedFrames: Int
        /// True when SQLite answered busy (another connection was checkpointing); nothing was copied.
        public var busy: Bool
        /// True when it ran on the writer's connection (the log had passed ``Configuration/walLimitBytes``, or the
        /// checkpoint on the own connection failed).
        public var onWriter: Bool

        /// True when every frame the checkpoint saw is in the database file (if nothing was appended since, the next
        /// write transaction rewinds the log).
        public var caughtUp: Bool { !busy && checkpointedFrames >= logFrames }
    }

    let store: SQLQueueStore
    let connection: any SQLDatabase
    let clock: any WallClock
    let configuration: Configuration
    let logger: Logger
    /// Called after each checkpoint of ``run()`` with what it did (tests and logs).
    let onCheckpoint: @Sendable (Outcome) -> Void

    /// - Parameters:
    ///   - store: the store whose writer's commits are spared the checkpoints.
    ///   - connection: one SQLite connection to the same database file that is not the writer's, used only by the
    ///     checkpointer (a checkpoint holds its connection while it copies and fsyncs).
    ///   - clock: waits between checkpoints. Default: none; tests pass a `ManualClock`.
    ///   - configuration: Default: ``Configuration/init(interval:walLimitBytes:)``'s defaults.
    ///   - logger: checkpoints that fail or fall back to the writer are logged.
    ///   - onCheckpoint: receives each checkpoint's ``Outcome``. Default: nothing.
    public init(store: SQLQueueStore, connection: any SQLDatabase, clock: any WallClock, configuration: Configuration = .init(),
                logger: Logger = Logger(label: "limsqueue.storage.checkpoint"), onCheckpoint: @escaping @Sendable (Outcome) -> Void = { _ in }) {
        self.store = store
        self.connection = connection
        self.clock = clock
        self.configuration = configuration
        self.logger = logger
        self.onCheckpoint = onCheckpoint
    }

    /// Turns the writer's automatic checkpoints off, checkpoints about once an interval while the database changes,
    /// and turns them back on when its task is cancelled (it then returns normally) or a database error ends it.
    /// - Throws: a database error reading or setting `wal_autocheckpoint` on the writer (the automatic checkpoints
    ///   are then back on, or were never turned off).
    public func run() async throws {
        guard store.isSQLite, connection.dialect.name == "sqlite" else { return }
        let previous = try await setWriterAutocheckpoint(0)
        do {
            try await loop()
        } catch {
            _ = try? await setWriterAutocheckpoint(previous)
            throw error
        }
        _ = try await setWriterAutocheckpoint(previous)
    }

    private func loop() async throws {
        let frameBytes = try await pageSize() + 24
        var seenVersion: Int?
        var caughtUp = false
        while !Task.isCancelled {
            do {
                try await clock.sleep(for: configuration.interval)
            } catch {
                return
            }
            let version = try? await dataVersion()
            // Nothing committed since a checkpoint caught up: nothing to copy.
            if caughtUp, let version, version == seenVersion { continue }
            seenVersion = version
            caughtUp = await round(frameBytes: frameBytes)
        }
    }

    /// One checkpoint on the own connection, then, when the log is past its limit (or that checkpoint failed), one
    /// on the writer. Returns whether the last of them caught up.
    ///
    /// The writer's checkpoint follows even when the first caught up: SQLite reports the log as it was when the
    /// checkpoint began, and a busy writer has appended frames since, so the log would not be rewound.
    private func round(frameBytes: Int) async -> Bool {
        do {
            let outcome = try await checkpoint()
            onCheckpoint(outcome)
            guard outcome.logFrames * frameBytes > configuration.walLimitBytes else { return outcome.caughtUp }
        } catch {
            logger.warning("checkpoint failed; the writer checkpoints instead", metadata: ["lims.error": .string(String(describing: error))])
        }
        do {
            let outcome = try await checkpointOnWriter()
            onCheckpoint(outcome)
            return outcome.caughtUp
        } catch {
            logger.warning("checkpoint on the writer failed", metadata: ["lims.error": .string(String(describing: error))])
            return false
        }
    }

    /// One PASSIVE checkpoint on the checkpointer's own connection: copies what it can without waiting.
    /// - Returns: what SQLite reports.
    /// - Throws: a database error (an I/O error; busy is reported in the outcome, not thrown).
    public func checkpoint() async throws -> Outcome {
        try await Self.passiveCheckpoint(on: connection, onWriter: false)
    }

    /// One PASSIVE checkpoint on the writer's connection, queued between its transactions like any write: nothing
    /// is appended to the log while it runs, so it catches up unless a reader still uses older frames.
    /// - Returns: what SQLite reports.
    /// - Throws: a database error.
    public func checkpointOnWriter() async throws -> Outcome {
        try await store.writer.write { sql in try await Self.passiveCheckpoint(on: sql, onWriter: true) }
    }

    /// The writer connection's `wal_autocheckpoint`, pages (0: off). SQLite's default: 1,000 pages.
    /// - Throws: a database error.
    public func writerAutocheckpointPages() async throws -> Int {
        try await store.writer.write { sql in
            try await sql.raw("PRAGMA wal_autocheckpoint").first()?.decode(column: "wal_autocheckpoint", as: Int.self) ?? 0
        }
    }

    /// Sets the writer connection's `wal_autocheckpoint` and returns the value it had.
    private func setWriterAutocheckpoint(_ pages: Int) async throws -> Int {
        try await store.writer.write { sql in
            let previous = try await sql.raw("PRAGMA wal_autocheckpoint").first()?.decode(column: "wal_autocheckpoint", as: Int.self) ?? 1000
            try await sql.raw("PRAGMA wal_autocheckpoint = \(unsafeRaw: String(max(0, pages)))").run()
            return previous
        }
    }

    private static func passiveCheckpoint(on sql: any SQLDatabase, onWriter: Bool) async throws -> Outcome {
        guard let row = try await sql.raw("PRAGMA wal_checkpoint(PASSIVE)").first() else {
            return Outcome(logFrames: 0, checkpointedFrames: 0, busy: false, onWriter: onWriter)
        }
        // Not in WAL mode (an in-memory database): SQLite reports -1 frames.
        return Outcome(logFrames: max(0, try row.decode(column: "log", as: Int.self)),
                       checkpointedFrames: max(0, try row.decode(column: "checkpointed", as: Int.self)),
                       busy: try row.decode(column: "busy", as: Int.self) != 0, onWriter: onWriter)
    }

    private func pageSize() async throws -> Int {
        try await connection.raw("PRAGMA page_size").first()?.decode(column: "page_size", as: Int.self) ?? 4096
    }

    private func dataVersion() async throws -> Int {
        try await connection.raw("PRAGMA data_version").first()?.decode(column: "data_version", as: Int.self) ?? 0
    }
}

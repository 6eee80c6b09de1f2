import Dispatch
import Foundation
import QueueCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Full durability for SQLite without the writer waiting on the disk: the writer's connection commits with
/// `synchronous=NORMAL` (no sync at commit), and the answers of its transactions are held here until a sync of the
/// write-ahead log that started after their commit has completed. The syncs run on a thread of their own, one at a
/// time, each covering every commit made before it began (group commit), while the writer goes on with its next
/// transactions.
///
/// Why it is as durable as `synchronous=FULL`: in WAL mode FULL differs from NORMAL only by a sync of the `-wal` file
/// after each commit (SQLite's documentation of `PRAGMA synchronous`); `fsync` makes every frame written to the file
/// before it started durable, whichever descriptor wrote it; the log is appended in commit order and SQLite's recovery
/// replays it up to its last complete commit. No transaction is acknowledged before its frames are on the disk; a
/// power loss may drop later commits that nobody was told about, as it may under FULL. The directory is synced as well
/// whenever the `-wal` file is one this process has not synced yet (its creation must be durable too). Measured
/// (`bench queue --batched --durability full`, 3 alternating pairs): 5,005/4,983/5,070 tasks/s with the sync in each
/// commit on the writer's thread, 5,408/5,362/5,301 with this (closing note of stop 32).
public final class WALGroupSync: Sendable {
    /// Makes the file at a path durable (`fsync`; nil when it does not exist) and says which file that was.
    public typealias FileSync = @Sendable (_ path: String) throws -> FileIdentity?

    /// A file as the kernel knows it (device and inode), to tell a new `-wal` file from the one synced before.
    public struct FileIdentity: Sendable, Equatable {
        public var device: UInt64
        public var inode: UInt64
        public init(device: UInt64, inode: UInt64) {
            self.device = device
            self.inode = inode
        }
    }

    /// Answers waiting for a sync: each gets nil once durable, or the sync's error.
    public typealias Answer = @Sendable ((any Error)?) -> Void

    private struct State {
        var waiting: [Answer] = []
        var syncing = false
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
        var syncedFile: FileIdentity?
    }

    /// The `-wal` file.
    public let walPath: String
    private let syncFile: FileSync
    private let syncDirectory: @Sendable (_ path: String) throws -> Void
    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "limsqueue.wal-sync")

    /// - Parameters:
    ///   - walPath: the database's `-wal` file.
    ///   - syncFile: syncs a file; default ``fsyncFile(_:)``. Tests pass one that records and blocks.
    ///   - syncDirectory: syncs a directory; default ``fsyncDirectory(_:)``.
    public init(walPath: String, syncFile: @escaping FileSync = WALGroupSync.fsyncFile,
                syncDirectory: @escaping @Sendable (String) throws -> Void = WALGroupSync.fsyncDirectory) {
        self.walPath = walPath
        self.syncFile = syncFile
        self.syncDirectory = syncDirectory
    }

    /// Holds `answer` for a sync that starts after this call: it gets nil once that sync completed, or its error. Call
    /// it after the transaction whose answer it carries has committed, then ``start(inline:)``.
    public func afterSync(_ answer: @escaping Answer) {
        state.withLock { $0.waiting.append(answer) }
    }

    /// Starts the syncs the held answers wait for, unless one runs (it takes them when it ends). `inline`: on the
    /// calling thread until none is left (the writer when it has nothing else to do: no hop to another thread,
    /// which cost one task per pop 5-7 % on `bench queue --durability full`); otherwise on the sync thread, while the
    /// caller goes on with its next transaction.
    public func start(inline: Bool) {
        let go = state.withLock { state -> Bool in
            guard !state.syncing, !state.waiting.isEmpty else { return false }
            state.syncing = true
            return true
        }
        guard go else { return }
        if inline { syncRounds() } else { queue.async { self.syncRounds() } }
    }

    /// Waits until every answer handed to ``afterSync(_:)`` so far has been given (starting their sync if none was).
    public func flush() async {
        start(inline: false)
        await withCheckedContinuation { continuation in
            let idle = state.withLock { state -> Bool in
                if !state.syncing && state.waiting.isEmpty { return true }
                state.idleWaiters.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
    }

    /// Syncs while answers wait: each round takes the answers registered before it starts.
    private func syncRounds() {
        while true {
            let (answers, known, idleWaiters) = state.withLock { state -> ([Answer], FileIdentity?, [CheckedContinuation<Void, Never>]) in
                guard !state.waiting.isEmpty else {
                    state.syncing = false
                    defer { state.idleWaiters = [] }
                    return ([], nil, state.idleWaiters)
                }
                defer { state.waiting = [] }
                return (state.waiting, state.syncedFile, [])
            }
            guard !answers.isEmpty else {
                for waiter in idleWaiters { waiter.resume() }
                return
            }
            var failure: (any Error)?
            do {
                let identity = try syncFile(walPath)
                if let identity, identity != known {
                    try syncDirectory((walPath as NSString).deletingLastPathComponent)
                    state.withLock { $0.syncedFile = identity }
                }
            } catch {
                failure = error
            }
            for answer in answers { answer(failure) }
        }
    }

    /// `fsync` of the file at `path`; nil when there is none (a `-wal` file SQLite removed after a checkpoint: its
    /// frames are in the database file, synced by that checkpoint).
    /// - Throws: ``WALSyncError`` when it cannot be opened or synced.
    public static func fsyncFile(_ path: String) throws -> FileIdentity? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        if descriptor < 0 {
            if errno == ENOENT { return nil }
            throw WALSyncError("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            throw WALSyncError("cannot read \(path): \(String(cString: strerror(errno)))")
        }
        guard fsync(descriptor) == 0 else {
            throw WALSyncError("the disk did not confirm the write of \(path): \(String(cString: strerror(errno)))")
        }
        return FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
    }

    /// `fsync` of the directory at `path` (an entry it holds, such as a new `-wal` file, becomes durable).
    /// - Throws: ``WALSyncError``.
    public static func fsyncDirectory(_ path: String) throws {
        let descriptor = open(path.isEmpty ? "." : path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw WALSyncError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else {
            throw WALSyncError("the disk did not confirm \(path): \(String(cString: strerror(errno)))")
        }
    }
}

/// A sync of the write-ahead log failed: the transactions waiting for it are answered with this (HTTP 503), as their
/// durability is not confirmed.
public struct WALSyncError: StorageFailure, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var storageCondition: StorageCondition? { .unavailable }
    public var storageMessage: String { message }
    public var description: String { message }
}

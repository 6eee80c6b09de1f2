import Dispatch
import Foundation
import InlineSQLite
@testable import LimsQueueCLI
import Logging
import NIOPosix
import QueueCore
import QueueTesting
import SQLKit
@testable import Storage
import Synchronization
import TestSupport
import Testing

/// SQLite `--durability full` through ``WALGroupSync``: a write's answer waits for a sync of the write-ahead log that
/// started after its commit; commits made while a sync runs wait for the next one; a failed sync fails them.
@Suite("WAL group sync")
struct WALGroupSyncTests {
    /// A file sync the test opens and closes: each call says it started (`started`), then waits for `release()`.
    final class GatedSync: Sendable {
        let calls = Mutex<[String]>([])
        let directories = Mutex(0)
        let gate = DispatchSemaphore(value: 0)
        let started: AsyncStream<Int>
        let startedContinuation: AsyncStream<Int>.Continuation
        let failure: (any Error)?

        init(failure: (any Error)? = nil) {
            (started, startedContinuation) = AsyncStream.makeStream(of: Int.self)
            self.failure = failure
        }

        func sync(_ path: String) throws -> WALGroupSync.FileIdentity? {
            let count = calls.withLock { calls in
                calls.append(path)
                return calls.count
            }
            startedContinuation.yield(count)
            gate.wait()
            if let failure { throw failure }
            return .init(device: 1, inode: 42)
        }

        func release() { gate.signal() }
    }

    /// Which writes were answered, in order.
    final class Answered: Sendable {
        let list = Mutex<[Int]>([])
    }

    /// A database in WAL mode with a table, and a writer whose answers wait for `sync`.
    static func writer(in directory: TemporaryDirectory, sync: GatedSync) async throws -> (DatabaseWriter, InlineSQLiteConnection, String) {
        let path = directory.path + "/wal.sqlite"
        let loop = MultiThreadedEventLoopGroup.singleton.any()
        let connection = try InlineSQLiteConnection(path: path, logger: Logger(label: "test"), eventLoop: loop)
        try await StorageMigrations.tune(connection, durability: .normal)
        try await connection.raw("CREATE TABLE item (id INTEGER PRIMARY KEY)").run()
        let group = WALGroupSync(walPath: path + "-wal", syncFile: { try sync.sync($0) },
                                 syncDirectory: { _ in sync.directories.withLock { $0 += 1 } })
        let writer = DatabaseWriter(dedicated: DedicatedConnection(connection: connection, executor: EventLoopTaskExecutor(eventLoop: loop),
                                                                   durableAfter: group))
        return (writer, connection, path)
    }

    @Test("a write is answered only after a sync that began after its commit; one written during that sync waits for the next")
    func answersWaitForTheSync() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let sync = GatedSync()
        let (writer, connection, path) = try await Self.writer(in: directory, sync: sync)
        defer { connection.close() }
        let answered = Answered()
        var syncs = sync.started.makeAsyncIterator()
        let first = Task {
            try await writer.write { sql in try await sql.raw("INSERT INTO item (id) VALUES (1)").run() }
            answered.list.withLock { $0.append(1) }
        }
        #expect(await syncs.next() == 1)
        // Committed (the sync started after it), not yet answered: the sync has not returned.
        #expect(answered.list.withLock { $0 }.isEmpty)
        let second = Task {
            try await writer.write { sql in try await sql.raw("INSERT INTO item (id) VALUES (2)").run() }
            answered.list.withLock { $0.append(2) }
        }
        sync.release()
        try await first.value
        #expect(answered.list.withLock { $0 } == [1])
        // The second write's answer waits for a sync of its own.
        #expect(await syncs.next() == 2)
        #expect(answered.list.withLock { $0 } == [1])
        sync.release()
        try await second.value
        #expect(answered.list.withLock { $0 } == [1, 2])
        #expect(sync.calls.withLock { $0 } == [path + "-wal", path + "-wal"])
        // The -wal file's directory is synced once for the file (the same file afterwards).
        #expect(sync.directories.withLock { $0 } == 1)
        await writer.waitUntilIdle()
    }

    @Test("a failed sync answers the writes waiting for it with a storage failure (HTTP 503), not a success")
    func failedSync() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let sync = GatedSync(failure: WALSyncError("the disk did not confirm the write"))
        let (writer, connection, _) = try await Self.writer(in: directory, sync: sync)
        defer { connection.close() }
        let write = Task { try await writer.write { sql in try await sql.raw("INSERT INTO item (id) VALUES (1)").run() } }
        var syncs = sync.started.makeAsyncIterator()
        _ = await syncs.next()
        sync.release()
        await #expect { try await write.value } throws: { error in
            (error as? any StorageFailure)?.storageCondition == .unavailable && "\(error)".contains("did not confirm")
        }
    }

    @Test("--durability full on SQLite: the writer defers its syncs to the group sync; tasks are added, claimed and finished")
    func environmentWithFullDurability() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let environment = try await StorageEnvironment.open(dataDir: directory.path, durability: .full, logger: Logger(label: "test"))
        let now = Date().timeIntervalSince1970
        guard case .dedicated(let dedicated) = environment.store.writer.source else {
            Issue.record("the SQLite writer has a connection of its own")
            await environment.close()
            return
        }
        #expect(dedicated.durableAfter?.walPath == StorageEnvironment.sqlitePath(dataDir: directory.path) + "-wal")
        let task = TaskFactory.task("task_a", created: now)
        _ = try await environment.store.add([task], now: now)
        let claimed = try #require(try await environment.store.pop(consumerID: "consumer-1", now: now))
        #expect(claimed.taskUID == task.taskUID)
        _ = try await environment.store.done(claimed.taskUID, lease: LeaseClaim(consumerID: claimed.consumerID, leaseToken: claimed.leaseToken), now: now)
        #expect(try await environment.store.task(task.taskUID) == nil)
        await environment.close()
        // Normal durability: answered at the commit.
        let normal = try await StorageEnvironment.open(dataDir: directory.path, logger: Logger(label: "test"))
        if case .dedicated(let plain) = normal.store.writer.source { #expect(plain.durableAfter == nil) }
        await normal.close()
    }
}

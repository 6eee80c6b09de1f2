import Foundation
import FluentKit
import InlineSQLite
@testable import Storage
@testable import LimsQueueCLI
import Logging
import NIOPosix
import QueueCore
import QueueTesting
import SQLKit
import TestSupport
import Testing

/// The drivers' errors an operator can act on are classified (``StorageFailure``), so the HTTP layer answers
/// them 507 or 503 with the database's message; a bug's error is not.
@Suite("Storage failures")
struct StorageFailureTests {
    @Test("a full database (SQLite's page limit reached) is a .full failure with SQLite's message; a UNIQUE refusal is unclassified")
    func fullDisk() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let sql = try InlineSQLiteConnection(path: directory.path + "/full.sqlite",
                                             logger: Logger(label: "test"), eventLoop: MultiThreadedEventLoopGroup.singleton.any())
        defer { sql.close() }
        try await sql.raw("CREATE TABLE item (id INTEGER PRIMARY KEY, data BLOB)").run()
        // SQLite answers SQLITE_FULL when a write needs more pages than max_page_count, as on a full disk.
        try await sql.raw("PRAGMA max_page_count = 8").run()
        let error = await #expect(throws: InlineSQLiteError.self) {
            try await sql.raw("INSERT INTO item (id, data) VALUES (1, zeroblob(1000000))").run()
        }
        #expect(error?.storageCondition == .full)
        #expect(error?.storageMessage.contains("full") == true)
        let unique = await #expect(throws: InlineSQLiteError.self) {
            try await sql.raw("INSERT INTO item (id) VALUES (2)").run()
            try await sql.raw("INSERT INTO item (id) VALUES (2)").run()
        }
        #expect(unique?.storageCondition == nil)
    }

    @Test("the command line words a classified failure as the server does, with the database's message; a failure in a command's body reaches the operator so")
    func commandLineWords() async throws {
        let full = InlineSQLiteError(code: 13, message: "database or disk is full", sql: "COMMIT").operatorMessage
        #expect(full == "the database's disk is full; nothing was written: free space and try again (database or disk is full)")
        #expect(InlineSQLiteError(code: 5, message: "database is locked", sql: "BEGIN IMMEDIATE").operatorMessage?
            .hasPrefix("the database is locked by another process") == true)
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let error = await #expect(throws: CLIError.self) {
            try await StorageEnvironment.with(dataDir: directory.path, logger: Logger(label: "test")) { _ in
                throw InlineSQLiteError(code: 13, message: "database or disk is full", sql: "COMMIT")
            }
        }
        #expect(error?.description == full)
    }

    @Test("a PostgreSQL deadlock between two transactions is a .conflict (its unit of work runs again), named by the database's message",
          .enabled(if: TestDatabase.postgresURL != nil, "PostgreSQL case: set LIMSQUEUE_TEST_POSTGRES_URL"))
    func deadlockIsConflict() async throws {
        try await StoreFixture.with(backend: .postgres) { fixture in
            let readers = fixture.lab.readers
            try #require(readers.count >= 2)
            let setup = try readers[0].sqlDatabase()
            try await setup.raw("CREATE TABLE deadlock_probe (id INTEGER PRIMARY KEY, v INTEGER)").run()
            try await setup.raw("INSERT INTO deadlock_probe (id, v) VALUES (1, 0), (2, 0)").run()
            // Each transaction locks its first row, waits until the other has too, then asks for the other's row.
            let first = Rendezvous(parties: 2)
            @Sendable func cross(_ reader: any Database, _ mine: Int, _ theirs: Int) async -> (any Error)? {
                do {
                    try await reader.withConnection { connection in
                        let sql = try connection.sqlDatabase()
                        try await sql.raw("BEGIN").run()
                        do {
                            try await sql.raw("UPDATE deadlock_probe SET v = 1 WHERE id = \(bind: mine)").run()
                            await first.arrive()
                            try await sql.raw("UPDATE deadlock_probe SET v = 1 WHERE id = \(bind: theirs)").run()
                            try await sql.raw("COMMIT").run()
                        } catch {
                            try? await sql.raw("ROLLBACK").run()
                            throw error
                        }
                    }
                    return nil
                } catch {
                    return error
                }
            }
            async let a = cross(readers[0], 1, 2)
            async let b = cross(readers[1], 2, 1)
            let errors = await [a, b].compactMap { $0 }
            #expect(errors.count == 1, "PostgreSQL ends one of the two: \(errors)")
            let failure = errors.first as? any StorageFailure
            #expect(failure?.storageCondition == .conflict, "\(String(describing: errors.first))")
            #expect(failure?.storageMessage.contains("deadlock") == true)
            #expect(failure?.operatorMessage?.hasPrefix("the database stopped this write because a concurrent one collided") == true)
        }
    }

    /// A full disk seen only by lab writes (PostgreSQL runs them beside the writer) held no claim back.
    @Test("a lab write that meets a full disk holds claims back as the writer's own writes do; a lab write that lands ends it (PostgreSQL)",
          .enabled(if: TestDatabase.postgresURL != nil, "PostgreSQL case: set LIMSQUEUE_TEST_POSTGRES_URL"))
    func labWriteArmsFullDiskGate() async throws {
        struct Full: StorageFailure {
            var storageCondition: StorageCondition? { .full }
            var storageMessage: String { "could not extend file: No space left on device" }
        }
        try await StoreFixture.with(backend: .postgres) { fixture in
            await #expect(throws: Full.self) {
                try await fixture.lab.writeTransaction { _ in throw Full() }
            }
            #expect(fixture.store.writer.fullDisk.refusal(now: fixture.now) is Full)
            try await fixture.lab.writeTransaction { sql in
                try await sql.raw("SELECT 1 AS one").run()
            }
            #expect(fixture.store.writer.fullDisk.refusal(now: fixture.now) == nil)
        }
    }

    @Test("while the disk is full no task is handed out: a pop is answered with the full-disk failure for 5 s (clock), until a done gets through")
    func fullDiskHoldsClaims() async throws {
        try await StoreFixture.with { f in
            let first = try await f.add(TaskFactory.task(context: "WS-0001", created: f.now))
            let second = try await f.add(TaskFactory.task(context: "WS-0002", created: f.now + 1))
            let third = try await f.add(TaskFactory.task(context: "WS-0003", created: f.now + 2))
            let popped = try #require(try await f.store.pop(consumerID: "consumer-1", now: f.now))
            #expect(popped.taskUID == first.taskUID)
            // A done failed with SQLITE_FULL (the writer records every write's full-disk failure).
            let full = InlineSQLiteError(code: 13, message: "database or disk is full", sql: "COMMIT")
            #expect(f.store.writer.fullDisk.note(full))
            #expect(!f.store.writer.fullDisk.note(InlineSQLiteError(code: 19, message: "UNIQUE constraint failed", sql: "INSERT")))
            for offset in [0.0, 4.9] {
                let refused = await #expect(throws: InlineSQLiteError.self) {
                    _ = try await f.store.pop(consumerID: "consumer-2", now: f.now + offset)
                }
                #expect(refused?.storageCondition == .full)
                await #expect(throws: InlineSQLiteError.self) {
                    _ = try await f.store.pop(consumerID: "consumer-2", max: 4, now: f.now + offset)
                }
            }
            #expect(try await f.store.task(second.taskUID)?.status == .queued)
            // A done gets through: the disk has room again, claims go ahead.
            _ = try await f.store.done(popped.taskUID, lease: LeaseClaim(consumerID: popped.consumerID, leaseToken: popped.leaseToken), now: f.now + 4.9)
            #expect(try await f.store.pop(consumerID: "consumer-2", now: f.now + 4.9)?.taskUID == second.taskUID)
            // Without a write getting through, the refusal ends 5 s after the first refused claim.
            f.store.writer.fullDisk.note(full)
            await #expect(throws: InlineSQLiteError.self) { _ = try await f.store.pop(consumerID: "consumer-3", now: f.now + 10) }
            #expect(try await f.store.pop(consumerID: "consumer-3", now: f.now + 15)?.taskUID == third.taskUID)
        }
    }

    @Test("SQLite result codes map by their primary code: busy and locked, read-only and can't-open, full")
    func sqliteCodes() {
        func condition(_ code: Int32) -> StorageCondition? {
            InlineSQLiteError(code: code, message: "m", sql: "SELECT 1").storageCondition
        }
        #expect(condition(5) == .busy && condition(517) == .busy && condition(6) == .busy)   // BUSY, BUSY_SNAPSHOT, LOCKED
        #expect(condition(8) == .unavailable && condition(1032) == .unavailable && condition(14) == .unavailable)
        #expect(condition(13) == .full)
        #expect(condition(1) == nil && condition(2067) == nil && condition(10) == nil)
    }
}

/// The writer behind a database another process keeps locked.
@Suite("Writer behind a lock")
struct WriterBusyTests {
    @Test("once a write waited out the busy timeout, the writes queued behind it are answered busy at once, not after a timeout each")
    func queuedWritesFailAtOnce() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/busy.sqlite"
        let loop = MultiThreadedEventLoopGroup.singleton.any()
        // Another process's connection holds the write lock.
        let holder = try InlineSQLiteConnection(path: path, logger: Logger(label: "test"), eventLoop: loop)
        defer { holder.close() }
        try await holder.raw("CREATE TABLE item (id INTEGER PRIMARY KEY)").run()
        try await holder.raw("BEGIN IMMEDIATE").run()
        let connection = try InlineSQLiteConnection(path: path, logger: Logger(label: "test"), eventLoop: loop,
                                                    busyTimeoutMilliseconds: 500)
        defer { connection.close() }
        let writer = DatabaseWriter(dedicated: DedicatedConnection(connection: connection, executor: EventLoopTaskExecutor(eventLoop: loop)))
        let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
            for id in 1...3 {
                group.addTask {
                    do {
                        try await writer.write { sql in try await sql.raw("INSERT INTO item (id) VALUES (\(bind: id))").run() }
                        return true
                    } catch {
                        return false
                    }
                }
            }
            // The first answer comes after the busy timeout; the lock is let go right then. Writes that were
            // still to wait it out on their own would now succeed: they must have been answered busy already.
            var outcomes = [try await group.next() ?? true]
            try await holder.raw("ROLLBACK").run()
            for try await outcome in group { outcomes.append(outcome) }
            return outcomes
        }
        #expect(outcomes == [false, false, false])
        // Later writes run as usual.
        try await writer.write { sql in try await sql.raw("INSERT INTO item (id) VALUES (4)").run() }
    }
}

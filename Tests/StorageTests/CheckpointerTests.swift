import Foundation
import QueueCore
import Synchronization
import QueueTesting
@testable import Storage
import TestSupport
import Testing

/// ``SQLiteCheckpointer``: the write-ahead log is checkpointed from a connection other than the writer's, the
/// writer's automatic checkpoints are off only while it runs, and nothing written across checkpoints is lost.
/// SQLite only (PostgreSQL checkpoints in its server). Time is the fixture's manual clock: no test waits for a
/// real second.
@Suite("SQLite checkpointer", .timeLimit(.minutes(3)))
struct CheckpointerTests {
    /// What the checkpointer reports, awaited one by one.
    final class Outcomes: Sendable {
        let stream: AsyncStream<SQLiteCheckpointer.Outcome>
        let continuation: AsyncStream<SQLiteCheckpointer.Outcome>.Continuation
        let count = Mutex(0)

        init() {
            (stream, continuation) = AsyncStream.makeStream()
        }

        func record(_ outcome: SQLiteCheckpointer.Outcome) {
            count.withLock { $0 += 1 }
            continuation.yield(outcome)
        }
    }

    static func tasks(_ count: Int, from first: Int, now: Double) -> [QueueTask] {
        (first..<(first + count)).map { TaskFactory.task("task_generic_action", context: "WS-\($0)", created: now) }
    }

    @Test("while it runs the writer does not checkpoint; cancelled, it returns and the writer checkpoints again")
    func writerCheckpointsOnlyWithoutIt() async throws {
        try await StoreFixture.with(backend: .sqlite) { f in
            let (checkpointer, close) = try await f.checkpointer()
            #expect(try await checkpointer.writerAutocheckpointPages() == 1000)
            let running = Task { try await checkpointer.run() }
            try await f.clock.waitForSleepers(1)
            #expect(try await checkpointer.writerAutocheckpointPages() == 0)
            running.cancel()
            try await running.value
            #expect(try await checkpointer.writerAutocheckpointPages() == 1000)
            await close()
        }
    }

    @Test("connections cut the log file back to 32 MiB when they rewind it (a tryout found 205 MB logs left behind)")
    func logFileLimit() async throws {
        try await StoreFixture.with(backend: .sqlite) { f in
            let row = try await f.store.sql.raw("PRAGMA journal_size_limit").first()
            #expect(try row?.decode(column: "journal_size_limit", as: Int.self) == StorageMigrations.walFileLimitBytes)
            #expect(StorageMigrations.walFileLimitBytes == 32 << 20)
        }
    }

    @Test("a checkpoint copies the writer's log into the database file, and the next write starts the log over")
    func checkpointMovesTheLog() async throws {
        try await StoreFixture.with(backend: .sqlite) { f in
            let outcomes = Outcomes()
            // A limit no log of this test reaches: only the checkpointer's own connection checkpoints.
            let (checkpointer, close) = try await f.checkpointer(configuration: .init(walLimitBytes: 1 << 40),
                                                                 onCheckpoint: outcomes.record)
            let running = Task { try await checkpointer.run() }
            try await f.clock.waitForSleepers(1)
            for batch in 0..<5 { _ = try await f.store.add(Self.tasks(50, from: batch * 50, now: f.now), now: f.now) }

            f.clock.advance(by: 1)
            var received = outcomes.stream.makeAsyncIterator()
            let first = try #require(await received.next())
            #expect(!first.onWriter)
            #expect(first.logFrames > 0)
            #expect(first.checkpointedFrames == first.logFrames)
            try await f.clock.waitForSleepers(1)

            // Nothing committed since a checkpoint that caught up: the next turn copies nothing and reports nothing.
            f.clock.advance(by: 1)
            try await f.clock.waitForSleepers(1)
            #expect(outcomes.count.withLock { $0 } == 1)

            // Every frame was copied: the next write transaction rewinds the log to its start.
            _ = try await f.store.add(Self.tasks(1, from: 1000, now: f.now), now: f.now)
            let after = try await checkpointer.checkpoint()
            #expect(after.logFrames > 0)
            #expect(after.logFrames < first.logFrames)

            running.cancel()
            try await running.value
            await close()
        }
    }

    @Test("past the log limit the writer checkpoints too; tasks written across checkpoints are all there after a reopen")
    func nothingLostAcrossCheckpoints() async throws {
        let fixture = try await StoreFixture.make(backend: .sqlite)
        let outcomes = Outcomes()
        // Limit 0: every turn's checkpoint is followed by one on the writer.
        let (checkpointer, close) = try await fixture.checkpointer(configuration: .init(walLimitBytes: 0), onCheckpoint: outcomes.record)
        let running = Task { try await checkpointer.run() }
        try await fixture.clock.waitForSleepers(1)
        let store = fixture.store
        let now = fixture.now
        // Writes go on while the checkpoints run.
        let writes = Task {
            for batch in 0..<40 { _ = try await store.add(Self.tasks(25, from: batch * 25, now: now), now: now) }
        }
        var received = outcomes.stream.makeAsyncIterator()
        for _ in 0..<4 {
            // The turn's checkpoint needs a commit since the last one that caught up; the first batch assures one.
            _ = try await store.add(Self.tasks(1, from: 10_000 + Int(fixture.clock.now() - now), now: now), now: now)
            fixture.clock.advance(by: 1)
            let own = try #require(await received.next())
            let onWriter = try #require(await received.next())
            #expect(!own.onWriter)
            #expect(onWriter.onWriter)
            try await fixture.clock.waitForSleepers(1)
        }
        try await writes.value
        running.cancel()
        try await running.value
        await close()

        let reopened = try await fixture.reopened()
        let queued = try await reopened.store.tasks(status: [.queued], since: nil)
        #expect(queued.count == 40 * 25 + 4)
        await reopened.close()
    }
}

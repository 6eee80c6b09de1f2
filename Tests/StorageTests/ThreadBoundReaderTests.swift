import LIMSCore
import SQLKit
@testable import Storage
import TestSupport
import Testing

/// ``ThreadBoundSQLDatabase`` as the SQLite readers of the lab and queue stores: read-only, taken in turn, and a unit
/// of work's body runs on its reader's thread with every read of it (the queue store's guards too) on that reader.
@Suite("SQLite readers on threads of their own")
struct ThreadBoundReaderTests {
    @Test("the lab's and queue's SQLite reads go through read-only readers taken in turn")
    func readersAreReadOnly() async throws {
        try await StoreFixture.with(backend: .sqlite) { f in
            let readers = f.lab.threadBoundReaders
            #expect(readers.count >= 2)
            #expect(f.store.threadBoundReaders.map(\.connectionID) == readers.map(\.connectionID))
            // Taken in turn: two reads in a row use two readers.
            let first = try #require(try f.lab.sql as? ThreadBoundSQLDatabase)
            let second = try #require(try f.lab.sql as? ThreadBoundSQLDatabase)
            #expect(first.connectionID != second.connectionID)
            // Reads answer; a write through a reader is refused (it would bypass the single writer).
            let count = try await first.raw("SELECT COUNT(*) AS n FROM lims_objects").first()?.decode(column: "n", as: Int.self)
            #expect(count != nil)
            await #expect(throws: (any Error).self) {
                try await first.raw("INSERT INTO lims_security (uid, token) VALUES ('x', 'user:x')").run()
            }
            let written = try await f.store.database.sqlDatabase().raw("SELECT COUNT(*) AS n FROM lims_security WHERE uid = 'x'")
                .first()?.decode(column: "n", as: Int.self)
            #expect(written == 0)
        }
    }

    @Test("a unit of work's body runs on its reader's thread, and every read of it, the queue store's included, takes that reader")
    func unitOfWorkKeepsItsReader() async throws {
        try await StoreFixture.with(backend: .sqlite) { f in
            let seen = try await f.lab.read { state, reader -> [Bool] in
                let current = try #require(ThreadBoundSQLDatabase.current)
                var checks = [current.eventLoop.inEventLoop]
                for _ in 0..<4 {
                    checks.append((try f.lab.sql as? ThreadBoundSQLDatabase)?.connectionID == current.connectionID)
                    checks.append((try f.store.sql as? ThreadBoundSQLDatabase)?.connectionID == current.connectionID)
                }
                // A statement through the reader answers on the reader's thread, and the body goes on there.
                _ = try await f.store.objectUIDs(status: [.queued], among: ["none"])
                checks.append(current.eventLoop.inEventLoop)
                return checks
            }
            #expect(seen.allSatisfy { $0 })
            // Outside a unit of work no reader is current.
            #expect(ThreadBoundSQLDatabase.current == nil)
        }
    }

    @Test("a reader that runs a unit of work's body is not chosen while another is idle")
    func leastBusyReader() async throws {
        try await StoreFixture.with(backend: .sqlite) { f in
            let (entered, enteredGo) = AsyncStream<ThreadBoundSQLDatabase>.makeStream()
            let (release, releaseGo) = AsyncStream<Void>.makeStream()
            async let held: Void = f.lab.read { _, _ in
                enteredGo.yield(try #require(ThreadBoundSQLDatabase.current))
                for await _ in release { break }
            }
            var iterator = entered.makeAsyncIterator()
            let busy = try #require(await iterator.next())
            // Taken in turn these would alternate; the busy reader is passed over every time.
            for _ in 0..<6 {
                let picked = try #require(try f.lab.sql as? ThreadBoundSQLDatabase)
                #expect(picked.connectionID != busy.connectionID)
            }
            releaseGo.yield()
            releaseGo.finish()
            try await held
        }
    }

    @Test("a reader running a slow statement is passed over while it runs (a deep page no longer holds up other requests)")
    func slowStatementReader() async throws {
        try await StoreFixture.with(backend: .sqlite) { f in
            let busy = try #require(try f.lab.sql as? ThreadBoundSQLDatabase)
            // Seconds of work for SQLite: counting three million rows of a recursive CTE.
            async let slow = busy.raw("""
                WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) SELECT COUNT(*) AS n FROM c
                """).first()?.decode(column: "n", as: Int.self)
            // Counted as soon as it is sent (bounded wait: without the count this would never see it).
            let deadline = ContinuousClock.now + .seconds(5)
            while busy.load.units.load(ordering: .relaxed) == 0, ContinuousClock.now < deadline { await Task.yield() }
            #expect(busy.load.units.load(ordering: .relaxed) > 0, "the slow statement is not counted on its reader")
            var checked = 0
            for _ in 0..<6 {
                let picked = try #require(try f.lab.sql as? ThreadBoundSQLDatabase)
                // Only while the statement still runs (a fast machine may finish it first).
                guard busy.load.units.load(ordering: .relaxed) > 0 else { break }
                #expect(picked.connectionID != busy.connectionID)
                checked += 1
            }
            #expect(try await slow == 3_000_000)
            #expect(checked > 0)
        }
    }
}

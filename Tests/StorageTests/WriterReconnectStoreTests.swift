import Foundation
import QueueCore
import QueueTesting
import Synchronization
import TestSupport
import Testing

/// The process's single writer survives the database server dropping its connections mid-work (a PostgreSQL
/// restart; found by scripts/chaos): every write then answers (success or error) within a bound, and writes
/// succeed again once the server accepts connections. On SQLite (no server to drop connections) only the
/// concurrent writes and the write after them run.
@Suite("Writer reconnect")
struct WriterReconnectStoreTests {
    @Test("writes answer and recover after the server terminates every connection mid-work")
    func writesRecoverAfterTerminatedConnections() async throws {
        try await StoreFixture.with { fixture in
            let url = try await TestDatabase.url(for: fixture.directory)
            let store = fixture.store
            let now = fixture.now
            let counts = WriterReconnectCounts()
            // Four writers adding one task at a time, as fast as they can, until told to stop.
            for writer in 0..<4 {
                Task { [counts] in
                    var index = 0
                    while !counts.stop.withLock({ $0 }) {
                        index += 1
                        counts.started.withLock { $0 += 1 }
                        let task = TaskFactory.task(context: "W\(writer)-\(index)", created: now)
                        do {
                            _ = try await store.add([task], now: now)
                        } catch {
                            counts.failed.withLock { $0 += 1 }
                        }
                        counts.answered.withLock { $0 += 1 }
                    }
                }
            }
            try await Task.sleep(for: .milliseconds(300))
            if let url {
                let database = URL(string: url)?.lastPathComponent ?? ""
                let terminated = try await TestDatabase.psql(url, """
                    SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                    WHERE datname = '\(database)' AND pid <> pg_backend_pid()) AS killed
                    """)
                #expect((Int(terminated.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) >= 1)
            }
            try await Task.sleep(for: .milliseconds(500))
            counts.stop.withLock { $0 = true }
            // Every write sent must answer; a hung writer leaves some unanswered for good.
            // A writer statement on a dropped connection fails after 30 s, a pooled read after 60 s.
            let deadline = ContinuousClock.now + .seconds(150)
            while counts.answered.withLock({ $0 }) < counts.started.withLock({ $0 }), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            let waiting = counts.started.withLock { $0 } - counts.answered.withLock { $0 }
            #expect(waiting == 0, "writes still waiting: the writer hung")
            // Writes were in flight when the connections went (on a loaded machine each writer may still be on its first).
            #expect(counts.started.withLock { $0 } >= 4)
            // And a write after the drop succeeds (the pool reconnects).
            let after = TaskFactory.task(context: "after", created: now)
            #expect(try await store.add([after], now: now) == [.added])
            #expect(try await store.task(after.taskUID) != nil)
        }
    }
}

/// Counters shared by the writers of ``WriterReconnectStoreTests``.
final class WriterReconnectCounts: Sendable {
    let answered = Mutex(0), failed = Mutex(0), started = Mutex(0)
    let stop = Mutex(false)
}

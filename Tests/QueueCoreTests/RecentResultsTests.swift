import Synchronization
import Testing
import QueueCore

/// An expensive read shared by the requests of the same moment (`queue_statistics`).
@Suite("Recent results")
struct RecentResultsTests {
    struct Failure: Error {}

    /// Counts computations.
    final class Runs: Sendable {
        let count = Mutex(0)
        func next() -> Int { count.withLock { $0 += 1; return $0 } }
        var value: Int { count.withLock { $0 } }
    }

    @Test("concurrent and recent requests for one key share one computation; another key, an old result or a failure do not")
    func sharing() async throws {
        let results = RecentResults<String, Int>(maxAge: 2)
        let runs = Runs()
        let compute: @Sendable () async throws -> Int = {
            let run = runs.next()
            try await Task.sleep(for: .milliseconds(50))
            return run
        }
        let values = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<20 { group.addTask { try await results.value(for: "hour", now: 100, compute: compute) } }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(values == Array(repeating: 1, count: 20) && runs.value == 1)
        #expect(try await results.value(for: "hour", now: 101.9, compute: compute) == 1, "within 2 s: shared")
        #expect(try await results.value(for: "day", now: 101.9, compute: compute) == 2, "another key: computed")
        #expect(try await results.value(for: "hour", now: 102.1, compute: compute) == 3, "2 s later: computed again")
        await #expect(throws: Failure.self) {
            try await results.value(for: "failing", now: 103) { throw Failure() }
        }
        #expect(try await results.value(for: "failing", now: 103, compute: compute) == 4, "a failure is not kept")
    }
}

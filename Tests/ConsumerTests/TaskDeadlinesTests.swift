@testable import Consumer
import QueueTesting
import Synchronization
import Testing

/// The consumer's one deadline timer (``TaskDeadlines``), in virtual time.
@Suite("Consumer: the handlers' deadlines on one timer")
struct TaskDeadlinesTests {
    /// Counts the cancels of each entry.
    final class Cancels: Sendable {
        private let counts = Mutex<[String: Int]>([:])
        func cancel(_ name: String) -> @Sendable () -> Void { { self.counts.withLock { $0[name, default: 0] += 1 } } }
        var all: [String: Int] { counts.withLock { $0 } }
    }

    @Test("three handlers, one timer on the earliest deadline; each entry fires once at its own deadline (or its tightened one), not before; none left armed at the end")
    func oneTimer() async throws {
        let clock = ManualClock()
        let deadlines = TaskDeadlines(clock: clock)
        let cancels = Cancels()
        let start = clock.now()
        let a = deadlines.register(deadline: start + 60, reason: .deadline, cancel: cancels.cancel("a"))
        let b = deadlines.register(deadline: start + 90, reason: .deadline, cancel: cancels.cancel("b"))
        try await clock.waitForSleeper(until: start + 60)
        // An earlier deadline replaces the timer; still one.
        let c = deadlines.register(deadline: start + 30, reason: .deadline, cancel: cancels.cancel("c"))
        try await clock.waitForSleeper(until: start + 30)
        #expect(clock.sleepers == 1)

        clock.advance(by: 29.5)
        #expect(cancels.all.isEmpty)
        clock.advance(by: 0.5)
        try await clock.waitForSleeper(until: start + 60)
        #expect(cancels.all == ["c": 1])
        #expect(deadlines.finish(c) == .deadline)

        // A graceful shutdown's grace brings b's deadline forward; a later one leaves a's as it is.
        deadlines.tighten(b, to: start + 40, reason: .shutdown)
        deadlines.tighten(a, to: start + 70, reason: .shutdown)
        try await clock.waitForSleeper(until: start + 40)
        clock.advance(by: 10)
        try await clock.waitForSleeper(until: start + 60)
        #expect(cancels.all == ["c": 1, "b": 1])
        #expect(deadlines.finish(b) == .shutdown)

        // a ends before its deadline: not fired, and with nothing left no timer stays armed.
        #expect(deadlines.finish(a) == nil)
        #expect(deadlines.count == 0)
        try await eventually { clock.sleepers == 0 }
        clock.advance(by: 100)
        #expect(cancels.all == ["c": 1, "b": 1])
    }

    /// Waits (real time, yielding; at most 10 s) until `condition` holds.
    func eventually(_ condition: () -> Bool) async throws {
        let real = ContinuousClock(), deadline = real.now + .seconds(10)
        while !condition(), real.now < deadline { try await Task.sleep(for: .milliseconds(1)) }
        #expect(condition())
    }
}

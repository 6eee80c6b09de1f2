import QueueCore
import Synchronization

/// A wall clock tests move by hand, so that no test sleeps for the queue's delays, leases, bookings and backoffs.
///
/// Its waits (``sleep(for:)``) are virtual: a sleeper resumes when ``advance(by:)`` moves the clock to or past its
/// instant, never before, and at once when its task is cancelled. A test that must advance only once the code
/// under test is waiting (a consumer's `min_seconds` booking, a long-poll) first awaits ``waitForSleepers(_:timeout:)``.
///
/// ```swift
/// let clock = ManualClock()
/// async let outcome = consumer.process(task)       // books min_seconds = 3 on `clock`
/// try await clock.waitForSleepers(1)
/// clock.advance(by: 3)                              // the booking ends exactly here
/// ```
public final class ManualClock: WallClock {
    private struct Sleeper {
        let instant: Double
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: Double
        var nextID = 0
        var sleepers: [Int: Sleeper] = [:]
        /// Sleepers cancelled before their continuation was registered.
        var cancelled: Set<Int> = []
    }

    private let state: Mutex<State>

    /// - Parameter now: the starting time, epoch seconds. Default: 2026-01-01T00:00:00Z.
    public init(now: Double = 1_767_225_600) {
        self.state = Mutex(State(now: now))
    }

    public func now() -> Double { state.withLock { $0.now } }

    /// Waits until the clock has been advanced by `duration` from now (virtual time; no real time passes).
    /// - Throws: `CancellationError` when the task is cancelled first.
    public func sleep(for duration: Duration) async throws {
        let id = state.withLock { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enum Decision { case wait, done, cancelled }
                let decision = state.withLock { state -> Decision in
                    if state.cancelled.remove(id) != nil || Task.isCancelled { return .cancelled }
                    let instant = state.now + duration.inSeconds
                    if instant <= state.now { return .done }
                    state.sleepers[id] = Sleeper(instant: instant, continuation: continuation)
                    return .wait
                }
                switch decision {
                case .wait: break
                case .done: continuation.resume()
                case .cancelled: continuation.resume(throwing: CancellationError())
                }
            }
        } onCancel: {
            let sleeper = state.withLock { state -> Sleeper? in
                if let sleeper = state.sleepers.removeValue(forKey: id) { return sleeper }
                state.cancelled.insert(id)
                return nil
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
        state.withLock { _ = $0.cancelled.remove(id) }
    }

    /// Moves the clock forward by `seconds` and resumes every sleeper whose instant is now reached.
    public func advance(by seconds: Double) {
        let due = state.withLock { state -> [Sleeper] in
            state.now += seconds
            let now = state.now
            let due = state.sleepers.filter { $0.value.instant <= now }
            for id in due.keys { state.sleepers.removeValue(forKey: id) }
            return due.values.sorted { $0.instant < $1.instant }
        }
        for sleeper in due { sleeper.continuation.resume() }
    }

    /// Moves the clock forward by `duration` (``advance(by:)`` in seconds).
    public func advance(by duration: Duration) {
        advance(by: duration.inSeconds)
    }

    /// How many tasks are sleeping on this clock now.
    public var sleepers: Int { state.withLock { $0.sleepers.count } }

    /// The earliest instant a sleeper waits for, epoch seconds; nil when none sleeps.
    public var nextWakeUp: Double? { state.withLock { $0.sleepers.values.map(\.instant).min() } }

    /// Waits (in real time, yielding) until at least `count` tasks sleep on this clock: the moment a test may
    /// advance it past what they wait for.
    /// - Parameters:
    ///   - count: how many sleepers. Default: 1.
    ///   - timeout: real time allowed. Default: 60 seconds: it only bounds how long a failing test waits, and a
    ///     loaded CI machine (PostgreSQL tests running beside) took over 10 s to get a long-poll to its sleep.
    /// - Throws: ``ManualClockTimeout`` when fewer sleep after `timeout`.
    public func waitForSleepers(_ count: Int = 1, timeout: Duration = .seconds(60)) async throws {
        let real = ContinuousClock()
        let deadline = real.now.advanced(by: timeout)
        var spins = 0
        while sleepers < count {
            guard real.now < deadline else { throw ManualClockTimeout(expected: count, found: sleepers) }
            // Yield first (the sleeper is usually a few hops away), then poll gently.
            spins += 1
            if spins < 100 { await Task.yield() } else { try await Task.sleep(for: .milliseconds(1)) }
        }
    }

    /// Runs `body` and, while it runs, advances the clock to the instant of every sleeper that waits at most
    /// `horizon` seconds past the clock's time when `body` started (a consumer's `min_seconds` booking, report
    /// retries), never further: longer waits (a handler's deadline) are left alone.
    ///
    /// ```swift
    /// let start = clock.now()
    /// await clock.advancingSleepers(within: 3) { await consumer.process(task) }
    /// // clock.now() - start is 3 after a success (the booking), 0 after a failure
    /// ```
    /// - Parameters:
    ///   - horizon: seconds past the start a sleeper may wait for and still be advanced to.
    ///   - body: the code under test.
    /// - Returns: what `body` returns.
    @discardableResult
    public func advancingSleepers<T: Sendable>(within horizon: Double, _ body: @escaping @Sendable () async -> T) async -> T {
        let limit = now() + horizon
        return await withTaskGroup(of: T?.self) { group in
            group.addTask { await body() }
            group.addTask {
                var spins = 0
                while !Task.isCancelled {
                    let due = self.state.withLock { state in
                        state.sleepers.values.map(\.instant).filter { $0 <= limit }.min()
                    }
                    if let due {
                        self.advance(by: max(0, due - self.now()))
                        spins = 0
                        continue
                    }
                    spins += 1
                    if spins < 100 { await Task.yield() } else { try? await Task.sleep(for: .milliseconds(1)) }
                }
                return nil
            }
            var result: T?
            while let next = await group.next() {
                if let value = next {
                    result = value
                    group.cancelAll()
                }
            }
            return result!
        }
    }

    /// Waits (in real time, yielding) until a task sleeps on this clock until `instant` (epoch seconds, within a
    /// microsecond): e.g. a consumer's booking, told apart from its handler's deadline by the instant.
    /// - Parameters:
    ///   - instant: the instant the sleeper waits for.
    ///   - timeout: real time allowed. Default: 60 seconds (see ``waitForSleepers(_:timeout:)``).
    /// - Throws: ``ManualClockTimeout`` when no such sleeper appears within `timeout`.
    public func waitForSleeper(until instant: Double, timeout: Duration = .seconds(60)) async throws {
        let real = ContinuousClock()
        let deadline = real.now.advanced(by: timeout)
        var spins = 0
        while !state.withLock({ $0.sleepers.values.contains { abs($0.instant - instant) < 1e-6 } }) {
            guard real.now < deadline else { throw ManualClockTimeout(expected: 1, found: 0, instant: instant) }
            spins += 1
            if spins < 100 { await Task.yield() } else { try await Task.sleep(for: .milliseconds(1)) }
        }
    }
}

/// ``ManualClock/waitForSleepers(_:timeout:)`` or ``ManualClock/waitForSleeper(until:timeout:)`` ran out of real time.
public struct ManualClockTimeout: Error, CustomStringConvertible {
    /// Sleepers waited for.
    public let expected: Int
    /// Sleepers found at the timeout.
    public let found: Int

    /// The instant waited for, when one was (epoch seconds).
    public var instant: Double? = nil

    public var description: String {
        "expected \(expected) sleeper(s) on the manual clock\(instant.map { " until \($0)" } ?? ""), found \(found)"
    }
}

import QueueCore
import Synchronization

/// A wall clock tests move by hand, so that no test sleeps for the queue's delays, leases and purges.
public final class ManualClock: WallClock {
    private let current: Mutex<Double>

    /// - Parameter now: the starting time, epoch seconds. Default: 2026-01-01T00:00:00Z.
    public init(now: Double = 1_767_225_600) {
        self.current = Mutex(now)
    }

    public func now() -> Double { current.withLock { $0 } }

    /// Moves the clock forward by `seconds`.
    public func advance(by seconds: Double) {
        current.withLock { $0 += seconds }
    }
}

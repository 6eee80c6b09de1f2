import Synchronization

/// Closes a server's long-polls when its process stops.
///
/// Why: `limsqueue serve` stops its in-process consumers first (the service group shuts services down in reverse
/// order), and each idle consumer was waiting in a `pop` long-poll that the still-running server held for up to
/// the consumer's wait (5 s): an idle server took 4-6 s to stop. Cancelling the consumer's request instead is not
/// safe: the server could still claim a task for a consumer that is gone, and the task would wait out its lease.
/// Closed, the gate makes every waiting and later long-poll answer "no task" without claiming anything.
public final class LongPollGate: Sendable {
    private let closed = Mutex(false)

    public init() {}

    /// True once ``close()`` was called.
    public var isClosed: Bool { closed.withLock { $0 } }

    /// Closes the gate for good; long-polls waiting now end at their next check (at once when the caller also
    /// wakes them, at the latest after the poll fallback interval, 0.5 s by default).
    public func close() {
        closed.withLock { $0 = true }
    }
}

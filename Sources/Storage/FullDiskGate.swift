import QueueCore
import Synchronization

/// Holds back claims while the database's disk is full.
///
/// Why: with the disk full a claim still succeeds (it rewrites its row in place), but the done that follows
/// cannot be recorded (it deletes the task and appends its history). A tryout saw the queue keep handing out tasks
/// that then stayed running until their leases ran out. After a write fails with
/// ``QueueCore/StorageCondition/full``, claims are answered with that failure (HTTP 507) for ``refusalSeconds``
/// from the next claim on, renewed by every further full failure, and ended early by a write that adds or
/// removes rows (an add, a done, a failure report): then the disk has room again. Reports and adds are never held
/// back. The gate runs on the claims' own clock (their `now`), so tests drive it with a manual clock.
final class FullDiskGate: Sendable {
    /// Seconds claims are refused after a full-disk failure is seen (a consumer backs off 0.5 s, doubling to 10 s).
    static let refusalSeconds: Double = 5

    private struct State {
        /// The last full-disk failure, answered to refused claims.
        var failure: (any Error)?
        /// A failure was recorded that no claim has seen yet: the next claim starts the refusal at its `now`.
        var pending = false
        /// Epoch seconds when the current refusal started.
        var since: Double?
    }

    private let state = Mutex(State())

    /// Records `error` when it is a full-disk failure. - Returns: true when it was one.
    @discardableResult
    func note(_ error: any Error) -> Bool {
        guard (error as? any StorageFailure)?.storageCondition == .full else { return false }
        state.withLock {
            $0.failure = error
            $0.pending = true
        }
        return true
    }

    /// A write that needed room succeeded: claims go ahead again.
    func written() {
        state.withLock { $0 = State() }
    }

    /// The failure a claim at `now` (epoch seconds) is answered with, or nil when claims may run.
    func refusal(now: Double) -> (any Error)? {
        state.withLock { state in
            guard let failure = state.failure else { return nil }
            if state.pending {
                state.pending = false
                state.since = now
            }
            if let since = state.since, now >= since, now - since < Self.refusalSeconds { return failure }
            state = State()
            return nil
        }
    }
}

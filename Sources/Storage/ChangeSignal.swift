import Foundation
import Synchronization

/// Wakes in-process waiters (long-polling `pop`s) when work may have become claimable.
///
/// A waiter returns on ``notifyAll()`` or ``notify(count:)``, when its time is up, or when its task is cancelled.
final class ChangeSignal: Sendable {
    private struct State {
        var nextID = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        /// Waiters that have an id but whose continuation is not registered yet (``wait(seconds:)`` registers it in
        /// a child task, which a loaded machine may start late): they are waiting as far as the notifications go.
        var pending: Set<Int> = []
        /// Waiters resumed before their continuation was registered.
        var resolved: Set<Int> = []
        /// Waiters resumed by ``notifyAll()`` (not by their time or a cancellation), until they look.
        var signalled: Set<Int> = []
        /// The last id issued when ``notify(count:)`` last ran: ``handOn()`` wakes only waiters up to it, so a wake
        /// nobody can use visits each of those waiters once and ends (a woken waiter waits again under a new id).
        var handOnUpTo = 0
    }

    private let state = Mutex(State())

    /// Waiters registered now (for tests).
    var waiterCount: Int { state.withLock { $0.waiters.count } }

    /// Resumes every current waiter.
    func notifyAll() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            let all = Array(state.waiters.values)
            state.signalled.formUnion(state.waiters.keys)
            state.waiters.removeAll()
            state.signalled.formUnion(state.pending)
            state.resolved.formUnion(state.pending)
            state.pending.removeAll()
            return all
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Wakes waiter `id` under the lock: returns its continuation to resume, or marks it resolved when it is not
    /// registered yet (its registration then returns at once). Either way it counts as signalled.
    private static func wake(_ id: Int, in state: inout State) -> CheckedContinuation<Void, Never>? {
        state.signalled.insert(id)
        if let waiter = state.waiters.removeValue(forKey: id) { return waiter }
        state.pending.remove(id)
        state.resolved.insert(id)
        return nil
    }

    /// Resumes the `count` longest-waiting waiters (all when fewer wait): for work that that many claims can take
    /// (tasks added), instead of waking every long-poll to race for one task. A woken waiter that claims nothing
    /// hands the wake on (``handOn()``, through ``SQLQueueStore/passOnSignal()``), so a task one waiter cannot take
    /// (its own running task blocks it) still reaches the others.
    func notify(count: Int) {
        guard count > 0 else { return }
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.handOnUpTo = state.nextID
            let chosen = Set(state.waiters.keys).union(state.pending).sorted().prefix(count)
            return chosen.compactMap { Self.wake($0, in: &state) }
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Hands a wake of ``notify(count:)`` on: resumes the longest-waiting waiter that was already waiting when
    /// ``notify(count:)`` last ran, if any. Called by a woken waiter that could not use the wake.
    func handOn() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let id = Set(state.waiters.keys).union(state.pending).filter({ $0 <= state.handOnUpTo }).min() else { return nil }
            return Self.wake(id, in: &state)
        }
        waiter?.resume()
    }

    /// Waiters that have an id and no registered continuation yet (for tests).
    var pendingCount: Int { state.withLock { $0.pending.count } }

    /// Registers a waiter now, synchronously: from here on it counts as waiting for ``notifyAll()``,
    /// ``notify(count:)`` and ``handOn()``, before its continuation exists. Wait on it with ``wait(_:seconds:beforeRegistering:)``
    /// exactly once. A long-poll registers before it starts the child tasks it waits in, which a loaded machine may
    /// start late: registered only inside them, a wake in between found no waiter and was lost (the long-poll then
    /// slept until its periodic retry, 5 s).
    func register() -> Int {
        state.withLock { state -> Int in
            state.nextID += 1
            state.pending.insert(state.nextID)
            return state.nextID
        }
    }

    /// Waits for ``notifyAll()``, or for ``notify(count:)`` or ``handOn()`` choosing it, or `seconds`, whichever comes
    /// first (``register()`` then ``wait(_:seconds:beforeRegistering:)``).
    /// - Returns: true when a notification ended the wait.
    @discardableResult
    func wait(seconds: Double) async -> Bool {
        await wait(register(), seconds: seconds)
    }

    /// Waits on `id` (from ``register()``) for a notification choosing it or `seconds`, whichever comes first; at
    /// once when one came since it registered. `beforeRegistering` runs in the child task that registers the
    /// continuation, before it does (tests widen that window with it).
    /// - Returns: true when a notification ended the wait.
    @discardableResult
    func wait(_ id: Int, seconds: Double, beforeRegistering: (@Sendable () async -> Void)? = nil) async -> Bool {
        guard seconds > 0, !Task.isCancelled else { return finish(id) }
        return await withTaskCancellationHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    await beforeRegistering?()
                    await withCheckedContinuation { continuation in
                        let resumeNow = self.state.withLock { state -> Bool in
                            state.pending.remove(id)
                            if Task.isCancelled || state.resolved.remove(id) != nil { return true }
                            state.waiters[id] = continuation
                            return false
                        }
                        if resumeNow { continuation.resume() }
                    }
                }
                group.addTask {
                    try? await Task.sleep(nanoseconds: UInt64(seconds * 1_000_000_000))
                    self.resume(id)
                }
                await group.next()
                group.cancelAll()
                self.resume(id)
            }
            return self.finish(id)
        } onCancel: {
            self.resume(id)
        }
    }

    /// Ends waiter `id`'s bookkeeping. - Returns: whether a notification chose it.
    private func finish(_ id: Int) -> Bool {
        state.withLock { state -> Bool in
            state.pending.remove(id)
            state.resolved.remove(id)
            return state.signalled.remove(id) != nil
        }
    }

    private func resume(_ id: Int) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiters.removeValue(forKey: id) { return waiter }
            // Not registered yet (or already resumed): its registration, if it still comes, returns at once.
            state.pending.remove(id)
            state.resolved.insert(id)
            return nil
        }
        waiter?.resume()
    }
}

import Foundation
import Synchronization

/// Wakes in-process waiters (long-polling `pop`s) when work may have become claimable.
///
/// A waiter returns on ``notifyAll()`` or ``notify(count:)``, when its time is up, or when its task is cancelled.
final class ChangeSignal: Sendable {
    private struct State {
        var nextID = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
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
            return all
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Resumes the `count` longest-waiting waiters (all when fewer wait): for work that that many claims can take
    /// (tasks added), instead of waking every long-poll to race for one task. A woken waiter that claims nothing
    /// hands the wake on (``handOn()``, through ``SQLQueueStore/passOnSignal()``), so a task one waiter cannot take
    /// (its own running task blocks it) still reaches the others.
    func notify(count: Int) {
        guard count > 0 else { return }
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.handOnUpTo = state.nextID
            let chosen = state.waiters.keys.sorted().prefix(count)
            state.signalled.formUnion(chosen)
            return chosen.compactMap { state.waiters.removeValue(forKey: $0) }
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Hands a wake of ``notify(count:)`` on: resumes the longest-waiting waiter that was already waiting when
    /// ``notify(count:)`` last ran, if any. Called by a woken waiter that could not use the wake.
    func handOn() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let id = state.waiters.keys.filter({ $0 <= state.handOnUpTo }).min() else { return nil }
            state.signalled.insert(id)
            return state.waiters.removeValue(forKey: id)
        }
        waiter?.resume()
    }

    /// Waits for ``notifyAll()`` or `seconds`, whichever comes first.
    /// - Returns: true when ``notifyAll()`` ended the wait.
    @discardableResult
    func wait(seconds: Double) async -> Bool {
        guard seconds > 0, !Task.isCancelled else { return false }
        let id = state.withLock { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        return await withTaskCancellationHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    await withCheckedContinuation { continuation in
                        let resumeNow = self.state.withLock { state -> Bool in
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
            return self.state.withLock { state -> Bool in
                state.resolved.remove(id)
                return state.signalled.remove(id) != nil
            }
        } onCancel: {
            self.resume(id)
        }
    }

    private func resume(_ id: Int) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiters.removeValue(forKey: id) { return waiter }
            state.resolved.insert(id)
            return nil
        }
        waiter?.resume()
    }
}

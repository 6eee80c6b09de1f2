import Foundation
import Synchronization

/// Wakes in-process waiters (long-polling `pop`s) when work may have become claimable.
///
/// A waiter returns on ``notifyAll()``, when its time is up, or when its task is cancelled.
final class ChangeSignal: Sendable {
    private struct State {
        var nextID = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        /// Waiters resumed before their continuation was registered.
        var resolved: Set<Int> = []
        /// Waiters resumed by ``notifyAll()`` (not by their time or a cancellation), until they look.
        var signalled: Set<Int> = []
    }

    private let state = Mutex(State())

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

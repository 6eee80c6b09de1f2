import ServiceLifecycle
import Synchronization

/// A one-shot value (the bound port) that services wait for; nil when the waiting task is cancelled first
/// (e.g. the server could not bind its port and the service group is shutting down).
final class ReadySignal: Sendable {
    private let state = Mutex<(value: Int?, waiters: [Int: CheckedContinuation<Int?, Never>], next: Int)>((nil, [:], 0))

    func set(_ value: Int) {
        let waiters = state.withLock { state -> [CheckedContinuation<Int?, Never>] in
            state.value = value
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: value) }
    }

    func wait() async -> Int? {
        let id = state.withLock { state -> Int in
            state.next += 1
            return state.next
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> Int?? in
                    if let value = state.value { return .some(value) }
                    if Task.isCancelled { return .some(nil) }
                    state.waiters[id] = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(returning: nil)
        }
    }
}

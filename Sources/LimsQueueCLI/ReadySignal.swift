import ServiceLifecycle
import Synchronization

/// A one-shot value (the bound port) that services wait for; nil if shutdown comes first.
final class ReadySignal: Sendable {
    private let state = Mutex<(value: Int?, waiters: [CheckedContinuation<Int?, Never>])>((nil, []))

    func set(_ value: Int) {
        let waiters = state.withLock { state -> [CheckedContinuation<Int?, Never>] in
            state.value = value
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: value) }
    }

    func wait() async -> Int? {
        await withCheckedContinuation { continuation in
            let value = state.withLock { state -> Int? in
                if let value = state.value { return value }
                state.waiters.append(continuation)
                return nil
            }
            if let value { continuation.resume(returning: value) }
        }
    }
}

import Synchronization

/// Runs the store's hold passes (``SQLQueueStore/holdBlockedTasks(maxPasses:)``) after the writer's batches that
/// may have left blocked tasks at the head of the claims' index, one pass at a time and at most one per ``interval``,
/// each a write transaction of its own queued behind the writer's work: no request waits for it.
///
/// A pass asked for while one runs, or within ``interval`` after it, is folded into one more pass after that
/// interval, so a busy queue runs at most one pass per interval and an idle one none. Best effort: a failed pass
/// (the database away) is retried with the next batch that asks; tasks not held are only read past by claims, as
/// before holds existed.
final class BlockedTaskHolder: Sendable {
    private struct State {
        var running = false
        /// A pass was asked for while one ran or within the interval after it: one more follows.
        var again = false
        var closing = false
        var loop: Task<Void, Never>?
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
    }

    /// Shortest time from the end of one pass to the start of the next. Default: 100 ms.
    let interval: Duration
    private let state = Mutex(State())
    private let pass = Mutex<(@Sendable () async -> Void)?>(nil)

    /// - Parameter interval: see ``interval``.
    init(interval: Duration = .milliseconds(100)) {
        self.interval = interval
    }

    /// Sets what a pass runs (the store's hold passes; errors are the caller's to swallow). Until then a pass does
    /// nothing.
    func setPass(_ body: @escaping @Sendable () async -> Void) {
        pass.withLock { $0 = body }
    }

    /// Asks for a pass; returns at once.
    func note() {
        let start = state.withLock { state -> Bool in
            guard !state.closing else { return false }
            guard !state.running else {
                state.again = true
                return false
            }
            state.running = true
            return true
        }
        guard start else { return }
        let loop = Task { await self.run() }
        state.withLock { $0.loop = loop }
    }

    private func run() async {
        while true {
            if let body = pass.withLock({ $0 }) { await body() }
            // Batches within the interval share the next pass.
            try? await Task.sleep(for: interval)
            let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>]? in
                if state.again, !state.closing {
                    state.again = false
                    return nil
                }
                state.running = false
                state.again = false
                state.loop = nil
                defer { state.idleWaiters = [] }
                return state.idleWaiters
            }
            guard let waiters else { continue }
            for waiter in waiters { waiter.resume() }
            return
        }
    }

    /// Stops asking for passes and waits until none runs (before the databases close). The wait between passes is
    /// cut short.
    func waitUntilIdle() async {
        await withCheckedContinuation { continuation in
            let (idle, loop) = state.withLock { state -> (Bool, Task<Void, Never>?) in
                state.closing = true
                guard state.running else { return (true, nil) }
                state.idleWaiters.append(continuation)
                return (false, state.loop)
            }
            loop?.cancel()
            if idle { continuation.resume() }
        }
    }
}

import Synchronization

/// Runs the store's hold passes (``SQLQueueStore/holdBlockedTasks(maxPasses:)``) after the writer's batches that
/// may have left blocked tasks at the head of the claims' index, one pass at a time and at most one per ``interval``,
/// each a write transaction of its own queued behind the writer's work: no request waits for it.
///
/// A pass asked for while one runs, or within the wait after it, is folded into one more pass after that wait, so a
/// busy queue runs at most one pass per wait and an idle one none. The wait is ``interval`` after a pass that held
/// tasks and doubles after each one that held none, up to ``quietInterval``: a queue whose tasks block nothing (every
/// worksheet's tasks one at a time) runs about one pass a second, which `bench queue --batched --database ...` could
/// not tell from none. Best effort: a failed pass (the database away) is retried with the next batch that asks; tasks
/// not held are only read past by claims, as before holds existed.
final class BlockedTaskHolder: Sendable {
    private struct State {
        var running = false
        /// A pass was asked for while one ran or within the interval after it: one more follows.
        var again = false
        var closing = false
        var loop: Task<Void, Never>?
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
        /// The wait after the next pass.
        var wait: Duration = .zero
    }

    /// Shortest time from the end of one pass to the start of the next, after a pass that held tasks. Default: 100 ms.
    let interval: Duration
    /// Longest such time, reached after passes that held nothing. Default: 1 s.
    let quietInterval: Duration
    private let state = Mutex(State())
    private let pass = Mutex<(@Sendable () async -> Int)?>(nil)

    /// - Parameters: interval: see ``interval``; quietInterval: see ``quietInterval``.
    init(interval: Duration = .milliseconds(100), quietInterval: Duration = .seconds(1)) {
        self.interval = interval
        self.quietInterval = quietInterval
    }

    /// Sets what a pass runs: the store's hold passes, answering how many tasks they held (errors are the caller's to
    /// swallow). Until then a pass does nothing.
    func setPass(_ body: @escaping @Sendable () async -> Int) {
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
            let held = await pass.withLock({ $0 })?() ?? 0
            // Batches within the wait share the next pass.
            let wait = state.withLock { state -> Duration in
                state.wait = held > 0 || state.wait < interval ? interval : min(state.wait * 2, quietInterval)
                return state.wait
            }
            try? await Task.sleep(for: wait)
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

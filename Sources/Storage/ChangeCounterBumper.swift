import SQLKit
import Synchronization

/// Bumps PostgreSQL's change counter (``SQLQueueStore/countChange(on:)``) after the writer's batches, on a pooled
/// connection, off the writer's path, at most one bump at a time.
///
/// The counter is for long-polls that notifications cannot reach (behind a pooler in transaction mode): they read it
/// every 0.5 s. Bumped on the writer, it was one more round trip of every batch of dones and pops (0.25-0.8 ms of a
/// 2.5-16 ms batch on this 2-core machine, `limsqueue bench queue --database ...`). Here a bump asked for while one
/// runs is folded into one more bump after it, so every commit is followed by a bump that starts after it (a poller
/// that sees the new value also sees the change), and no more than one connection is ever taken for it. Best effort,
/// as before: a failure only delays pollers to their periodic retry (5 s). A no-op on SQLite.
final class ChangeCounterBumper: Sendable {
    private struct State {
        var running = false
        /// A bump was asked for while one ran: one more follows it.
        var again = false
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())
    private let database: @Sendable () throws -> any SQLDatabase

    /// - Parameter database: the pooled database to bump on (PostgreSQL; on SQLite nothing runs).
    init(database: @escaping @Sendable () throws -> any SQLDatabase) {
        self.database = database
    }

    /// Asks for a bump after a commit; returns at once.
    func bump() {
        let start = state.withLock { state -> Bool in
            guard !state.running else {
                state.again = true
                return false
            }
            state.running = true
            return true
        }
        guard start else { return }
        Task { await run() }
    }

    private func run() async {
        while true {
            if let sql = try? database() { await SQLQueueStore.countChange(on: sql) }
            let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>]? in
                if state.again {
                    state.again = false
                    return nil
                }
                state.running = false
                defer { state.idleWaiters = [] }
                return state.idleWaiters
            }
            guard let waiters else { continue }
            for waiter in waiters { waiter.resume() }
            return
        }
    }

    /// Waits until no bump runs (before the databases close, and in tests).
    func waitUntilIdle() async {
        await withCheckedContinuation { continuation in
            let idle = state.withLock { state -> Bool in
                guard state.running else { return true }
                state.idleWaiters.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
    }
}

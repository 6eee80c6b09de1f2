import QueueCore
import Synchronization

/// The deadlines of a consumer's running handlers (`max_seconds`, and the shutdown grace once a graceful shutdown
/// began), watched by one timer for them all.
///
/// Each handler raced a timer of its own (a child task sleeping `max_seconds`) and a child waiting for a graceful
/// shutdown: three tasks and a timer set and cancelled per task, about a tenth of the CPU of `limsqueue bench queue`
/// (no-op tasks; `perf`, and a build that ran the handlers bare). Here a handler runs in one task; a deadline is an
/// entry in a table, and one sleeper waits for the earliest of them on the consumer's clock (so tests run it in
/// virtual time). Deadlines of tasks started one after the other come in order, so the sleeper is started again only
/// when a deadline earlier than the one it waits for arrives, or after no handler ran (it stops when the last one
/// ends).
///
/// When a deadline passes, the entry is marked with its reason (``QueueConsumer/RunOutcome/deadline`` or
/// ``QueueConsumer/RunOutcome/shutdown``) and its handler is cancelled; the caller reads the reason with
/// ``finish(_:)``.
final class TaskDeadlines: Sendable {
    private struct Entry {
        /// Epoch seconds of the consumer's clock.
        var deadline: Double
        var reason: QueueConsumer.RunOutcome
        var cancel: @Sendable () -> Void
        /// Set once the deadline passed (the handler was cancelled).
        var fired: QueueConsumer.RunOutcome?
    }

    private struct State {
        var entries: [Int: Entry] = [:]
        var nextID = 0
        /// The sleeper's generation; a sleeper whose generation is not current any more leaves the state alone.
        var generation = 0
        var sleeper: Task<Void, Never>?
        /// The deadline the current sleeper waits for.
        var sleeperUntil: Double?
    }

    private let state = Mutex(State())
    let clock: any WallClock

    /// - Parameter clock: the consumer's clock; its `sleep` is the one timer.
    init(clock: any WallClock) {
        self.clock = clock
    }

    /// Watches a deadline: at `deadline` (epoch seconds) `cancel` is called and the entry marked `reason`.
    /// - Returns: the entry's id, for ``tighten(_:to:reason:)`` and ``finish(_:)``.
    func register(deadline: Double, reason: QueueConsumer.RunOutcome, cancel: @escaping @Sendable () -> Void) -> Int {
        state.withLock { state in
            state.nextID += 1
            state.entries[state.nextID] = Entry(deadline: deadline, reason: reason, cancel: cancel)
            wake(for: deadline, &state)
            return state.nextID
        }
    }

    /// Brings an entry's deadline forward to `deadline` with `reason` (a graceful shutdown's grace); a later
    /// deadline leaves it as it is.
    func tighten(_ id: Int, to deadline: Double, reason: QueueConsumer.RunOutcome) {
        state.withLock { state in
            guard var entry = state.entries[id], entry.fired == nil, deadline < entry.deadline else { return }
            entry.deadline = deadline
            entry.reason = reason
            state.entries[id] = entry
            wake(for: deadline, &state)
        }
    }

    /// Stops watching an entry.
    /// - Returns: the reason its deadline passed with, or nil when it did not pass.
    func finish(_ id: Int) -> QueueConsumer.RunOutcome? {
        state.withLock { state in
            let fired = state.entries.removeValue(forKey: id)?.fired
            // Nothing left to watch: no timer stays armed (a stopped consumer leaves none behind).
            if state.entries.isEmpty { stopSleeper(&state) }
            return fired
        }
    }

    /// Entries watched now (for tests).
    var count: Int { state.withLock { $0.entries.count } }

    /// Starts a sleeper for `deadline` unless the current one wakes by then.
    private func wake(for deadline: Double, _ state: inout State) {
        if let until = state.sleeperUntil, until <= deadline, state.sleeper != nil { return }
        stopSleeper(&state)
        state.sleeperUntil = deadline
        let generation = state.generation
        state.sleeper = Task { await self.sleep(generation: generation) }
    }

    /// Cancels the current sleeper, if any; a new generation, so that it leaves the state alone.
    private func stopSleeper(_ state: inout State) {
        state.sleeper?.cancel()
        state.generation += 1
        state.sleeper = nil
        state.sleeperUntil = nil
    }

    /// The sleeper: waits for the earliest deadline, fires the entries due, and goes on until none is left.
    private func sleep(generation: Int) async {
        while true {
            let until = state.withLock { state -> Double? in
                guard state.generation == generation else { return nil }
                guard let earliest = state.entries.values.lazy.filter({ $0.fired == nil }).map(\.deadline).min() else {
                    state.sleeper = nil
                    state.sleeperUntil = nil
                    return nil
                }
                state.sleeperUntil = earliest
                return earliest
            }
            guard let until else { return }
            let seconds = until - clock.now()
            if seconds > 0 {
                do {
                    try await clock.sleep(for: .nanoseconds(Int64((seconds * 1e9).rounded(.up))))
                } catch {
                    return // cancelled: a sleeper for an earlier deadline took over
                }
            }
            let now = clock.now()
            let due = state.withLock { state -> [@Sendable () -> Void] in
                guard state.generation == generation else { return [] }
                var cancels: [@Sendable () -> Void] = []
                for (id, entry) in state.entries where entry.fired == nil && entry.deadline <= now {
                    state.entries[id]?.fired = entry.reason
                    cancels.append(entry.cancel)
                }
                return cancels
            }
            for cancel in due { cancel() }
        }
    }
}

import QueueCore
import Synchronization

/// Long-polling pops parked with the process's writer (``DatabaseWriter``): a claim batch that adds or finishes
/// tasks also claims for parked pops, in its own transaction, and hands each its tasks. Without it a waiting
/// long-poll was woken by the add's commit and then submitted a claim of its own: a second transaction and two more
/// thread hand-offs between an add and the consumer (traced on an idle SQLite server: 0.25-0.45 ms of a 1.4-1.9 ms
/// pickup).
///
/// A parked pop is in one phase at a time, changed only under this lock:
/// - parked: waiting; a batch may take it (``take(limit:)``);
/// - claiming: a batch took it and claims for it; a withdrawal waits for that answer;
/// - answered: the batch claimed tasks for it; its long-poll takes them when it withdraws.
///
/// A batch that claims nothing for a parked pop puts it back (it stays parked, nobody is woken), unless its
/// long-poll is withdrawing meanwhile, which then gets the empty answer. A long-poll always withdraws before it
/// answers its client (``withdraw(_:)``), so a task claimed for it reaches it: no lease is left held by nobody.
final class ParkedPops: Sendable {
    private enum Phase {
        case parked
        /// A batch claims for it; `withdrawal` is the long-poll waiting for that answer, if it withdrew meanwhile.
        case claiming(withdrawal: CheckedContinuation<[QueueTask], Never>?)
        case answered([QueueTask])
    }

    private struct Entry {
        var pop: DatabaseWriter.ClaimRequest.Pop
        var phase: Phase
        /// The long-poll waiting in ``waitForAnswer(_:)``, if any.
        var waiter: CheckedContinuation<Void, Never>?
    }

    private struct State {
        var nextID = 0
        var entries: [Int: Entry] = [:]
    }

    private let state = Mutex(State())

    /// Pops parked now, in any phase (for tests).
    var count: Int { state.withLock { $0.entries.count } }

    /// Parks `pop` until a batch claims tasks for it or its long-poll withdraws it.
    func park(_ pop: DatabaseWriter.ClaimRequest.Pop) -> ParkedPopTicket {
        state.withLock { state in
            state.nextID += 1
            state.entries[state.nextID] = Entry(pop: pop, phase: .parked, waiter: nil)
            return ParkedPopTicket(id: state.nextID)
        }
    }

    /// Takes up to `limit` parked pops, the longest parked first, for a batch to claim for; each must then be
    /// answered with ``answer(_:claimed:)``.
    func take(limit: Int) -> [(ticket: ParkedPopTicket, pop: DatabaseWriter.ClaimRequest.Pop)] {
        guard limit > 0 else { return [] }
        return state.withLock { state in
            let ids = state.entries.compactMap { id, entry -> Int? in
                if case .parked = entry.phase { return id }
                return nil
            }.sorted().prefix(limit)
            return ids.map { id in
                state.entries[id]!.phase = .claiming(withdrawal: nil)
                return (ParkedPopTicket(id: id), state.entries[id]!.pop)
            }
        }
    }

    /// The outcome of a batch's claim for a taken pop: `claimed` (empty when the claim found nothing or the batch
    /// failed, which leaves the pop parked).
    func answer(_ ticket: ParkedPopTicket, claimed: [QueueTask]) {
        let (waiter, withdrawal) = state.withLock { state -> (CheckedContinuation<Void, Never>?, CheckedContinuation<[QueueTask], Never>?) in
            guard var entry = state.entries[ticket.id], case .claiming(let withdrawal) = entry.phase else { return (nil, nil) }
            if let withdrawal {
                state.entries[ticket.id] = nil
                return (entry.waiter, withdrawal)
            }
            if claimed.isEmpty {
                entry.phase = .parked
                state.entries[ticket.id] = entry
                return (nil, nil)
            }
            entry.phase = .answered(claimed)
            let waiter = entry.waiter
            entry.waiter = nil
            state.entries[ticket.id] = entry
            return (waiter, nil)
        }
        withdrawal?.resume(returning: claimed)
        waiter?.resume()
    }

    /// Returns once tasks were claimed for the pop, or at once when it is not parked; early when the calling task
    /// is cancelled (the long-poll's other wake-ups win).
    func waitForAnswer(_ ticket: ParkedPopTicket) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    guard !Task.isCancelled, var entry = state.entries[ticket.id] else { return true }
                    if case .answered = entry.phase { return true }
                    entry.waiter = continuation
                    state.entries[ticket.id] = entry
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state.entries[ticket.id]?.waiter = nil }
                return state.entries[ticket.id]?.waiter
            }
            waiter?.resume()
        }
    }

    /// Ends the pop's parking: the tasks a batch claimed for it (empty when none). When a batch is claiming for
    /// it now, waits for that claim's answer, so the tasks are never lost.
    func withdraw(_ ticket: ParkedPopTicket) async -> [QueueTask] {
        await withCheckedContinuation { (continuation: CheckedContinuation<[QueueTask], Never>) in
            let now = state.withLock { state -> [QueueTask]? in
                guard var entry = state.entries[ticket.id] else { return [] }
                switch entry.phase {
                case .parked:
                    state.entries[ticket.id] = nil
                    return []
                case .answered(let tasks):
                    state.entries[ticket.id] = nil
                    return tasks
                case .claiming:
                    entry.phase = .claiming(withdrawal: continuation)
                    state.entries[ticket.id] = entry
                    return nil
                }
            }
            if let now { continuation.resume(returning: now) }
        }
    }
}

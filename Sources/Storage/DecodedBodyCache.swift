import QueueCore
import Synchronization

/// Tasks decoded from their stored body text (`queue_tasks.body`), kept for the bodies read most recently.
///
/// A task's body is read and decoded (JSON parsed, fields read) by its claim (`UPDATE ... RETURNING`) and again by
/// its report (`DELETE ... RETURNING`), both on the writer; decoding was a tenth of the writer thread's time in
/// `perf` of `limsqueue bench queue --batched`. The body does not change between the two (a claim changes columns
/// only), so the second decode finds the first one's task here. The cache is keyed by the body's exact UTF-8 bytes
/// and holds what decoding them gives, so a hit is exactly what decoding them again would give, whichever store,
/// database or process wrote it. (Not by the `String`: Swift's string equality is canonical equivalence, so a body
/// holding "café" with a composed é and a later one with `e` and a combining accent were one key, and the second
/// task was served with the first one's text; found by a tryout.) The column-held fields (status, claim, lease) are
/// not part of the body; the caller sets them from the row.
///
/// Bounded: the oldest body is dropped beyond ``capacity`` bodies, and a body longer than ``maxBodyBytes`` (a task
/// with a long `uids` list) is decoded but not kept, so the cache holds at most `capacity x maxBodyBytes` of text
/// (8 MiB by default) and about as much of tasks. The claims and reports it serves concern the tasks that run,
/// at most `max_consumers` (64 by default) at a time.
final class DecodedBodyCache: Sendable {
    /// Bodies kept.
    let capacity: Int
    /// The longest body kept, UTF-8 bytes.
    let maxBodyBytes: Int

    private struct State {
        var tasks: [ExactText: QueueTask] = [:]
        /// Bodies in the order they were added (a ring of `capacity`), for dropping the oldest.
        var order: [ExactText] = []
        var next = 0
    }

    private let state = Mutex(State())

    /// - Parameters:
    ///   - capacity: bodies kept (at least 1). Default: 1,024.
    ///   - maxBodyBytes: the longest body kept, UTF-8 bytes. Default: 8,192.
    init(capacity: Int = 1_024, maxBodyBytes: Int = 8_192) {
        self.capacity = max(1, capacity)
        self.maxBodyBytes = maxBodyBytes
    }

    /// The task `body` decodes to: the kept one, or `decode(body)`, kept for the next time.
    /// - Throws: what `decode` throws (nothing is kept then).
    func task(for body: String, decode: (String) throws -> QueueTask) rethrows -> QueueTask {
        let key = ExactText(body)
        if let task = state.withLock({ $0.tasks[key] }) { return task }
        let task = try decode(body)
        guard body.utf8.count <= maxBodyBytes else { return task }
        state.withLock { state in
            guard state.tasks[key] == nil else { return }
            if state.order.count < capacity {
                state.order.append(key)
            } else {
                state.tasks[state.order[state.next]] = nil
                state.order[state.next] = key
                state.next = (state.next + 1) % capacity
            }
            state.tasks[key] = task
        }
        return task
    }

    /// Bodies kept now.
    var count: Int { state.withLock { $0.tasks.count } }
}

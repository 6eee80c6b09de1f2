/// The status of a task in the queue, as senaite.queue names it on the wire and as it is stored (text).
///
/// - `queued`: added by `add`, or put back by `fail`/`timeout` while retries remain, or by `requeue`.
///   Left by a claim (`pop`) or by `delete`.
/// - `running`: set by a claim; `started`, `consumer_id` and `lease_token` are set exactly while running.
///   Left by `done` (to the history), `fail`, `timeout`, lease expiry or the purge-on-pop rule.
/// - `failed`: set by `fail`/`timeout` when no retries remain. Kept for the monitor until requeued or deleted.
///
/// There is no `done` status: done tasks leave the queue for the history table.
/// Source: senaite.queue `queue.py` QueueTask.status, reference 1.1.
public enum TaskStatus: String, Sendable, Codable, CaseIterable, Hashable {
    case queued
    case running
    case failed
}

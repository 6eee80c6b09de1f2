import QueueCore

/// A task on its way into `queue_tasks`, with what its row needs that takes work to compute: the stored body text
/// (``SQLQueueStore/encodeBody(_:)``) and the path key.
///
/// ``SQLQueueStore/add(_:now:)`` stages its tasks on the caller's task, before they go to the writer: encoding
/// bodies was a twentieth of the writer thread's time in `perf` of `limsqueue bench queue --batched` (500 tasks
/// per add), and every claim waits for that one thread. The body leaves out the column-held fields
/// (``SQLQueueStore/columnKeys``), so a task staged before the insert resets its status and claim has the body the
/// insert would have encoded.
struct StagedTask: Sendable {
    var task: QueueTask
    /// The stored body: the wire dict without ``SQLQueueStore/columnKeys``, compact JSON with sorted keys.
    let body: String
    let pathKey: String

    /// Encodes `task`'s body and computes its path key.
    /// - Throws: what ``SQLQueueStore/encodeBody(_:)`` throws.
    init(_ task: QueueTask) throws {
        self.task = task
        body = try SQLQueueStore.encodeBody(task)
        pathKey = task.pathKey
    }
}

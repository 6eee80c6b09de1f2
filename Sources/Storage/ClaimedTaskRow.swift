import QueueCore
import SQLKit

/// A task a claim marked running, as its `UPDATE ... RETURNING` row came back: the stored body text and the
/// column-held fields, not yet decoded.
///
/// Decoding a body (JSON parsing and reading every field) was a tenth of the writer thread's time in `perf` of
/// `limsqueue bench queue --batched`, and the writer is the one thread every claim waits for; the claim's requester
/// decodes it on its own task instead (``decoded()``), after the commit, while the writer runs the next batch.
/// A body that does not decode (a row changed by hand) then fails the request that claimed it; the task stays
/// running under its lease until that expires, as a consumer's that died.
struct ClaimedTaskRow: Sendable {
    let taskUID: String
    /// The serialization key's path part (``QueueTask/pathKey``), from its column.
    let pathKey: String
    /// The stored body (``SQLQueueStore/encodeBody(_:)``).
    let body: String
    let status: String
    let started: Double?
    let consumerID: String?
    let leaseToken: String?

    /// Reads a row holding `task_uid`, `path_key` and ``SQLQueueStore/taskColumns``.
    /// - Throws: the row's decoding errors (a column missing or of another type).
    init(row: any SQLRow) throws {
        taskUID = try row.decode(column: "task_uid", as: String.self)
        pathKey = try row.decode(column: "path_key", as: String.self)
        body = try row.decode(column: "body", as: String.self)
        status = try row.decode(column: "status", as: String.self)
        started = try row.decode(column: "started", as: Double?.self)
        consumerID = try row.decode(column: "consumer_id", as: String?.self)
        leaseToken = try row.decode(column: "lease_token", as: String?.self)
    }

    /// The task: its body decoded (through ``SQLQueueStore/decodedBodies``, so the report's read of the same body
    /// finds it) with the column-held fields set from the row.
    /// - Throws: `StorageError.corruptRow` when the body or the status does not decode; `QueueError` `.invalidTask`
    ///   naming a malformed field of the body.
    func decoded() throws -> QueueTask {
        try SQLQueueStore.task(body: body, status: status, started: started, consumerID: consumerID, leaseToken: leaseToken)
    }

    /// Every row decoded, in order.
    /// - Throws: the first row's error that does not decode (``decoded()``).
    static func decoded(_ rows: [ClaimedTaskRow]) throws -> [QueueTask] {
        try rows.map { try $0.decoded() }
    }
}

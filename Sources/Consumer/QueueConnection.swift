import QueueCore

/// A consumer's view of a queue server: the calls of senaite.queue's client (reference 1.5, 1.6).
public protocol QueueConnection: Sendable {
    /// Claims a task for `consumerID`, waiting up to `wait` seconds for one. nil when none.
    func pop(consumerID: String, wait: Double) async throws -> QueueTask?
    /// Reports a running task done, carrying its claim.
    func done(_ task: QueueTask) async throws
    /// Reports a running task done and claims the consumer's next task in the same round trip, waiting up to
    /// `wait` seconds for one. nil when none.
    func doneAndPop(_ task: QueueTask, consumerID: String, wait: Double) async throws -> QueueTask?
    /// Reports a running task failed with `message`, carrying its claim.
    func fail(_ task: QueueTask, message: String) async throws
    /// Reports a running task failed with `message` for good: a retry cannot succeed (``PermanentTaskFailure``).
    func failPermanently(_ task: QueueTask, message: String) async throws
    /// Reports a running task timed out, carrying its claim.
    func timeout(_ task: QueueTask) async throws
    /// Releases a running task back to the queue (retries reset), carrying its claim; for shutdown.
    func release(_ task: QueueTask) async throws
    /// Adds tasks; returns what the server did with each.
    func add(_ tasks: [QueueTask]) async throws -> [String: String]
}

/// An error answered by the queue server.
public struct QueueServerError: Error, CustomStringConvertible, Sendable {
    /// HTTP status code.
    public var status: Int
    /// The server's `message`.
    public var message: String

    public init(status: Int, message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { "\(status) \(message)" }
}

extension QueueConnection {
    /// Default: an ordinary failure (retried while retries remain), for connections that cannot say more.
    public func failPermanently(_ task: QueueTask, message: String) async throws {
        try await fail(task, message: message)
    }
}

/// An error of a task handler that a retry cannot cure (e.g. the user who queued the task may not do it): the
/// consumer reports the task failed for good, with the error's description as the message.
public protocol PermanentTaskFailure: Error, CustomStringConvertible {
    /// False when the failure may pass on a retry after all.
    var isPermanent: Bool { get }
}

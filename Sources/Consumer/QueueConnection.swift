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
    /// Claims up to `max` tasks for `consumerID` at once (a batched pop; the consumer's running tasks count
    /// against `max`), waiting up to `wait` seconds when none is claimable. Empty when none.
    func pop(consumerID: String, max: Int, wait: Double) async throws -> [QueueTask]
    /// Reports running tasks done in one request, each with its claim, and, with `popMax`, claims up to that
    /// many tasks (the consumer's held ones included) in the same round trip, waiting up to `wait` seconds for
    /// some when none is claimable.
    func report(done tasks: [QueueTask], consumerID: String, popMax: Int?, wait: Double) async throws -> BatchReportAnswer
    /// Reports running tasks failed in one request, each with its claim and message.
    func report(failed tasks: [(task: QueueTask, message: String)], consumerID: String) async throws -> BatchReportAnswer
}

/// The server's answer to a batched report: the reports it refused (by task uid) and the tasks claimed.
public struct BatchReportAnswer: Sendable {
    /// Reports not applied, by task uid, with the status and message a single report would have got (409 for a
    /// lost lease).
    public var refused: [String: QueueServerError]
    /// Tasks claimed in the same round trip (running, each with its lease token), in queue order.
    public var next: [QueueTask]

    public init(refused: [String: QueueServerError] = [:], next: [QueueTask] = []) {
        self.refused = refused
        self.next = next
    }
}

extension QueueConnection {
    /// Fallback for connections without batches: plain pops, one task at most.
    public func pop(consumerID: String, max: Int, wait: Double) async throws -> [QueueTask] {
        try await pop(consumerID: consumerID, wait: wait).map { [$0] } ?? []
    }

    /// Fallback for connections without batches: one done per task, then a batched pop.
    public func report(done tasks: [QueueTask], consumerID: String, popMax: Int?, wait: Double) async throws -> BatchReportAnswer {
        var answer = BatchReportAnswer()
        for task in tasks {
            do { try await done(task) } catch let error as QueueServerError where error.status < 500 { answer.refused[task.taskUID] = error }
        }
        if let popMax { answer.next = try await pop(consumerID: consumerID, max: popMax, wait: wait) }
        return answer
    }

    /// Fallback for connections without batches: one fail per task.
    public func report(failed tasks: [(task: QueueTask, message: String)], consumerID: String) async throws -> BatchReportAnswer {
        var answer = BatchReportAnswer()
        for (task, message) in tasks {
            do { try await fail(task, message: message) } catch let error as QueueServerError where error.status < 500 {
                answer.refused[task.taskUID] = error
            }
        }
        return answer
    }
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

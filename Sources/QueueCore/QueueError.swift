/// An error of the queue's rules or storage, with a code the HTTP layer maps to a status.
///
/// The message is safe to show to a user: it never carries a token, a password or a stack trace.
public struct QueueError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What went wrong. The HTTP status each code maps to is in `QueueServer` (reference 1.3).
    public enum Code: String, Sendable, Equatable {
        /// A task dict is not valid (missing or mistyped field). HTTP 406.
        case invalidTask
        /// A task uid is empty or not 32 hex characters. HTTP 412.
        case invalidUID
        /// No task with that uid. HTTP 404.
        case notFound
        /// The task is not running (done/fail/timeout need a running task). HTTP 412.
        case notRunning
        /// The consumer id is missing or shorter than 4 characters. HTTP 428.
        case invalidConsumer
        /// The caller's lease no longer holds the task (it expired and the task was re-claimed or requeued). HTTP 409.
        case leaseLost
        /// A setting's value is out of range or malformed. HTTP 400.
        case invalidSetting
        /// A request field is malformed (not a task dict). HTTP 400.
        case badRequest
    }

    public let code: Code
    /// Human-readable detail naming the field or uid concerned.
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    /// A task dict failed validation on `field`.
    public static func invalidTask(_ field: String, _ reason: String) -> QueueError {
        QueueError(.invalidTask, "No valid task(s): field '\(field)' \(reason)")
    }

    /// A setting failed validation.
    public static func invalidSetting(_ key: String, _ reason: String) -> QueueError {
        QueueError(.invalidSetting, "Setting '\(key)' \(reason)")
    }
}

/// A task selected by its status had another status when its turn came (``QueueStore/delete(_:onlyIf:now:)``,
/// ``QueueStore/requeue(_:onlyIf:now:)``): nothing was changed.
public struct TaskStatusChanged: Error, Sendable, CustomStringConvertible {
    public let taskUID: String
    /// Its status now.
    public let status: TaskStatus

    public init(taskUID: String, status: TaskStatus) {
        self.taskUID = taskUID
        self.status = status
    }

    public var description: String { "task \(taskUID) is \(status.rawValue) now" }
}

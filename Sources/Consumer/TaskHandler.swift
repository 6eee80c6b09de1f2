import Logging
import QueueCore

/// Processes the tasks of one name (`task_assign_analyses`, `noop`, ...).
///
/// A handler must be idempotent: a task may run again after a crash or a lost lease (at-least-once).
/// It should check `Task.isCancelled` (or use cancellable awaits) so that the consumer can stop it at the
/// task's deadline.
public protocol TaskHandler: Sendable {
    /// The task name this handler processes.
    var name: String { get }

    /// Processes `task`. Throwing fails the task with `"<Type>: <message>"` (retried while retries remain).
    func process(_ task: QueueTask, context: TaskContext) async throws
}

/// What a handler gets besides its task.
public struct TaskContext: Sendable {
    /// Logger carrying `lims.task.uid` and `lims.task.name`.
    public var logger: Logger
    /// The consumer processing the task.
    public var consumerID: String
    /// Seconds the handler may run: the task's own `max_seconds` (grown by timeouts).
    public var deadlineSeconds: Double
    /// The queue, for continuations and follow-up tasks.
    public var queue: any QueueConnection

    public init(logger: Logger, consumerID: String, deadlineSeconds: Double, queue: any QueueConnection) {
        self.logger = logger
        self.consumerID = consumerID
        self.deadlineSeconds = deadlineSeconds
        self.queue = queue
    }
}

/// The handlers a consumer knows, by task name.
public struct HandlerRegistry: Sendable {
    private var handlers: [String: any TaskHandler] = [:]

    public init(_ handlers: [any TaskHandler] = []) {
        for handler in handlers { register(handler) }
    }

    /// Adds or replaces the handler of `handler.name`.
    public mutating func register(_ handler: any TaskHandler) {
        handlers[handler.name] = handler
    }

    /// The handler for a task name, or nil. A `task_action_<transition>` without a handler of its own goes to
    /// `task_generic_action` when that is registered (senaite.queue `add_task`'s fallback, reference 1.12).
    public func handler(for name: String) -> (any TaskHandler)? {
        if let handler = handlers[name] { return handler }
        if name.hasPrefix("task_action_"), name.count > "task_action_".count { return handlers["task_generic_action"] }
        return nil
    }

    /// Registered task names, sorted.
    public var names: [String] { handlers.keys.sorted() }
}

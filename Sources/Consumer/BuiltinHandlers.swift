import QueueCore

/// `noop`: does nothing; for tests and benchmarks.
public struct NoopHandler: TaskHandler {
    public init() {}
    public var name: String { "noop" }
    public func process(_ task: QueueTask, context: TaskContext) async throws {}
}

/// `sleep`: sleeps `seconds` (a task field, default 1; at most 3600), cancellably; a retried task (one that
/// carries an `error_message`) sleeps `retry_seconds` instead when given; with `fail: true` it then throws.
/// For tests of deadlines, kills and retries.
public struct SleepHandler: TaskHandler {
    /// Thrown when a sleep task asks to fail.
    public struct RequestedFailure: Error, CustomStringConvertible {
        public var description: String { "failure requested by the task" }
    }

    public init() {}
    public var name: String { "sleep" }

    public func process(_ task: QueueTask, context: TaskContext) async throws {
        var seconds = task.extra["seconds"]?.doubleValue ?? 1
        if task.errorMessage != nil, let retry = task.extra["retry_seconds"]?.doubleValue { seconds = retry }
        seconds = min(max(seconds, 0), 3600)
        try await Task.sleep(nanoseconds: UInt64(seconds * 1_000_000_000))
        if case .bool(true)? = task.extra["fail"] { throw RequestedFailure() }
    }
}

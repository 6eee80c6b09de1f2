import Consumer

/// Why a LIMS task could not be processed; becomes the task's `error_message`. Retried while retries remain,
/// unless ``isPermanent`` (a retry cannot succeed: the user may not do it, or no longer exists or is deactivated).
public struct TaskProcessingError: Error, CustomStringConvertible, Sendable, PermanentTaskFailure {
    public let description: String
    /// True when a retry cannot succeed: the consumer fails the task for good. Default: false.
    public let isPermanent: Bool

    public init(_ description: String, permanent: Bool = false) {
        self.description = description
        self.isPermanent = permanent
    }
}

/// Why a LIMS task could not be processed; becomes the task's `error_message` (retried while retries remain).
public struct TaskProcessingError: Error, CustomStringConvertible, Sendable {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}

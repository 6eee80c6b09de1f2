import LIMSCore
import QueueCore

/// The user a LIMS task acts as: the one who queued it (`username`). Nothing runs elevated.
enum TaskUser {
    /// The active user `task.username` in `state`.
    /// - Throws: a permanent ``TaskProcessingError`` (not retried) when the user no longer exists or was
    ///   deactivated: the task fails with a message saying so instead of acting for them.
    ///   Source: issue 13, finding 18.
    static func actingUser(of task: QueueTask, in state: LabState) throws -> User {
        guard let user = state.user(named: task.username) else {
            throw TaskProcessingError("Task \(task.shortUID): user \(task.username) does not exist", permanent: true)
        }
        guard user.isActive else {
            throw TaskProcessingError("Task \(task.shortUID): user \(task.username) was deactivated; the task does not act for them",
                                      permanent: true)
        }
        return user
    }
}

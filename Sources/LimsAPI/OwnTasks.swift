import Foundation
import QueueCore
import QueueServer

/// A user's own background work: the tasks they queued (`username`), queued, running and failed, and what they may
/// do with a failed one: retry it (requeue, retries reset) or dismiss it (remove it from the queue). Shared by the
/// JSON API (`my_tasks`) and the web pages (the failed-work notice on every page, and `/my_tasks`).
///
/// Source: issue 13, finding 12 (the user who asked sees their background work fail).
public struct OwnTasks: Sendable {
    /// The queue.
    public let queue: any QueueStore
    /// Wall clock (requeue instants).
    public let clock: any WallClock

    public init(queue: any QueueStore, clock: any WallClock) {
        self.queue = queue
        self.clock = clock
    }

    /// The tasks `userid` queued, by status (queued, running, failed), newest first; ghost tasks (the system's
    /// follow-ups, e.g. the security re-index) included, since they act for the user too.
    /// - Parameters: offset: tasks skipped; limit: tasks at most (nil: all).
    public func tasks(of userid: String, status: Set<TaskStatus> = Set(TaskStatus.allCases), offset: Int = 0,
                      limit: Int? = nil) async throws -> [QueueTask] {
        try await queue.tasks(username: userid, status: status, offset: offset, limit: limit)
    }

    /// How many tasks `userid` has with a status in `status`.
    public func count(of userid: String, status: Set<TaskStatus> = Set(TaskStatus.allCases)) async throws -> Int {
        try await queue.taskCount(username: userid, status: status)
    }

    /// The newest `limit` failed tasks of `userid` and how many they are in all (the notice of every page).
    public func failed(of userid: String, limit: Int) async throws -> (tasks: [QueueTask], total: Int) {
        (try await queue.tasks(username: userid, status: [.failed], offset: 0, limit: limit),
         try await queue.taskCount(username: userid, status: [.failed]))
    }

    /// Requeues (`retry`) or removes (`dismiss`) a failed task of `userid`.
    /// - Throws: ``QueueServer/QueueAPIError`` 400 naming `task_uid` when it is missing or empty, 404 naming it for a
    ///   task that is not theirs (or does not exist), 409 when it is not failed.
    public func act(_ action: Action, taskUID: String, userid: String) async throws -> QueueTask {
        guard !taskUID.isEmpty else { throw QueueAPIError(.badRequest, "Field 'task_uid' is required") }
        guard TaskUID.isValid(taskUID), let task = try await queue.task(taskUID.lowercased()), task.username == userid else {
            throw QueueAPIError(.notFound, "Field 'task_uid': you have no task '\(taskUID)'")
        }
        guard task.status == .failed else {
            throw QueueAPIError(.conflict, "Field 'task_uid': task \(task.shortUID) is \((task.status ?? .queued).rawValue); only failed work can be retried or dismissed")
        }
        do {
            switch action {
            case .retry: return try await queue.requeue(task.taskUID, lease: .none, now: clock.now())
            case .dismiss: return try await queue.delete(task.taskUID, now: clock.now())
            }
        } catch let error as QueueError {
            throw QueueAPIError(error)
        }
    }

    /// What a user may do with their failed work.
    public enum Action: String, Sendable, CaseIterable {
        /// Put it back in the queue, retries reset.
        case retry
        /// Remove it from the queue.
        case dismiss
    }

    /// A task as `{task_uid, name, status, context_uid, context_path, objects, created, error_message, retries}`.
    public static func json(_ task: QueueTask) -> JSONValue {
        .object([
            "task_uid": .string(task.taskUID), "name": .string(task.name), "status": .string((task.status ?? .queued).rawValue),
            "context_uid": .string(task.contextUID), "context_path": .string(task.contextPath), "objects": .int(task.uids.count),
            "created": .double(task.created), "error_message": task.errorMessage.map(JSONValue.string) ?? .null,
            "retries": .int(task.retries),
        ])
    }
}

import Foundation
import Hummingbird
import QueueCore
import QueueServer

/// The signed-in user's own background work (``OwnTasks``):
/// - `GET my_tasks[?status=failed][&limit=N&b_start=K]` → `{count, total, b_start, items: [{task_uid, name, status,
///   context_uid, context_path, objects, created, error_message, retries}]}` (queued, running and failed by default;
///   newest first; every task unless `limit` is given);
/// - `POST my_tasks/retry` {task_uid} and `POST my_tasks/dismiss` {task_uid}: a failed task of theirs is requeued
///   or removed (404 for another user's task, 409 when it is not failed).
extension LimsAPIController {
    /// `GET my_tasks`.
    @Sendable func myTasks(_ request: Request, context: QueueRequestContext) async throws -> Response {
        guard let queue else { throw QueueAPIError(.notFound, "no queue on this node") }
        let userid = try await Self.signedInUser(context.userID, repository: repository).userid
        var statuses = Set(TaskStatus.allCases)
        if let text = request.uri.queryParameters.get("status"), !text.isEmpty {
            statuses = Set(try text.split(separator: ",").map { name in
                guard let status = TaskStatus(rawValue: String(name)) else {
                    throw QueueAPIError(.badRequest, "Field 'status' has unknown value '\(name)'; use queued, running or failed")
                }
                return status
            })
        }
        // Optional paging (senaite.jsonapi's names): `limit` items from `b_start`; without them, every task.
        let payload = LimsPayload(fields: try LimsPayload.query(request))
        let limit = try payload.int("limit")
        if let limit, !(1...Self.maxLimit).contains(limit) {
            throw QueueAPIError(.badRequest, "Field 'limit' must be in 1...\(Self.maxLimit)")
        }
        let bStart = try payload.int("b_start") ?? 0
        guard bStart >= 0 else { throw QueueAPIError(.badRequest, "Field 'b_start' must be 0 or more") }
        let own = OwnTasks(queue: queue, clock: clock)
        let tasks = try await own.tasks(of: userid, status: statuses, offset: bStart, limit: limit)
        let total = limit == nil && bStart == 0 ? tasks.count : try await own.count(of: userid, status: statuses)
        return LimsResponse.make([
            "success": .bool(true), "count": .int(tasks.count), "total": .int(total), "b_start": .int(bStart),
            "items": .array(tasks.map(OwnTasks.json)), "url": .string(Self.apiURL(request) + "/my_tasks"),
        ])
    }

    /// `POST my_tasks/retry` and `my_tasks/dismiss`.
    func actOnMyTask(_ action: OwnTasks.Action, _ request: Request, context: QueueRequestContext) async throws -> Response {
        guard let queue else { throw QueueAPIError(.notFound, "no queue on this node") }
        let userid = try await Self.signedInUser(context.userID, repository: repository).userid
        let payload = try await LimsPayload.read(request, context: context)
        let taskUID = try payload.requiredName("task_uid")
        let task = try await OwnTasks(queue: queue, clock: clock).act(action, taskUID: taskUID, userid: userid)
        return LimsResponse.make([
            "success": .bool(true), "action": .string(action.rawValue), "task": OwnTasks.json(task),
            "url": .string(Self.apiURL(request) + "/my_tasks/" + action.rawValue),
        ])
    }
}

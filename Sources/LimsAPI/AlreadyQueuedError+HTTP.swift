import Hummingbird
import LabActions
import QueueCore
import QueueServer

/// A repeated queued action answers 409 with the queued task's uid, on every route:
/// `{"success": false, "status": 409, "task_uid": "<uid>", "message": "Conflict - <action> is already queued ..."}`.
/// Source: reference 4 (never silently dropped).
extension AlreadyQueuedError: HTTPResponseError {
    public var status: HTTPResponse.Status { .conflict }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        JSONResponse.make(status: .conflict, body: [
            "success": .bool(false), "status": .int(409), "task_uid": .string(taskUID),
            "message": .string("Conflict - \(description)"),
        ])
    }
}

import Hummingbird
import LabActions
import QueueServer

/// A refused lab action as an HTTP answer, like every error of the API:
/// `{"success": false, "status": <code>, "message": "<Reason> - <what and why, naming the field>"}`.
/// Invalid input 400, not found 404, forbidden 403, conflict 409, no user 401, a system fault 500.
extension LabActionError: HTTPResponseError {
    public var status: HTTPResponse.Status {
        switch kind {
        case .invalidInput: .badRequest
        case .notFound: .notFound
        case .forbidden: .forbidden
        case .conflict: .conflict
        case .unauthenticated: .unauthorized
        case .internalFault: .internalServerError
        }
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        try QueueAPIError(status, message).response(from: request, context: context)
    }
}

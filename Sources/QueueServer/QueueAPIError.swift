import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import QueueCore

/// An error answered as senaite.jsonapi does: HTTP status plus a JSON body
/// `{"success": false, "message": "<HTTP reason> - <detail>", "status": <code>}`.
/// Source: senaite.queue `handle_queue_errors` and senaite.jsonapi `APIError`, reference 1.3.
public struct QueueAPIError: Error, HTTPResponseError {
    public let status: HTTPResponse.Status
    public let detail: String
    /// Extra response headers (e.g. `Retry-After` on a 503). Default: none.
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, _ detail: String) {
        self.status = status
        self.detail = detail
    }

    /// `"<reason> - <detail>"`, e.g. `"Precondition Failed - Task is not running"`.
    public var message: String { "\(status.reasonPhrase) - \(detail)" }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = JSONResponse.make(status: status, body: [
            "success": .bool(false),
            "message": .string(message),
            "status": .int(status.code),
        ])
        response.headers.append(contentsOf: headers)
        return response
    }

    /// The answer to a classified storage failure: 507 for a full disk, 503 with `Retry-After: 1` for a busy,
    /// unavailable or colliding (conflict) database, each with the database's message; nil for an unclassified one
    /// (answered 500).
    public init?(_ failure: any StorageFailure) {
        guard let condition = failure.storageCondition, let message = failure.operatorMessage else { return nil }
        if condition == .full {
            self.init(.init(code: 507, reasonPhrase: "Insufficient Storage"), message)
        } else {
            self.init(.serviceUnavailable, message)
            headers[.retryAfter] = "1"
        }
    }

    /// The status each queue error code maps to (reference 1.3; 409 for a lost lease, reference 4).
    public init(_ error: QueueError) {
        let status: HTTPResponse.Status
        switch error.code {
        case .invalidTask: status = .notAcceptable
        case .invalidUID, .notRunning: status = .preconditionFailed
        case .notFound: status = .notFound
        case .invalidConsumer: status = .preconditionRequired
        case .leaseLost: status = .conflict
        case .invalidSetting, .badRequest: status = .badRequest
        }
        self.init(status, error.message)
    }
}

/// JSON responses built from ``JSONValue`` dictionaries.
public enum JSONResponse {
    /// `body` as a JSON response with `status`. Default status: 200.
    public static func make(status: HTTPResponse.Status = .ok, body: [String: JSONValue]) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: JSONValue.object(body).jsonBytes))
        )
    }
}

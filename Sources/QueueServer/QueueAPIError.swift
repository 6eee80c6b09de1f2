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

    public init(_ status: HTTPResponse.Status, _ detail: String) {
        self.status = status
        self.detail = detail
    }

    /// `"<reason> - <detail>"`, e.g. `"Precondition Failed - Task is not running"`.
    public var message: String { "\(status.reasonPhrase) - \(detail)" }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        JSONResponse.make(status: status, body: [
            "success": .bool(false),
            "message": .string(message),
            "status": .int(status.code),
        ])
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

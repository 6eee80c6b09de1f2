import Hummingbird
import Logging
import QueueCore

/// Turns errors that are not HTTP errors (storage failures, bugs) into a JSON 500
/// `{"success": false, "message": "Internal Server Error - <error type>"}` and logs them with the request;
/// the error's text (which may carry SQL or paths) is logged, never sent. A classified ``StorageFailure`` (disk
/// full, database busy or unavailable) is answered 507 or 503 with the database's message instead.
public struct ErrorLoggingMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as QueueAPIError {
            throw error
        } catch let error as HTTPError {
            // Unknown routes and methods answer JSON too.
            throw QueueAPIError(error.status, error.body ?? (error.status == .notFound
                ? "No such route: \(request.method) \(request.uri.path.quotedPrefix())" : error.status.reasonPhrase))
        } catch let error as any HTTPResponseError {
            throw error
        } catch {
            // A driver error the storage layer knows but does not classify is logged with what the database said.
            context.logger.error("request failed", metadata: [
                "lims.error": .string(loggedDescription(of: error)),
                "lims.path": .string(request.uri.path.quotedPrefix()),
            ])
            throw (error as? any StorageFailure).flatMap(QueueAPIError.init)
                ?? QueueAPIError(.internalServerError, String(describing: type(of: error)))
        }
    }
}

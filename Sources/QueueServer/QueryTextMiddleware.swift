import Hummingbird
import QueueCore

/// Refuses a request whose query string holds a NUL character in a parameter's name or value (after
/// percent-decoding): HTTP 400 `{"success": false, "message": "Query parameter 'q' must not contain NUL characters"}`.
///
/// PostgreSQL text cannot hold NUL (`invalid byte sequence for encoding "UTF8": 0x00`), so such a value reached the
/// database as a 500 on every route that filters by a query parameter (the API's listings, the web lists and
/// filters); SQLite took it and matched nothing or everything. Request bodies are checked the same way by
/// ``RequestPayload``. Runs before every route, API and pages alike.
///
/// Also refuses (400) a `Cookie` header past Unicode's stream-safe limit (more than 30 combining characters in a row,
/// ``QueueCore/Swift/String/isStreamSafe``): splitting and comparing such text as `String`s, as the session lookup
/// does, cost 0.7-4.5 s of CPU per request of a tryout's 48 KB cookie, before any authentication.
public struct QueryTextMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        for cookie in request.headers[values: .cookie] where !cookie.isStreamSafe {
            throw QueueAPIError(.badRequest, "The Cookie header has more than \(String.maxNonStartersInARow) combining "
                                + "characters in a row (Unicode's stream-safe limit)")
        }
        if request.uri.query?.contains("%00") == true || request.uri.query?.contains("\0") == true {
            for (key, value) in request.uri.queryParameters where key.contains("\0") || value.contains("\0") {
                let name = String(key).replacingOccurrences(of: "\0", with: "\\0")
                throw QueueAPIError(.badRequest, "Query parameter '\(name)' must not contain NUL characters")
            }
        }
        return try await next(request, context)
    }
}

import Hummingbird

/// Refuses a request whose query string holds a NUL character in a parameter's name or value (after
/// percent-decoding): HTTP 400 `{"success": false, "message": "Query parameter 'q' must not contain NUL characters"}`.
///
/// PostgreSQL text cannot hold NUL (`invalid byte sequence for encoding "UTF8": 0x00`), so such a value reached the
/// database as a 500 on every route that filters by a query parameter (the API's listings, the web lists and
/// filters); SQLite took it and matched nothing or everything. Request bodies are checked the same way by
/// ``RequestPayload``. Runs before every route, API and pages alike.
public struct QueryTextMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.uri.query?.contains("%00") == true || request.uri.query?.contains("\0") == true {
            for (key, value) in request.uri.queryParameters where key.contains("\0") || value.contains("\0") {
                let name = String(key).replacingOccurrences(of: "\0", with: "\\0")
                throw QueueAPIError(.badRequest, "Query parameter '\(name)' must not contain NUL characters")
            }
        }
        return try await next(request, context)
    }
}

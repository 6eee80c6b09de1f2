import HTTPTypes
import Hummingbird
import Synchronization

/// Answers 405 Method Not Allowed, with an `Allow` header, for a path that has routes but none for the request's
/// method (Hummingbird's router answers 404 for those). Other misses stay 404.
///
/// Source: RFC 9110 §15.5.6 (405 "MUST generate an Allow header field"); issue 13, finding 15.
public struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The router's routes, set once every route is mounted (``RouteTable/set(_:)``).
    public final class RouteTable: Sendable {
        private let routes = Mutex<[(path: [String], method: HTTPRequest.Method)]>([])

        public init() {}

        /// Records the routes of `router` (call after mounting every route).
        public func set(_ routes: [Router<Context>.RouteDescription]) {
            let table = routes.map { route in (path: route.path.components.map(\.description), method: route.method) }
            self.routes.withLock { $0 = table }
        }

        /// Methods of the routes the router would pick for `path` (`/a/b`), sorted, with HEAD where GET is. Like Hummingbird's trie, a
        /// literal component wins over a capture at the same place: `GET queue_server/pop` never reaches the
        /// `queue_server/:task_uid` route, so it is answered for `pop`'s own routes (POST). Found by a tryout (it
        /// answered 404).
        func methods(for path: String) -> [String] {
            let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
            let table = routes.withLock { $0 }
            let matching = table.filter { Self.matches($0.path, parts) }
            guard let best = matching.map({ Self.literalMask($0.path) }).max(by: Self.lessSpecific) else { return [] }
            var methods = Set(matching.filter { Self.literalMask($0.path) == best }.map(\.method.rawValue))
            // The router answers HEAD wherever it answers GET (`autoGenerateHeadEndpoints`), though no route names it.
            if methods.contains("GET") { methods.insert("HEAD") }
            return methods.sorted()
        }

        /// Per component, whether it is a literal (not a capture or wildcard).
        static func literalMask(_ route: [String]) -> [Bool] {
            route.map { !($0.hasPrefix(":") || $0.hasPrefix("{") || $0.contains("*")) }
        }

        /// Order of specificity: at the first component where two routes differ, the literal one is more specific.
        static func lessSpecific(_ a: [Bool], _ b: [Bool]) -> Bool {
            for (x, y) in zip(a, b) where x != y { return !x }
            return a.count < b.count
        }

        /// True when route components (`queue_server`, `:uid`, `*`, `**`) match path components.
        static func matches(_ route: [String], _ parts: [String]) -> Bool {
            var index = 0
            for component in route {
                if component == "**" { return true }
                guard index < parts.count else { return false }
                let part = parts[index]
                if component.hasPrefix(":") || component == "*" || component.hasPrefix("{") {
                    // a capture or wildcard matches any one component
                } else if component.contains("*") {
                    let pieces = component.split(separator: "*", maxSplits: 1, omittingEmptySubsequences: false)
                    guard part.hasPrefix(pieces[0]), part.hasSuffix(pieces.count > 1 ? pieces[1] : "") else { return false }
                } else if component != part {
                    return false
                }
                index += 1
            }
            return index == parts.count
        }
    }

    let table: RouteTable

    public init(table: RouteTable) {
        self.table = table
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            return try methodNotAllowed(request, context: context) ?? { throw error }()
        } catch let error as QueueAPIError where error.status == .notFound {
            // The router's 404 as ``ErrorLoggingMiddleware`` words it; a handler's own 404 comes from a route that
            // serves the method, so it passes through.
            return try methodNotAllowed(request, context: context) ?? { throw error }()
        }
    }

    /// The 405 answer when the path has routes but none for the request's method; nil otherwise.
    func methodNotAllowed(_ request: Request, context: Context) throws -> Response? {
        let allowed = table.methods(for: request.uri.path)
        guard !allowed.isEmpty, !allowed.contains(request.method.rawValue) else { return nil }
        var response = try QueueAPIError(.methodNotAllowed, "\(request.method.rawValue) is not allowed here; use \(allowed.joined(separator: ", "))")
            .response(from: request, context: context)
        response.headers[.allow] = allowed.joined(separator: ", ")
        return response
    }
}

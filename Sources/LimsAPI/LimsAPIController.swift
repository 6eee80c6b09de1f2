import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdBcrypt
import LabActions
import LIMSCore
import Logging
import QueueCore
import QueueServer

/// The LIMS JSON API in senaite.jsonapi's style, under `/@@API/senaite/v1/` and `/senaite/@@API/senaite/v1/`.
///
/// Routes (every answer is JSON; errors are `{"success": false, "message": "<reason> - <detail>", "status"}`
/// with the offending field named in the detail):
/// - `POST login` {username, password} → sets the `__ac` session cookie; `POST|GET logout` clears it.
/// - `GET <portal_type>` → listing `{count, pagesize, page, pages, items, next, previous, url, success}` with
///   filters `review_state`, `getServiceUID`, `getClientUID`, `sort_on` (id, created, path), `sort_order`
///   (ascending, descending; default path ascending, and for a search without `sort_on` created descending),
///   `page` (1-based) or `b_start` (0-based index of the first item), `q` (samples and worksheets: words of the id
///   and client sample id; other types: id contains), `limit` (1...500, default 50).
/// - `GET <uid>` → the object (listing shape, one item).
/// - `POST create` {portal_type: "AnalysisRequest", Client, Contact, SampleType, Analyses, Priority?}.
/// - `POST update` {uid, Result} (also `update/<uid>`).
/// - `POST workflow_action` {action, uids, context_uid?} → `{success, items: [{uid, success, message, guard}]}`.
/// - `POST worksheet/create` {analyst, template?, instrument?}, `worksheet/add_analyses` {worksheet_uid, uids,
///   slots?}, `worksheet/apply_template` {worksheet_uid, template_uid} (routine parts queued while the queue is ready).
/// - `POST contact/link_user` {contact_uid, username, password?}; `GET queue_status`; `GET queue_statistics?since=`.
/// - `GET users`, `POST users/create`, `users/update`, `users/change_password` (``UserAccounts``).
/// - `GET my_tasks`, `POST my_tasks/retry`, `my_tasks/dismiss`: the user's own background work (``OwnTasks``).
///
/// Every route but `login`/`logout` needs a session cookie or HTTP Basic credentials (401 otherwise).
/// The catch-all `<portal_type>`/`<uid>` route is a path capture, which Hummingbird's trie ranks below the
/// constant routes (`version`, `login`, `queue_server/...`), so it shadows none of them.
///
/// Source: senaite.jsonapi routes (`routes/*.py`) and `api.get_batched`, reference 3.
public struct LimsAPIController: Sendable {
    /// Name of the session cookie (Plone's `__ac`).
    public static let cookieName = "__ac"
    /// Lifetime of a session cookie's token: 8 hours, in seconds. Default: 28,800 seconds.
    public static let sessionLifetime: Double = 8 * 3600
    /// The two API prefixes (the second for clients configured with a site path).
    public static var prefixes: [String] { QueueServerController.apiPrefixes }
    /// Largest `limit` of a listing. Default page size: 50.
    static let maxLimit = 500
    /// bcrypt cost of passwords set through the API. Default: 10.
    public static let bcryptCost: UInt8 = 10
    static let defaultLimit = 50

    let repository: any LabRepository
    /// The user actions (shared with the web pages).
    public let actions: LabActions
    /// The queue worksheet actions go to (nil: synchronous).
    let queue: (any QueueStore)?
    let authKey: @Sendable () async -> String
    let clock: any WallClock
    let uids: any UIDGenerator
    /// Failed-login counts (login route and HTTP Basic).
    let loginLimiter: LoginRateLimiter
    /// Verified HTTP Basic credentials (bcrypt once per lifetime, not per request).
    let credentials = CredentialCache()
    /// The server-side sessions (login, logout, password change and deactivation end them).
    let sessions: any SessionStore
    /// `queue_statistics` answers by `since` (nil: the last hour), shared for 2 seconds.
    let statistics = RecentResults<Double?, QueueStatisticsFigures>()

    /// - Parameters:
    ///   - repository: the lab.
    ///   - authKey: the queue auth key, read on each request; session tokens are Fernet tokens of this key.
    ///   - clock: wall clock (token expiry, creation instants).
    ///   - uids: generator of new object uids. Default: ``TimeOrderedUIDGenerator``.
    /// - Parameter queue: when given, worksheet actions are queued while the queue is ready (chunk size > 0) and
    ///   every transition honours the queue's guards; nil runs everything synchronously.
    /// - Parameter loginLimiter: the failed-login limits. Default: ``LoginRateLimiter`` with its default policy on
    ///   `clock`.
    /// - Parameter sessions: where sessions live. Default: a ``LIMSCore/MemorySessionStore`` of this controller.
    public init(repository: any LabRepository, authKey: @escaping @Sendable () async -> String, clock: any WallClock,
                uids: any UIDGenerator = TimeOrderedUIDGenerator(), queue: (any QueueStore)? = nil,
                loginLimiter: LoginRateLimiter? = nil, sessions: (any SessionStore)? = nil) {
        self.loginLimiter = loginLimiter ?? LoginRateLimiter(clock: clock)
        self.sessions = sessions ?? MemorySessionStore()
        self.repository = repository
        self.queue = queue
        self.authKey = authKey
        self.clock = clock
        self.uids = uids
        self.actions = LabActions(repository: repository, queue: queue, clock: clock, uids: uids,
                                  passwordHasher: { await PasswordHashing.hash($0, cost: Self.bcryptCost) })
    }

    /// Mounts the routes on `router` under both API prefixes.
    public func addRoutes(to router: Router<QueueRequestContext>) {
        for prefix in Self.prefixes {
            let api = router.group(RouterPath(prefix))
            api.post("login", use: login)
            api.post("logout", use: logout)
            api.get("logout", use: logout)
            let secured = api.group().add(middleware: LimsAuthMiddleware(controller: self))
            secured.post("create", use: create)
            secured.post("create/:portal_type", use: create)
            secured.post("update", use: update)
            secured.post("update/:uid", use: update)
            secured.post("workflow_action", use: workflowAction)
            secured.post("worksheet/create", use: createWorksheet)
            secured.post("worksheet/add_analyses", use: addAnalyses)
            secured.post("worksheet/apply_template", use: applyTemplate)
            secured.post("contact/link_user", use: linkUser)
            secured.get("queue_status", use: queueStatus)
            secured.get("queue_statistics", use: queueStatistics)
            secured.get("users", use: listUsers)
            secured.post("users/create", use: createUser)
            secured.post("users/update", use: updateUser)
            secured.post("users/change_password", use: changePassword)
            secured.get("my_tasks", use: myTasks)
            secured.post("my_tasks/retry") { try await self.actOnMyTask(.retry, $0, context: $1) }
            secured.post("my_tasks/dismiss") { try await self.actOnMyTask(.dismiss, $0, context: $1) }
            secured.get(":name", use: getByName)
            // A portal type whose lower-case name is also the first part of a literal route (`worksheet` of
            // `worksheet/create`, `contact` of `contact/link_user`): the router takes the literal branch and never
            // tries `:name`, so it gets a route of its own.
            for resource in Self.resourcesShadowed(on: router, under: prefix) {
                secured.get(RouterPath(resource)) { try await self.get(name: resource, request: $0, context: $1) }
            }
        }
    }

    /// Lower-case portal type names that are the first part after `prefix` of a literal route of `router`, in order.
    static func resourcesShadowed(on router: Router<QueueRequestContext>, under prefix: String) -> [String] {
        let prefixParts = RouterPath(prefix).components.map(\.description)
        let resources = Set(PortalType.allCases.map { $0.rawValue.lowercased() })
        let firstParts = router.routes.compactMap { route -> String? in
            let parts = route.path.components.map(\.description)
            guard parts.count > prefixParts.count, Array(parts.prefix(prefixParts.count)) == prefixParts else { return nil }
            return parts[prefixParts.count]
        }
        return Set(firstParts).intersection(resources).sorted()
    }

    // MARK: Helpers

    /// `scheme://host/<api prefix>` of the request, for item and page URLs.
    static func apiURL(_ request: Request) -> String {
        QueueServerController.apiURL(request)
    }

    /// The authenticated user in `state`. - Throws: 401 when the request carries no (longer valid) user.
    static func user(_ userID: String?, in state: LabState) throws -> User {
        guard let userID, let user = state.user(named: userID), user.isActive else {
            throw QueueAPIError(.unauthorized, "Authentication required")
        }
        return user
    }

    /// The signed-in user, from the repository's setup cache. - Throws: 401 when there is none.
    static func signedInUser(_ userID: String?, repository: any LabRepository) async throws -> User {
        guard let userID, let user = try await repository.user(named: userID) else {
            throw QueueAPIError(.unauthorized, "Authentication required")
        }
        return user
    }

    /// True when `uid` is a well-formed object uid (32 lowercase hex characters).
    static func isUID(_ text: String) -> Bool {
        text.utf8.count == 32 && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    /// Whether `user` may see `uid` (the rule of the `allowedRolesAndUsers` index, evaluated on `state`).
    static func isVisible(_ uid: String, to user: User, in state: LabState) -> Bool {
        state.isVisible(uid, to: user)
    }

    /// Maps a lab rule error to HTTP, naming `field`: not found 404, invalid input 400, a refused permission
    /// 403, another refusal or a duplicate 409.
    static func apiError(_ error: LabError, field: String?) -> QueueAPIError {
        let refusal = LabActionError(error, field: field) // the one mapping of lab rule errors (LabActions)
        return QueueAPIError(refusal.status, refusal.message)
    }


    /// Runs a unit of work on the repository, mapping a conflict that outlived the retries to 409
    /// (``LabActions``' rule).
    func perform<T: Sendable>(_ body: @Sendable (inout LabState, any LabReader) async throws -> T) async throws -> T {
        try await actions.perform(body)
    }

    /// A listing-shaped answer with one or more items (senaite.jsonapi answers single objects as listings).
    static func items(_ items: [[String: JSONValue]], url: String, extra: [String: JSONValue] = [:]) -> Response {
        var body: [String: JSONValue] = [
            "success": .bool(true), "count": .int(items.count), "items": .array(items.map(JSONValue.object)),
            "url": .string(url),
        ]
        body.merge(extra) { _, new in new }
        return LimsResponse.make(body)
    }

    /// An object's item plus its children: a sample's analyses, a worksheet's analyses in layout order.
    static func fullItem(_ object: any LabObject, state: LabState, baseURL: String) -> [String: JSONValue] {
        var item = LabObjectJSON.item(object, baseURL: baseURL)
        if let sample = object as? Sample {
            item["Analyses"] = .array(state.analyses(ofSample: sample.uid).map { .object(LabObjectJSON.item($0, baseURL: baseURL)) })
        } else if let worksheet = object as? Worksheet {
            item["Analyses"] = .array(state.analyses(onWorksheet: worksheet.uid).map { .object(LabObjectJSON.item($0, baseURL: baseURL)) })
        }
        return item
    }
}

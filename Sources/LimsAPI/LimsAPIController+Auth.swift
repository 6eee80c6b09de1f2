import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdBcrypt
import LabActions
import LIMSCore
import QueueAuth
import QueueCore
import QueueServer

/// Login, logout and request authentication.
///
/// A session is kept on the server (``LIMSCore/SessionStore``): the `__ac` cookie holds a random secret
/// (``QueueAuth/SessionSecret``), the server its SHA-256 with the user and the end (8 hours after login). Logout
/// ends the session; a password change or a deactivation ends every session of the user (``endSessions(of:)``).
/// A session cookie is never a valid `X-Queue-Auth-Token`, so logging in to the LIMS gives no access to the queue
/// routes. HTTP Basic credentials are accepted on every request and checked with bcrypt against
/// ``User/passwordHash``. A wrong user name or password, or a deactivated user, is answered 401 without saying
/// which; repeated failures are answered 429 (``LoginRateLimiter``).
///
/// CSRF: a state-changing request (any method but GET/HEAD/OPTIONS) authenticated by the cookie alone must show
/// it comes from a page of this site: an `X-Requested-With` header (which browsers only let same-origin scripts
/// set), or an `Origin` (else `Referer`) whose host and port are the request's `Host`. Otherwise it is refused
/// 403. Basic-auth and token clients send no ambient credentials and are not affected.
///
/// Source: Plone's `__ac` session cookie and senaite.jsonapi `login`/`logout` routes; reference 1.4 (tokens).
extension LimsAPIController {
    /// `POST login` {username, password}: checks the password and sets the session cookie.
    /// Answers `{success, userid, fullname, roles, expires}` (`expires`: Unix epoch seconds).
    @Sendable func login(_ request: Request, context: QueueRequestContext) async throws -> Response {
        // A form another site's page posts would sign the visitor in as whoever the form names (login CSRF).
        try Self.refuseCrossSite(request, "login")
        let payload = try await LimsPayload.read(request, context: context, limit: LoginRules.maxLoginBodyBytes)
        // senaite.jsonapi's own names (`__ac_name`, `__ac_password`, as Plone's login form posts them) are read
        // when `username` and `password` are absent.
        let username = try payload.has("username") || !payload.has("__ac_name")
            ? payload.requiredString("username") : payload.requiredString("__ac_name")
        let passwordField = payload.has("password") || !payload.has("__ac_password") ? "password" : "__ac_password"
        guard let password = try payload.string(passwordField), !password.isEmpty else {
            throw QueueAPIError(.badRequest, "Field '\(passwordField)' is required")
        }
        let user = try await checkLogin(username: username, password: password, address: context.remoteAddress)
        let expiry = clock.now() + Self.sessionLifetime
        let cookie = try await sessionCookie(userID: user.userid)
        var response = LimsResponse.make([
            "success": .bool(true), "userid": .string(user.userid), "fullname": .string(user.fullname),
            "roles": .array(user.roles.sorted().map { .string($0.rawValue) }), "expires": .number(expiry),
        ])
        response.setCookie(cookie)
        return response
    }

    /// Refuses a request a browser sent from another site's page (``LimsAuthMiddleware/isCrossSite(_:)``).
    /// - Throws: 403 naming `route`.
    static func refuseCrossSite(_ request: Request, _ route: String) throws {
        guard LimsAuthMiddleware.isCrossSite(request) else { return }
        throw QueueAPIError(.forbidden, "Cross-site \(route) refused: the request came from a page of another site (its Origin or Referer)")
    }

    /// Checks a login (the JSON API's and the web pages' login form): the rate limit first, then the password.
    /// Failures count towards the limit; a success clears the user's count.
    /// - Parameter address: the client's address (per-address limit), nil when unknown.
    /// - Returns: the user. - Throws: 401 for a wrong user name or password (without saying which); 429 while the
    ///   user or address is over the limit.
    public func checkLogin(username: String, password: String, address: String?) async throws -> User {
        let user = try await limitedLogin(username: username, password: password, address: address)
        loginLimiter.recordSuccess(username: username, address: address)
        return user
    }

    /// The login check both ``checkLogin(username:password:address:)`` and HTTP Basic make: a user name that cannot
    /// be a login (``LabActions/LoginRules/couldBeLogin(_:)``) is refused before anything hashes it, then the rate
    /// limit, then the password; a failure counts towards the limit.
    /// - Throws: 401 for a wrong user name or password; 429 while the user or address is over the limit.
    private func limitedLogin(username: String, password: String, address: String?) async throws -> User {
        guard LoginRules.couldBeLogin(username) else { throw QueueAPIError(.unauthorized, "Login failed: wrong user name or password") }
        try loginLimiter.check(username: username, address: address)
        guard let user = try await verifiedUser(username: username, password: password) else {
            loginLimiter.recordFailure(username: username, address: address, knownUser: try await repository.user(named: username) != nil)
            throw QueueAPIError(.unauthorized, "Login failed: wrong user name or password")
        }
        return user
    }

    /// The active user whose password this is: from the credential cache when verified lately against the user's
    /// current hash, else checked with bcrypt (and remembered). Nil for unknown and deactivated users and wrong
    /// passwords.
    func verifiedUser(username: String, password: String) async throws -> User? {
        guard let user = try await repository.user(named: username), user.isActive, !user.passwordHash.isEmpty else { return nil }
        let now = clock.now()
        if credentials.lookup(username: username, password: password, user: user, now: now) { return user }
        guard await PasswordHashing.verify(password, hash: user.passwordHash) else { return nil }
        credentials.remember(username: username, password: password, user: user, now: now)
        return user
    }

    /// Starts a server-side session for `userID` and answers its `__ac` cookie: the session's secret, valid
    /// ``sessionLifetime`` seconds, HTTP-only, SameSite=Lax, path `/`. Shared by the JSON API's `login` and the web
    /// pages' login form.
    /// - Throws: storage errors.
    public func sessionCookie(userID: String) async throws -> Cookie {
        let secret = SessionSecret.make(), now = clock.now()
        try await sessions.createSession(UserSession(id: SessionSecret.id(of: secret), userid: userID, created: now,
                                                     expires: now + Self.sessionLifetime))
        return Cookie(name: Self.cookieName, value: secret, maxAge: Int(Self.sessionLifetime), path: "/", httpOnly: true, sameSite: .lax)
    }

    /// The server-side session of `request`'s `__ac` cookie, nil when there is none or it has ended.
    public func session(of request: Request) async throws -> UserSession? {
        guard let secret = request.cookies[Self.cookieName]?.value, SessionSecret.isWellFormed(secret) else { return nil }
        return try await sessions.session(id: SessionSecret.id(of: secret), now: clock.now())
    }

    /// Ends every session of `userid` (after a password change or a deactivation).
    /// - Returns: how many sessions ended.
    @discardableResult
    public func endSessions(of userid: String) async throws -> Int {
        try await sessions.deleteSessions(userid: userid)
    }

    /// Ends the session of `request`'s cookie, if any.
    public func endSession(of request: Request) async throws {
        guard let secret = request.cookies[Self.cookieName]?.value, SessionSecret.isWellFormed(secret) else { return }
        try await sessions.deleteSession(id: SessionSecret.id(of: secret))
    }

    /// A cookie that clears the session (empty `__ac`, max-age 0).
    public static var expiredSessionCookie: Cookie {
        Cookie(name: cookieName, value: "", maxAge: 0, path: "/", httpOnly: true, sameSite: .lax)
    }

    /// `POST|GET logout`: ends the session on the server and clears the cookie. Answers `{success: true}`.
    @Sendable func logout(_ request: Request, context: QueueRequestContext) async throws -> Response {
        try Self.refuseCrossSite(request, "logout")
        try await endSession(of: request)
        var response = LimsResponse.make(["success": .bool(true)])
        response.setCookie(Self.expiredSessionCookie)
        return response
    }

    /// The active user whose bcrypt hash matches `password`, nil otherwise (also for unknown and deactivated
    /// users and empty hashes).
    public static func checkPassword(username: String, password: String, in state: LabState) async -> User? {
        guard let user = state.user(named: username), user.isActive, !user.passwordHash.isEmpty,
              await PasswordHashing.verify(password, hash: user.passwordHash)
        else { return nil }
        return user
    }

    /// The user id a request authenticates as: HTTP Basic when an `Authorization: Basic` header is present
    /// (a wrong one is refused even with a valid cookie; failures count towards the login rate limit), else the
    /// `__ac` session cookie.
    /// - Returns: the user id, and whether the session cookie (an ambient credential) authenticated it.
    /// - Throws: 401 when neither authenticates; 429 while the user or address is over the login limit.
    public func authenticate(_ request: Request, address: String? = nil) async throws -> (userid: String, byCookie: Bool) {
        if let authorization = request.headers[.authorization], authorization.hasPrefix("Basic ") {
            guard let data = Data(base64Encoded: String(authorization.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
                  let text = String(data: data, encoding: .utf8), let colon = text.firstIndex(of: ":")
            else { throw QueueAPIError(.unauthorized, "Malformed Basic credentials") }
            let username = String(text[..<colon]), password = String(text[text.index(after: colon)...])
            let user = try await limitedLogin(username: username, password: password, address: address)
            return (user.userid, false)
        }
        if let cookie = request.cookies[Self.cookieName]?.value, !cookie.isEmpty {
            guard let session = try await session(of: request),
                  try await repository.user(named: session.userid)?.isActive == true
            else { throw QueueAPIError(.unauthorized, "Session expired or invalid; log in again") }
            return (session.userid, true)
        }
        throw QueueAPIError(.unauthorized, "Authentication required (log in or send HTTP Basic credentials)")
    }
}

/// Authenticates LIMS API requests (session cookie or HTTP Basic) and stores the user id in
/// ``QueueRequestContext/userID``; unauthenticated requests are answered 401 JSON and the route never runs.
struct LimsAuthMiddleware: RouterMiddleware {
    typealias Context = QueueRequestContext

    let controller: LimsAPIController

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // The login check and the request's units of work share one check of the setup cache's freshness.
        try await controller.repository.withOneSetupCheck { try await authenticated(request, context: context, next: next) }
    }

    private func authenticated(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let (userid, byCookie) = try await controller.authenticate(request, address: context.remoteAddress)
        if byCookie, ![.get, .head, .options].contains(request.method), !Self.isSameSite(request) {
            throw QueueAPIError(.forbidden, "Cross-site request refused: a cookie session must send X-Requested-With "
                                    + "or a same-origin Origin/Referer header")
        }
        var context = context
        context.userID = userid
        context.logger[metadataKey: "lims.user"] = .string(userid)
        return try await next(request, context)
    }

    /// True when a browser sent the request from a page of another site: it carries an `Origin` (else `Referer`)
    /// header that does not name this site (``isSameSite(_:)``). Clients that are not browsers send neither.
    static func isCrossSite(_ request: Request) -> Bool {
        (request.headers[.origin] != nil || request.headers[.referer] != nil) && !isSameSite(request)
    }

    /// True when the request proves it comes from this site: `X-Requested-With` is present, or `Origin` (else
    /// `Referer`) names the request's own host and port (`Host` / HTTP/2 authority).
    static func isSameSite(_ request: Request) -> Bool {
        if let requested = HTTPField.Name("X-Requested-With"), let value = request.headers[requested], !value.isEmpty {
            return true
        }
        guard let host = request.head.authority?.lowercased(), !host.isEmpty else { return false }
        let source = request.headers[.origin] ?? request.headers[.referer]
        guard let source, source != "null", let url = URL(string: source), let sourceHost = url.host?.lowercased() else {
            return false
        }
        let sourceAuthority = url.port.map { "\(sourceHost):\($0)" } ?? sourceHost
        let defaultPort = url.scheme == "https" ? "443" : "80"
        // A default port may be written or left out on either side.
        func normalized(_ authority: String) -> String {
            authority.hasSuffix(":\(defaultPort)") ? String(authority.dropLast(defaultPort.count + 1)) : authority
        }
        return normalized(sourceAuthority) == normalized(host)
    }
}

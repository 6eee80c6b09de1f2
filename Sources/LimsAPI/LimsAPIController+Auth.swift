import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdBcrypt
import LIMSCore
import QueueAuth
import QueueCore
import QueueServer

/// Login, logout and request authentication.
///
/// A session is the `__ac` cookie holding a Fernet token (the queue auth key) of `"<expiry>:<userid>"`, valid
/// 8 hours; HTTP Basic credentials are accepted on every request and checked with bcrypt against
/// ``User/passwordHash``. A wrong user name or password is answered 401 without saying which.
///
/// Source: Plone's `__ac` session cookie and senaite.jsonapi `login`/`logout` routes; reference 1.4 (tokens).
extension LimsAPIController {
    /// `POST login` {username, password}: checks the password and sets the session cookie.
    /// Answers `{success, userid, fullname, roles, expires}` (`expires`: Unix epoch seconds).
    @Sendable func login(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let payload = try await LimsPayload.read(request, context: context)
        let username = try payload.requiredString("username")
        guard let password = try payload.string("password"), !password.isEmpty else {
            throw QueueAPIError(.badRequest, "Field 'password' is required")
        }
        let state = try await repository.load()
        guard let user = Self.checkPassword(username: username, password: password, in: state) else {
            throw QueueAPIError(.unauthorized, "Login failed: wrong user name or password")
        }
        let expiry = clock.now() + Self.sessionLifetime
        let cookie = try await sessionCookie(userID: user.userid)
        var response = LimsResponse.make([
            "success": .bool(true), "userid": .string(user.userid), "fullname": .string(user.fullname),
            "roles": .array(user.roles.sorted().map { .string($0.rawValue) }), "expires": .number(expiry),
        ])
        response.setCookie(cookie)
        return response
    }

    /// The `__ac` session cookie for `userID`: a Fernet token (queue auth key) valid ``sessionLifetime`` seconds,
    /// HTTP-only, SameSite=Lax, path `/`. Shared by the JSON API's `login` and the web pages' login form.
    /// - Throws: when the auth key is not a valid Fernet key.
    public func sessionCookie(userID: String) async throws -> Cookie {
        let token = try QueueAuthToken(key: await authKey()).make(userID: userID, now: clock.now(), lifetime: Self.sessionLifetime)
        return Cookie(name: Self.cookieName, value: token, maxAge: Int(Self.sessionLifetime), path: "/", httpOnly: true, sameSite: .lax)
    }

    /// A cookie that clears the session (empty `__ac`, max-age 0).
    public static var expiredSessionCookie: Cookie {
        Cookie(name: cookieName, value: "", maxAge: 0, path: "/", httpOnly: true, sameSite: .lax)
    }

    /// `POST|GET logout`: clears the session cookie. Answers `{success: true}`.
    @Sendable func logout(_ request: Request, context: QueueRequestContext) async throws -> Response {
        var response = LimsResponse.make(["success": .bool(true)])
        response.setCookie(Self.expiredSessionCookie)
        return response
    }

    /// The user whose bcrypt hash matches `password`, nil otherwise (also for unknown users and empty hashes).
    public static func checkPassword(username: String, password: String, in state: LabState) -> User? {
        guard let user = state.user(named: username), !user.passwordHash.isEmpty,
              Bcrypt.verify(password, hash: user.passwordHash)
        else { return nil }
        return user
    }

    /// The user id a request authenticates as: HTTP Basic when an `Authorization: Basic` header is present
    /// (a wrong one is refused even with a valid cookie), else the `__ac` session cookie.
    /// - Throws: 401 when neither authenticates.
    public func authenticate(_ request: Request) async throws -> String {
        if let authorization = request.headers[.authorization], authorization.hasPrefix("Basic ") {
            guard let data = Data(base64Encoded: String(authorization.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
                  let text = String(data: data, encoding: .utf8), let colon = text.firstIndex(of: ":")
            else { throw QueueAPIError(.unauthorized, "Malformed Basic credentials") }
            let username = String(text[..<colon]), password = String(text[text.index(after: colon)...])
            let state = try await repository.load()
            guard let user = Self.checkPassword(username: username, password: password, in: state) else {
                throw QueueAPIError(.unauthorized, "Login failed: wrong user name or password")
            }
            return user.userid
        }
        if let cookie = request.cookies[Self.cookieName]?.value, !cookie.isEmpty {
            guard let verifier = try? QueueAuthToken(key: await authKey()),
                  let userid = try? verifier.verify(cookie, now: clock.now()),
                  try await repository.load().user(named: userid) != nil
            else { throw QueueAPIError(.unauthorized, "Session expired or invalid; log in again") }
            return userid
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
        let userid = try await controller.authenticate(request)
        var context = context
        context.userID = userid
        context.logger[metadataKey: "lims.user"] = .string(userid)
        return try await next(request, context)
    }
}

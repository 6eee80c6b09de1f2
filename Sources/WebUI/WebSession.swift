import Crypto
import Foundation
import Hummingbird
import LabActions
import LIMSCore
import LimsAPI
import QueueCore
import QueueServer

/// Sessions and CSRF tokens of the web pages.
///
/// The session is the LIMS API's: the `__ac` cookie (the secret of a server-side session, 8 hours), checked by
/// ``LimsAPIController/authenticate(_:)`` and set by ``LimsAPIController/sessionCookie(userID:)``, so one login
/// serves both the pages and the JSON API.
///
/// CSRF: every form carries `_csrf`, the HMAC-SHA256 (keyed by the auth key) of the session token, hex; before
/// login, of a random `__csrf` nonce cookie. Every POST must carry the token of its own session (403 otherwise).
struct WebSession: Sendable {
    /// The field every form carries.
    static let csrfField = "_csrf"
    /// Name of the pre-login nonce cookie.
    static let nonceCookie = "__csrf"

    let lims: LimsAPIController
    let repository: any LabRepository
    let authKey: @Sendable () async -> String
    let clock: any WallClock

    /// The CSRF token bound to `secret` (a session token or a login nonce): HMAC-SHA256 keyed by the auth key, hex.
    func csrfToken(for secret: String) async -> String {
        let key = SymmetricKey(data: Data((await authKey()).utf8))
        let mac = HMAC<SHA256>.authenticationCode(for: Data(("csrf:" + secret).utf8), using: key)
        return mac.map { String(format: "%02x", $0) }.joined()
    }

    /// True when `token` is the CSRF token of `secret` (constant-time comparison).
    func isValidCSRF(_ token: String?, for secret: String?) async -> Bool {
        guard let token, let secret, !secret.isEmpty else { return false }
        let expected = Array((await csrfToken(for: secret)).utf8), given = Array(token.utf8)
        guard expected.count == given.count else { return false }
        return zip(expected, given).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// The request's session token (the `__ac` cookie), nil when absent.
    static func sessionToken(_ request: Request) -> String? {
        guard let value = request.cookies[LimsAPIController.cookieName]?.value, !value.isEmpty else { return nil }
        return value
    }

    /// The signed-in user id of `request` (session cookie only), nil when the session is missing, expired or
    /// names no user of the lab.
    func userID(_ request: Request) async -> String? {
        guard Self.sessionToken(request) != nil else { return nil }
        return try? await lims.authenticate(request).userid
    }

    /// The user whose password matches, through the JSON API's login check (same rate limit).
    /// - Throws: ``QueueServer/QueueAPIError`` 401 for a wrong user name or password;
    ///   ``LimsAPI/LoginRateLimitedError`` (429) over the login limit.
    func checkLogin(username: String, password: String, address: String?) async throws -> User {
        try await lims.checkLogin(username: username, password: password, address: address)
    }

    /// A random nonce for the login form's CSRF cookie (32 hex characters).
    static func makeNonce() -> String {
        (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }
}

/// Guards every page but the login page: no session → 303 to `/login?came_from=<path>`; a POST without the
/// session's CSRF token → 403 page. Stores the user id in ``QueueRequestContext/userID``. A page reads the setup
/// sequence once (``LIMSCore/LabRepository/withOneSetupCheck(_:)``), as an API request does: each of its lab reads
/// checked it again (6 round trips for the samples list, `pg_stat_statements`).
struct WebSessionMiddleware: RouterMiddleware {
    typealias Context = QueueRequestContext

    let session: WebSession

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        try await session.repository.withOneSetupCheck { try await guarded(request, context: context, next: next) }
    }

    private func guarded(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let userid = await session.userID(request) else {
            let path = request.uri.path + (request.uri.query.map { "?" + $0 } ?? "")
            let target = request.method == .get ? path : "/"
            return Response.redirect(to: "/login?came_from=" + WebForm.percentEncode(target), type: .normal)
        }
        var request = request
        if request.method == .post {
            let form = try await WebForm.read(&request, context: context)
            guard await session.isValidCSRF(form.value(WebSession.csrfField), for: WebSession.sessionToken(request)) else {
                throw WebError.forbidden("The form has expired or did not come from this site (missing or wrong CSRF token). Reload the page and try again.")
            }
        }
        var context = context
        context.userID = userid
        context.logger[metadataKey: "lims.user"] = .string(userid)
        var response = try await next(request, context)
        // A redirect's flash message goes into the session, never to the browser.
        if let flash = WebUI.flash(of: response) {
            response.headers[WebUI.flashHeader] = nil
            try await session.lims.setFlash(flash, for: request)
        }
        return response
    }
}

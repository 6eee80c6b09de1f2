import Foundation
import Hummingbird
import LabActions
import LIMSCore
import LimsAPI
import QueueServer

/// Login and logout pages. The login form's CSRF token is bound to a random `__csrf` nonce cookie (there is no
/// session yet); a wrong user name or password is answered 401 on the form without saying which.
extension WebUI {
    /// `GET /login[?came_from=/path]`: the form; a signed-in user goes straight to `came_from`.
    @Sendable func loginPage(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let cameFrom = Self.safeTarget(FormQuery(request).get("came_from"))
        if await session.userID(request) != nil { return Response.redirect(to: cameFrom, type: .normal) }
        return await loginForm(request, cameFrom: cameFrom, username: "", error: nil, status: .ok)
    }

    /// `POST /login` {_csrf, username, password, came_from}: sets the session cookie and redirects.
    @Sendable func login(_ request: Request, context: QueueRequestContext) async throws -> Response {
        var request = request
        let form = try await WebForm.read(&request, context: context, limit: LoginRules.maxLoginBodyBytes)
        let cameFrom = Self.safeTarget(form.value("came_from"))
        guard await session.isValidCSRF(form.value(WebSession.csrfField), for: request.cookies[WebSession.nonceCookie]?.value) else {
            throw WebError.forbidden("The login form has expired or did not come from this site. Reload the login page and try again.")
        }
        let username = form.nonEmpty("username") ?? ""
        // Shown again in the form after a failure, unless it holds control characters (a NUL went into the page).
        let shown = username.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) ? "" : username
        let failed = "Login failed: wrong user name or password."
        guard let password = form.value("password"), !username.isEmpty, !password.isEmpty else {
            return await loginForm(request, cameFrom: cameFrom, username: shown, error: failed, status: .unauthorized)
        }
        let user: User
        do {
            user = try await session.checkLogin(username: username, password: password, address: context.remoteAddress)
        } catch let error as LoginRateLimitedError {
            var response = await loginForm(request, cameFrom: cameFrom, username: shown,
                                           error: "Too many failed logins; try again in \(error.retryAfterSeconds) seconds.",
                                           status: .tooManyRequests)
            response.headers[.retryAfter] = String(error.retryAfterSeconds)
            return response
        } catch let error as QueueAPIError where error.status == .unauthorized {
            return await loginForm(request, cameFrom: cameFrom, username: shown, error: failed, status: .unauthorized)
        }
        var response = Response.redirect(to: cameFrom, type: .normal)
        response.setCookie(try await session.lims.sessionCookie(userID: user.userid))
        return response
    }

    /// `POST /logout`: ends the session on the server and clears the cookie.
    @Sendable func logout(_ request: Request, context: QueueRequestContext) async throws -> Response {
        try await session.lims.endSession(of: request)
        // The session has ended, so the message is a fixed one the login page knows (nothing from the URL is shown).
        var response = Response.redirect(to: "/login?logged_out=1", type: .normal)
        response.setCookie(LimsAPIController.expiredSessionCookie)
        return response
    }

    /// The login form, reusing or setting the nonce cookie.
    func loginForm(_ request: Request, cameFrom: String, username: String, error: String?, status: HTTPResponse.Status) async -> Response {
        let existing = request.cookies[WebSession.nonceCookie]?.value
        let nonce = (existing?.count == 32) ? existing! : WebSession.makeNonce()
        var chrome = PageChrome(csrf: await session.csrfToken(for: nonce))
        if FormQuery(request).get("logged_out") == "1" { chrome.flash = ("ok", "You are logged out.") }
        if FormQuery(request).get("password_changed") == "1" { chrome.flash = ("ok", "Your password is changed; log in with it.") }
        var data: [String: Any] = ["cameFrom": cameFrom, "username": username]
        if let error { data["error"] = error }
        var response = renderer.page("login", title: "Log in", chrome: chrome, data: data, status: status)
        if nonce != existing {
            response.setCookie(Cookie(name: WebSession.nonceCookie, value: nonce, path: "/", httpOnly: true, sameSite: .strict))
        }
        return response
    }

    /// `target` when it is a local path (`/...`, not `//host`), else `/`.
    static func safeTarget(_ target: String?) -> String {
        // Browsers drop tabs and line breaks from a URL before reading it, so `/\t/evil.example` is `//evil.example`
        // to them (a tryout's open redirect): a target with control characters or a backslash anywhere is refused.
        guard let target, target.hasPrefix("/"), !target.hasPrefix("//"),
              !target.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F || $0 == "\\" }) else { return "/" }
        // What a Location header may not hold raw (a space, non-ASCII text) is percent-encoded; escapes stay as sent.
        return target.addingPercentEncoding(withAllowedCharacters: Self.targetCharacters) ?? "/"
    }

    /// Characters a redirect target keeps as they are: RFC 3986's unreserved and reserved ASCII characters and `%`.
    static let targetCharacters = CharacterSet(charactersIn:
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/?#[]%")
}

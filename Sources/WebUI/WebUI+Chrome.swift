import Foundation
import Hummingbird
import LabActions
import LIMSCore
import QueueCore
import QueueServer

/// What every page handler needs: the signed-in user, role checks, and the page chrome.
extension WebUI {
    /// The signed-in user (set by ``WebSessionMiddleware``) and a working set holding the lab's setup objects (pages
    /// load the objects they show with ``LIMSCore/LabRepository/read(_:)``).
    /// - Throws: 403 when the session names no user of the lab.
    func signedIn(_ context: QueueRequestContext) async throws -> (user: User, state: LabState) {
        let state = try await repository.read { state, _ in state } // the setup objects: users, services, templates ...
        guard let userid = context.userID, let user = state.user(named: userid) else {
            throw WebError.forbidden("You are not signed in as a user of this lab.")
        }
        return (user, state)
    }

    /// - Throws: 403 unless `user` holds `permission` site-wide; `what` names the page.
    static func require(_ permission: Permission, _ user: User, in state: LabState, for what: String) throws {
        guard state.hasPermission(permission, on: "", user: user) else {
            let roles = user.roles.map(\.rawValue).sorted().joined(separator: ", ")
            throw WebError.forbidden("\(what) needs a role with the '\(permission.rawValue)' permission; \(user.userid) has \(roles.isEmpty ? "no role" : roles).")
        }
    }

    /// True for lab staff (any role holding View site-wide other than Owner): they see worksheets.
    static func isLabStaff(_ user: User, in state: LabState) -> Bool {
        !user.roles.isDisjoint(with: state.rolePermissions.roles(for: .view).subtracting([.owner, .client]))
    }

    /// The chrome of a page for `user`: CSRF token of the session, queue tabs and the server status banner for
    /// users who manage the queue, the flash message from the `msg`/`kind` query (set by redirects after a POST).
    func chrome(_ request: Request, user: User, state: LabState, tab: String?, refreshSeconds: Int? = nil) async -> PageChrome {
        let csrf = await session.csrfToken(for: WebSession.sessionToken(request) ?? "")
        var chrome = PageChrome(user: (user.userid, user.fullname), tab: tab, csrf: csrf, refreshSeconds: refreshSeconds)
        chrome.canManageQueue = state.hasPermission(.manageQueue, on: "", user: user)
        chrome.isLabStaff = Self.isLabStaff(user, in: state)
        if chrome.canManageQueue {
            let settings = try? await queue.settings()
            chrome.banner = await serverStatus.status(settings: settings, now: clock.now())
        }
        if let text = request.uri.queryParameters.get("msg"), !text.isEmpty {
            chrome.flash = (request.uri.queryParameters.get("kind") == "error" ? "error" : "ok", String(text.prefix(500)))
        }
        return chrome
    }

    /// A 303 redirect to `path` with a flash message.
    static func redirect(_ path: String, message: String? = nil, error: Bool = false) -> Response {
        guard let message else { return Response.redirect(to: path, type: .normal) }
        let separator = path.contains("?") ? "&" : "?"
        let kind = error ? "&kind=error" : ""
        return Response.redirect(to: path + separator + "msg=" + WebForm.percentEncode(message) + kind, type: .normal)
    }

    /// `2026-11-29 22:50:01` (UTC) for epoch seconds.
    static func dateText(_ epoch: Double) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate, .withTime, .withColonSeparatorInTime, .withSpaceBetweenDateAndTime]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date(timeIntervalSince1970: epoch))
    }

    /// "1 analysis" / "3 analyses" ... `are being processed in background`.
    static func backgroundText(_ count: Int) -> String {
        "\(count) \(count == 1 ? "analysis is" : "analyses are") being processed in background."
    }

    /// Page links of a listing: 1-based numbers, `query` builds the href of a page.
    static func pages(total: Int, pageSize: Int, current: Int, href: (Int) -> String) -> [[String: Any]] {
        let count = max(1, (total + pageSize - 1) / pageSize)
        guard count > 1 else { return [] }
        // Compact: the first and last pages and two on each side of the current one.
        let shown = Set([1, count] + Array(max(1, current - 2)...min(count, max(1, current + 2)))).sorted()
        return shown.map { ["number": $0, "href": href($0), "current": $0 == current] }
    }
}

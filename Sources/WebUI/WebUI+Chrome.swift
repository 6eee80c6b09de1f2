import Foundation
import HTTPTypes
import Hummingbird
import LabActions
import LIMSCore
import LimsAPI
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
    /// users who manage the queue, the session's flash message (set by the redirect after a POST; shown once).
    func chrome(_ request: Request, user: User, state: LabState, tab: String?, refreshSeconds: Int? = nil) async -> PageChrome {
        let csrf = await session.csrfToken(for: WebSession.sessionToken(request) ?? "")
        var chrome = PageChrome(user: (user.userid, user.fullname), tab: tab, csrf: csrf, refreshSeconds: refreshSeconds)
        chrome.canManageQueue = state.hasPermission(.manageQueue, on: "", user: user)
        chrome.isLabStaff = Self.isLabStaff(user, in: state)
        if chrome.canManageQueue {
            let settings = try? await queue.settings()
            chrome.banner = await serverStatus.status(settings: settings, now: clock.now())
        }
        if let flash = try? await session.lims.takeFlash(for: request) {
            chrome.flash = (flash.kind, flash.text)
        }
        let failed = await failedWork(of: user.userid)
        chrome.failedWork = failed.items
        chrome.failedWorkTotal = failed.total
        chrome.path = request.uri.path
        return chrome
    }

    /// A 303 redirect to `path` with a flash message. The message travels to ``WebSessionMiddleware`` in an
    /// internal header (``flashHeader``), which stores it in the session and removes the header: it never
    /// reaches the browser or the URL.
    static func redirect(_ path: String, message: String? = nil, error: Bool = false) -> Response {
        var response = Response.redirect(to: path, type: .normal)
        if let message {
            response.headers[flashHeader] = (error ? "error:" : "ok:") + WebForm.percentEncode(String(message.prefix(500)))
        }
        return response
    }

    /// The internal header carrying a redirect's flash message to ``WebSessionMiddleware``.
    static let flashHeader = HTTPField.Name("X-LimsQueue-Flash")!

    /// The flash message a handler's response carries in ``flashHeader``, nil when none.
    static func flash(of response: Response) -> FlashMessage? {
        guard let value = response.headers[flashHeader], let colon = value.firstIndex(of: ":") else { return nil }
        let text = String(value[value.index(after: colon)...]).removingPercentEncoding ?? ""
        return FlashMessage(kind: String(value[..<colon]), text: text)
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

    /// Page `requested` of a catalog query for `user` (query's `limit` rows a page), or its last page when
    /// `requested` lies beyond it. - Returns: the page's uids and total, and the page number shown.
    func catalogPage(_ query: CatalogQuery, requested: Int, user: User) async throws -> (result: CatalogPage, page: Int) {
        var query = query
        query.offset = (max(1, requested) - 1) * query.limit
        let result = try await repository.catalog(query, visibleTo: user)
        let page = min(max(1, requested), result.pageCount(pageSize: query.limit))
        guard page != requested else { return (result, page) }
        query.offset = (page - 1) * query.limit
        return (try await repository.catalog(query, visibleTo: user), page)
    }

    /// The requested page number of a list (`page` query parameter), 1 when absent or bad.
    static func requestedPage(_ request: Request) -> Int {
        let text = FormQuery(request).get("page") ?? ""
        // A number too large for Int is a page past the end, like Int.max (found by a fresh user: it went to page 1).
        let number = Int(text) ?? (!text.isEmpty && text.allSatisfy({ ("0"..."9").contains($0) }) ? Int.max : 1)
        return max(1, min(number, 1_000_000))
    }

    /// Page links of a listing, compact: the first and last pages, the current one with two on each side, and a
    /// gap (`gap: true`, shown as "…") for the pages left out, so that 100 pages make at most 9 entries.
    /// 1-based numbers; `href` builds the link of a page. A total that is a lower bound (`exact` false: more
    /// objects match than counted) shows no last page: its links end on a gap.
    static func pages(total: Int, pageSize: Int, current: Int, exact: Bool = true, href: (Int) -> String) -> [[String: Any]] {
        let count = max(1, ((exact ? total : total + 1) + pageSize - 1) / pageSize)
        guard count > 1 else { return [] }
        let around = Array(max(1, current - 2)...max(max(1, current - 2), min(count, current + 2)))
        let shown = Set([1] + (exact ? [count] : []) + around)
        var entries: [[String: Any]] = []
        var previous = 0
        for number in shown.sorted() {
            if number > previous + 1 { entries.append(["gap": true]) }
            entries.append(["number": number, "href": href(number), "current": number == current])
            previous = number
        }
        if !exact { entries.append(["gap": true]) }
        return entries
    }
}

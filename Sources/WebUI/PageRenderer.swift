import Foundation
import Hummingbird
import Mustache
import NIOCore

/// Renders pages: a page template's body inside the layout, as a `text/html` response that is never cached.
struct PageRenderer: Sendable {
    let library: MustacheLibrary

    /// Compiles every template of ``PageTemplates``. A template that does not parse is a programming error
    /// (the unit tests render every page), so it stops the process with the parser's message.
    init() {
        var library = MustacheLibrary()
        for (name, text) in PageTemplates.all {
            do {
                try library.register(text, named: name)
            } catch {
                preconditionFailure("template \(name) does not parse: \(error)")
            }
        }
        self.library = library
    }

    /// The HTML of template `name` rendered with `data`.
    func fragment(_ name: String, _ data: [String: Any]) -> String {
        library.render(data, withTemplate: name) ?? ""
    }

    /// A full page: `name`'s body inside the layout with `chrome` (navigation, banner, flash, refresh).
    func page(_ name: String, title: String, chrome: PageChrome, data: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        var data = data
        data["csrf"] = chrome.csrf
        let body = fragment(name, data)
        var frame = chrome.layoutData
        frame["title"] = title
        frame["body"] = body
        return Self.html(fragment("layout", frame), status: status)
    }

    /// An HTML response (`no-store`: pages show live queue state).
    static func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status,
                 headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                 body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

/// What every page shows around its body: the user, the navigation, the server status banner, a flash
/// message, the CSRF token, and the auto-refresh interval.
struct PageChrome: @unchecked Sendable {
    /// Signed-in user id and full name; nil on the login page.
    var user: (userid: String, fullname: String)?
    /// Shows the queue tabs and the banner.
    var canManageQueue = false
    /// Shows the Worksheets tab (lab staff).
    var isLabStaff = false
    /// The highlighted tab: `worksheets`, `samples`, `queue` or `settings`.
    var tab: String?
    var banner: ServerStatus?
    var flash: (kind: String, text: String)?
    var csrf: String
    /// Seconds between reloads; nil for none.
    var refreshSeconds: Int?
    /// The user's failed background work shown on every page (``WebUI/failedWork(of:)``), and how many in all.
    var failedWork: [[String: Any]] = []
    var failedWorkTotal = 0
    /// The path of the page, where Retry and Dismiss come back to.
    var path = "/"

    var layoutData: [String: Any] {
        var data: [String: Any] = ["csrf": csrf, "canManageQueue": canManageQueue, "isLabStaff": isLabStaff]
        if let user { data["user"] = ["userid": user.userid, "fullname": user.fullname.isEmpty ? user.userid : user.fullname] }
        if let tab { data["nav"] = [tab: true] }
        if let banner {
            var item: [String: Any] = ["status": banner.rawValue, "message": banner.message, "level": banner.level]
            if banner != .ok { item["settingsLink"] = true }
            data["banner"] = item
        }
        if let flash { data["flash"] = ["kind": flash.kind, "text": flash.text] }
        if let refreshSeconds { data["refreshSeconds"] = refreshSeconds }
        if !failedWork.isEmpty {
            data["failedWork"] = [
                "items": failedWork.map { item in item.merging(["csrf": csrf, "back": path]) { current, _ in current } },
                "total": failedWorkTotal, "more": failedWorkTotal > failedWork.count,
            ] as [String: Any]
        }
        return data
    }
}

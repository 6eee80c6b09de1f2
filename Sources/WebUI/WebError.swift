import Foundation
import Hummingbird

/// A failure answered with an HTML error page: 403 for a missing role or a bad CSRF token, 404 for an unknown
/// object, 400 for bad input.
struct WebError: Error, HTTPResponseError {
    let status: HTTPResponse.Status
    let message: String

    static func forbidden(_ message: String) -> WebError { WebError(status: .forbidden, message: message) }
    static func notFound(_ message: String) -> WebError { WebError(status: .notFound, message: message) }
    static func badRequest(_ message: String) -> WebError { WebError(status: .badRequest, message: message) }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let renderer = PageRenderer.shared
        let body = renderer.fragment("error", [
            "heading": "\(status.code) \(status.reasonPhrase)", "message": message, "back": "/",
        ])
        let chrome = PageChrome(csrf: "")
        var frame = chrome.layoutData
        frame["title"] = status.reasonPhrase
        frame["body"] = body
        return PageRenderer.html(renderer.fragment("layout", frame), status: status)
    }
}

extension PageRenderer {
    /// One compiled library for the process (templates are constants).
    static let shared = PageRenderer()
}

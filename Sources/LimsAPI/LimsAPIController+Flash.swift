import Hummingbird
import LabActions
import LIMSCore
import QueueAuth

/// Flash messages of the web pages, carried in the server-side session (never in the URL, where anyone could
/// write one into a link). Source: issue 13, finding 9.
extension LimsAPIController {
    /// Sets the message the next page of `request`'s session shows once. Does nothing without a session.
    public func setFlash(_ flash: FlashMessage, for request: Request) async throws {
        guard let secret = request.cookies[Self.cookieName]?.value, SessionSecret.isWellFormed(secret) else { return }
        try await sessions.setFlash(flash, session: SessionSecret.id(of: secret))
    }

    /// The message `request`'s session has for this page, cleared as it is read; nil when none.
    public func takeFlash(for request: Request) async throws -> FlashMessage? {
        guard let secret = request.cookies[Self.cookieName]?.value, SessionSecret.isWellFormed(secret) else { return nil }
        return try await sessions.takeFlash(session: SessionSecret.id(of: secret))
    }
}

import Foundation
import Synchronization

/// A signed-in session of the LIMS (pages and JSON API), kept on the server so that it can be ended.
///
/// The browser holds only a random secret (the `__ac` cookie); the server stores its SHA-256 (``id``), never the
/// secret itself. A session ends at ``expires``, at logout, when the user's password changes and when the user
/// is deactivated.
///
/// Source: Plone's `__ac` session cookie (plone.session), made revocable on the server (issue 13, finding 1).
public struct UserSession: Sendable, Equatable {
    /// SHA-256 of the cookie secret, 64 lowercase hex characters.
    public let id: String
    /// The user the session signs in.
    public let userid: String
    /// Creation instant, Unix epoch seconds (UTC).
    public let created: Double
    /// End of the session, Unix epoch seconds (UTC).
    public let expires: Double
    /// The message the next page shows once (set by the action a redirect follows), nil when none.
    public var flash: FlashMessage?

    public init(id: String, userid: String, created: Double, expires: Double, flash: FlashMessage? = nil) {
        self.id = id
        self.userid = userid
        self.created = created
        self.expires = expires
        self.flash = flash
    }
}

/// A message shown once on the next page (the "flash" of a redirect after a form post).
public struct FlashMessage: Sendable, Equatable, Codable {
    /// `ok` or `error`.
    public var kind: String
    /// The text, at most 500 characters.
    public var text: String

    public init(kind: String, text: String) {
        self.kind = kind == "error" ? "error" : "ok"
        self.text = String(text.prefix(500))
    }
}

/// Where server-side sessions live: the database for a served lab (every process of one database sees the same
/// sessions), memory for a single process.
public protocol SessionStore: Sendable {
    /// Stores a new session.
    func createSession(_ session: UserSession) async throws
    /// The session with `id` while it has not expired at `now`; nil otherwise.
    func session(id: String, now: Double) async throws -> UserSession?
    /// Ends one session (logout). Ending a session that does not exist does nothing.
    func deleteSession(id: String) async throws
    /// Ends every session of `userid` (password change, deactivation).
    /// - Returns: how many sessions ended.
    @discardableResult
    func deleteSessions(userid: String) async throws -> Int
    /// Sets (or clears with nil) the message the session's next page shows.
    func setFlash(_ flash: FlashMessage?, session id: String) async throws
    /// The session's message, cleared as it is read; nil when none.
    func takeFlash(session id: String) async throws -> FlashMessage?
}

/// Sessions in the memory of one process (tests, and a controller built without a database).
/// Expired sessions are dropped when new ones are made.
public final class MemorySessionStore: SessionStore {
    private let sessions = Mutex<[String: UserSession]>([:])

    public init() {}

    public func createSession(_ session: UserSession) async throws {
        sessions.withLock { table in
            table = table.filter { $0.value.expires > session.created }
            table[session.id] = session
        }
    }

    public func session(id: String, now: Double) async throws -> UserSession? {
        sessions.withLock { table in
            guard let session = table[id], session.expires > now else { return nil }
            return session
        }
    }

    public func deleteSession(id: String) async throws {
        _ = sessions.withLock { $0.removeValue(forKey: id) }
    }

    @discardableResult
    public func deleteSessions(userid: String) async throws -> Int {
        sessions.withLock { table in
            let ids = table.values.filter { $0.userid == userid }.map(\.id)
            for id in ids { table[id] = nil }
            return ids.count
        }
    }

    public func setFlash(_ flash: FlashMessage?, session id: String) async throws {
        sessions.withLock { table in table[id]?.flash = flash }
    }

    public func takeFlash(session id: String) async throws -> FlashMessage? {
        sessions.withLock { table in
            defer { table[id]?.flash = nil }
            return table[id]?.flash
        }
    }
}

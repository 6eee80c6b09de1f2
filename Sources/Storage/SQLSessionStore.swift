import FluentKit
import Foundation
import LIMSCore
import SQLKit

/// The LIMS sessions in the database (table `lims_sessions`): every process serving one database sees the same
/// sessions, so a logout on one node ends the session on all of them. Writes go through the queue store's
/// single writer; expired rows are deleted whenever a session is made.
public final class SQLSessionStore: SessionStore {
    let store: SQLQueueStore

    /// - Parameter store: the queue store whose database (migrated) and writer the sessions use.
    public init(store: SQLQueueStore) {
        self.store = store
    }

    public func createSession(_ session: UserSession) async throws {
        let flash = try session.flash.map(Self.encode)
        try await store.transaction(.rows) { sql in
            try await sql.raw("DELETE FROM lims_sessions WHERE expires <= \(bind: session.created)").run()
            try await sql.raw("""
                INSERT INTO lims_sessions (id, userid, created, expires, flash)
                VALUES (\(bind: session.id), \(bind: session.userid), \(bind: session.created), \(bind: session.expires), \(bind: flash))
                """).run()
        }
    }

    public func session(id: String, now: Double) async throws -> UserSession? {
        guard let row = try await store.sql.raw("""
            SELECT id, userid, created, expires, flash FROM lims_sessions WHERE id = \(bind: id) AND expires > \(bind: now)
            """).first()
        else { return nil }
        let flash = try row.decode(column: "flash", as: String?.self).flatMap(Self.decode)
        return UserSession(id: try row.decode(column: "id", as: String.self), userid: try row.decode(column: "userid", as: String.self),
                           created: try row.decode(column: "created", as: Double.self),
                           expires: try row.decode(column: "expires", as: Double.self), flash: flash)
    }

    public func deleteSession(id: String) async throws {
        try await store.transaction(.rows) { sql in
            try await sql.raw("DELETE FROM lims_sessions WHERE id = \(bind: id)").run()
        }
    }

    @discardableResult
    public func deleteSessions(userid: String) async throws -> Int {
        try await store.transaction(.rows) { sql in
            let rows = try await sql.raw("DELETE FROM lims_sessions WHERE userid = \(bind: userid) RETURNING id").all()
            return rows.count
        }
    }

    public func setFlash(_ flash: FlashMessage?, session id: String) async throws {
        let text = try flash.map(Self.encode)
        try await store.transaction(.rows) { sql in
            try await sql.raw("UPDATE lims_sessions SET flash = \(bind: text) WHERE id = \(bind: id)").run()
        }
    }

    public func takeFlash(session id: String) async throws -> FlashMessage? {
        // A read first: most pages have no message, and then nothing is written.
        guard let row = try await store.sql.raw("SELECT flash FROM lims_sessions WHERE id = \(bind: id)").first(),
              let text = try row.decode(column: "flash", as: String?.self)
        else { return nil }
        try await store.transaction(.rows) { sql in
            try await sql.raw("UPDATE lims_sessions SET flash = NULL WHERE id = \(bind: id)").run()
        }
        return Self.decode(text)
    }

    static func encode(_ flash: FlashMessage) throws -> String {
        String(decoding: try JSONEncoder().encode(flash), as: UTF8.self)
    }

    static func decode(_ text: String) -> FlashMessage? {
        try? JSONDecoder().decode(FlashMessage.self, from: Data(text.utf8))
    }
}

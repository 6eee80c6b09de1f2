import LIMSCore
import SQLKit

/// The search index's rows in `lims_search` (``SearchWords``; table and index: ``AddSearchIndex``): one row per
/// token of an object, with the object's portal type and creation time, so a search reads `(portal_type, token)`
/// in creation order.
enum SQLSearchIndex {
    /// One stored row.
    struct Row: Sendable, Equatable {
        var uid: String
        var token: String
        var portalType: String
        var created: Double
    }

    /// The rows of `object`: none for a type the index does not hold.
    static func rows(of object: any LabObject) -> [Row] {
        (SearchWords.tokens(of: object) ?? []).map {
            Row(uid: object.uid, token: $0, portalType: type(of: object).portalType.rawValue, created: object.created)
        }
    }

    /// The objects of a save whose rows are written again (their stored rows, if any, replaced): every new object of
    /// a searched type, and the changed ones whose texts changed (a transition, a result or an assignment rewrites
    /// nothing). Deleted objects lose their rows (``write(_:replacing:created:deleted:on:)``).
    static func rewrites(of state: LabState, original: LabState) -> [String] {
        var uids: [String] = []
        for uid in state.changes.created.sorted() {
            if let object = state.peekObject(uid), SearchWords.texts(of: object) != nil { uids.append(uid) }
        }
        for uid in state.changes.changed.sorted() {
            guard let object = state.peekObject(uid), let texts = SearchWords.texts(of: object) else { continue }
            if SQLLabStore.originalObject(uid, in: original).flatMap(SearchWords.texts(of:)) != texts { uids.append(uid) }
        }
        return uids
    }

    /// Replaces the rows of `replacing` (those not in `created`, which have none yet) and of `deleted` with `rows`:
    /// deletes by uid (500 a statement), inserts of 300 rows (SQLite, ``MultiRowStatement``) or of arrays, 10,000 rows a statement
    /// (PostgreSQL, 4 binds whatever the rows, as ``SQLLabStore``'s object inserts).
    /// - Throws: storage errors.
    static func write(_ rows: [Row], replacing: [String], created: Set<String>, deleted: Set<String>,
                      on sql: any SQLDatabase) async throws {
        let stale = replacing.filter { !created.contains($0) } + deleted.sorted()
        for start in stride(from: 0, to: stale.count, by: 500) {
            let slice = stale[start..<min(stale.count, start + 500)]
            try await sql.raw("DELETE FROM lims_search WHERE uid IN (\(SQLList(slice.map { SQLBind($0) })))").run()
        }
        let postgres = SQLQueueStore.isPostgres(sql)
        let perStatement = postgres ? 10_000 : 300
        for start in stride(from: 0, to: rows.count, by: perStatement) {
            let slice = rows[start..<min(rows.count, start + perStatement)]
            if postgres {
                try await sql.raw("""
                    INSERT INTO lims_search (uid, token, portal_type, created)
                    SELECT * FROM unnest(\(SQLBind(slice.map(\.uid)))::text[], \(SQLBind(slice.map(\.token)))::text[],
                                         \(SQLBind(slice.map(\.portalType)))::text[], \(SQLBind(slice.map(\.created)))::float8[])
                    """).run()
            } else {
                try await MultiRowStatement(head: "INSERT INTO lims_search (uid, token, portal_type, created)",
                                            rows: slice.map { [$0.uid, $0.token, $0.portalType, $0.created] }, on: sql).run(on: sql)
            }
        }
    }
}

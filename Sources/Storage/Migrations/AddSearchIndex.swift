import FluentKit
import LIMSCore
import SQLKit

/// Schema version 14: the catalog's search index (``SearchWords``, ``SQLSearchIndex``), filled from the stored
/// samples and worksheets.
///
/// `lims_search` holds one row per (object, token); `lims_search_token` on `(portal_type, token, created, uid)`
/// answers a search word with one index range read in the listing's order. The filling reads the searched objects
/// 2,000 at a time by uid and writes their rows; on a lab of 200,000 samples it adds about 1.4 million rows
/// (7 per sample) once, in the migration's transaction.
public struct AddSearchIndex: AsyncMigration {
    public init() {}

    public var name: String { "limsqueue-0014-search-index" }

    public func prepare(on database: any Database) async throws {
        try await database.transaction { database in
            let sql = try database.sqlDatabase()
            // Safe to run again over itself (a table and index left by an earlier attempt are refilled, not duplicated).
            try await sql.raw("""
                CREATE TABLE IF NOT EXISTS lims_search (
                    uid TEXT NOT NULL,
                    token TEXT NOT NULL,
                    portal_type TEXT NOT NULL,
                    created DOUBLE PRECISION NOT NULL,
                    PRIMARY KEY (uid, token)
                )
                """).run()
            try await Self.refill(sql, types: SearchWords.portalTypes)
            try await sql.raw("CREATE INDEX IF NOT EXISTS lims_search_token ON lims_search (portal_type, token, created, uid)").run()
        }
    }

    /// Replaces the rows of `types` (default: every indexed type, ``SearchWords/indexedTypes``) with those of their
    /// stored objects (the migrations; `limsqueue reindex`).
    static func refill(_ sql: any SQLDatabase, types: Set<PortalType> = SearchWords.indexedTypes) async throws {
        if types == SearchWords.indexedTypes {
            try await sql.raw("DELETE FROM lims_search").run()
        } else {
            try await sql.raw("DELETE FROM lims_search WHERE portal_type IN (\(SQLList(types.map(\.rawValue).sorted().map { SQLBind($0) })))").run()
        }
        for portalType in types.map(\.rawValue).sorted() {
            var after = ""
            while true {
                let stored = try await sql.raw("""
                    SELECT uid, version, body FROM lims_objects WHERE portal_type = \(bind: portalType) AND uid > \(bind: after)
                    ORDER BY uid LIMIT 2000
                    """).all()
                guard let last = stored.last else { break }
                after = try last.decode(column: "uid", as: String.self)
                let rows = try stored.flatMap { row in
                    SQLSearchIndex.rows(of: try LabObjectCoding.decode(try row.decode(column: "body", as: String.self), portalType: portalType,
                                                                      version: try row.decode(column: "version", as: Int.self)))
                }
                try await SQLSearchIndex.write(rows, replacing: [], created: [], deleted: [], on: sql)
            }
        }
    }

    public func revert(on database: any Database) async throws {
        try await database.sqlDatabase().raw("DROP TABLE IF EXISTS lims_search").run()
    }
}

import FluentKit
import LIMSCore
import SQLKit

/// Schema version 4: the lab's catalog, so that every listing, guard and task reads only the rows it needs.
///
/// - Catalog columns on `lims_objects` (``CatalogColumns``: `object_id`, `client_uid`, `sample_uid`,
///   `worksheet_uid`, `service_uid`, `lookup_key`, `sort_key`) with their indexes, filled from the stored
///   documents: an existing lab keeps every object and gets its catalog built.
/// - The id counters of reference-sample group numbers (`ReferenceGroup:<uid>`), seeded from the stored
///   reference analyses: a unit of work reserves group numbers instead of reading a reference sample's history.
/// - Row 4 of `queue_state`: the setup sequence, bumped by every write of a setup object (users, services,
///   templates ...), which tells each process when its cache of setup objects is stale.
/// - PostgreSQL: text columns that are sorted compare bytes (`COLLATE "C"`), as Swift and SQLite do, so pages and
///   template picks are in the same order on both databases.
public struct AddLabCatalog: AsyncMigration {
    public init() {}

    public var name: String { "limsqueue-0004-lab-catalog" }

    public func prepare(on database: any Database) async throws {
        let sql = try database.sqlDatabase()
        let postgres = sql.dialect.name == "postgresql"
        let sortedText = postgres ? "TEXT COLLATE \"C\"" : "TEXT"
        if postgres {
            try await sql.raw("ALTER TABLE lims_objects ALTER COLUMN path TYPE TEXT COLLATE \"C\"").run()
        }
        for (column, type) in [("object_id", sortedText), ("client_uid", "TEXT"), ("sample_uid", "TEXT"),
                               ("worksheet_uid", "TEXT"), ("service_uid", "TEXT"), ("lookup_key", "TEXT"),
                               ("sort_key", sortedText)] {
            try await sql.raw("ALTER TABLE lims_objects ADD COLUMN \(unsafeRaw: column) \(unsafeRaw: type)").run()
        }
        try await backfill(sql)
        for statement in Self.indexes {
            try await sql.raw(SQLQueryString(statement)).run()
        }
        try await sql.raw("INSERT INTO queue_state (id, counter) VALUES (4, 0)").run()
    }

    /// The catalog's indexes: listings by type sorted by path, id or creation (with or without a review state),
    /// a sample's and a worksheet's analyses, analyses by service, setup lookups, the template pick order, children
    /// in walk order (the security walk).
    static let indexes = [
        "CREATE INDEX lims_catalog_type_path ON lims_objects (portal_type, path)",
        "CREATE INDEX lims_catalog_type_id ON lims_objects (portal_type, object_id)",
        "CREATE INDEX lims_catalog_type_created ON lims_objects (portal_type, created)",
        "CREATE INDEX lims_catalog_state_created ON lims_objects (portal_type, review_state, created)",
        "CREATE INDEX lims_catalog_client ON lims_objects (client_uid, portal_type, created)",
        "CREATE INDEX lims_catalog_sample ON lims_objects (sample_uid, portal_type, review_state)",
        "CREATE INDEX lims_catalog_worksheet ON lims_objects (worksheet_uid)",
        "CREATE INDEX lims_catalog_service ON lims_objects (service_uid, review_state)",
        "CREATE INDEX lims_catalog_lookup ON lims_objects (portal_type, lookup_key)",
        "CREATE INDEX lims_catalog_pick ON lims_objects (portal_type, sort_key)",
        "CREATE INDEX lims_catalog_children ON lims_objects (parent_uid, created, object_id, uid)",
    ]

    /// Fills the catalog columns of every stored object, 2,000 rows a statement batch, and seeds the reference
    /// group counters.
    func backfill(_ sql: any SQLDatabase) async throws {
        var after = ""
        var groups: [String: Int] = [:]
        while true {
            let rows = try await sql.raw("""
                SELECT uid, portal_type, version, body FROM lims_objects WHERE uid > \(bind: after) ORDER BY uid LIMIT 2000
                """).all()
            guard let last = rows.last else { break }
            after = try last.decode(column: "uid", as: String.self)
            for row in rows {
                let object = try LabObjectCoding.decode(try row.decode(column: "body", as: String.self),
                                                        portalType: try row.decode(column: "portal_type", as: String.self),
                                                        version: try row.decode(column: "version", as: Int.self))
                let c = CatalogColumns(object)
                try await sql.raw("""
                    UPDATE lims_objects SET object_id = \(bind: c.objectID), client_uid = \(bind: c.clientUID),
                        sample_uid = \(bind: c.sampleUID), worksheet_uid = \(bind: c.worksheetUID),
                        service_uid = \(bind: c.serviceUID), lookup_key = \(bind: c.lookupKey), sort_key = \(bind: c.sortKey)
                    WHERE uid = \(bind: object.uid)
                    """).run()
                if let reference = object as? ReferenceAnalysis, let number = Int(reference.groupID.split(separator: "-").last ?? "") {
                    let key = LabState.referenceGroupCounter(reference.referenceSampleUID)
                    groups[key] = max(groups[key] ?? 0, number)
                }
            }
        }
        for (key, value) in groups {
            try await sql.raw("""
                INSERT INTO lims_counters (key, value) VALUES (\(bind: key), \(bind: value))
                ON CONFLICT (key) DO UPDATE SET value = excluded.value
                """).run()
        }
    }

    public func revert(on database: any Database) async throws {
        let sql = try database.sqlDatabase()
        for statement in Self.indexes {
            let name = statement.split(separator: " ")[2]
            try await sql.raw("DROP INDEX IF EXISTS \(unsafeRaw: String(name))").run()
        }
        for column in ["object_id", "client_uid", "sample_uid", "worksheet_uid", "service_uid", "lookup_key", "sort_key"] {
            try await sql.raw("ALTER TABLE lims_objects DROP COLUMN \(unsafeRaw: column)").run()
        }
        try await sql.raw("DELETE FROM queue_state WHERE id = 4").run()
    }
}

import FluentKit
import SQLKit

/// Schema: the catalog indexes on a column that most objects leave NULL hold only the objects that set it
/// (partial indexes, `WHERE column IS NOT NULL`).
///
/// Of a lab's objects about 85 % are analyses, which have no client, analyst or pick key of their own, and most
/// analyses are on no worksheet; samples have no sample or service. Each such object still had an entry in every
/// catalog index, written with the object and again whenever an update moved it: on PostgreSQL a bulk insert of a
/// 20,000-sample lab's 150,000 objects spent 6.6 s in the table's 13 indexes against 0.8 s with its primary key
/// alone, and 5.2 s with four of them partial (`psql`, `INSERT ... SELECT` of the same rows). Every query that reads
/// these indexes compares the column (`=`, `IN`, `= ANY`, or `sort_key IS NOT NULL` for the pick), which implies
/// the index's condition on both databases (SQLite's partial-index rule; PostgreSQL's predicate proof from a
/// strict operator), so each plan is unchanged (``QueryPlanTests``, ``LabReadPlanTests``).
///
/// Same SQL on SQLite and PostgreSQL, in one transaction; `revert` makes the indexes whole again.
public struct PartialCatalogIndexes: AsyncMigration {
    public init() {}

    public var name: String { "limsqueue-0013-partial-catalog-indexes" }

    /// Each index made partial: its name, its columns, and the column whose NULL leaves an object out.
    static let indexes: [(name: String, columns: String, column: String)] = [
        ("lims_catalog_client", "client_uid, portal_type, created", "client_uid"),
        ("lims_catalog_sample", "sample_uid, portal_type, review_state", "sample_uid"),
        ("lims_catalog_worksheet", "worksheet_uid", "worksheet_uid"),
        ("lims_catalog_service", "service_uid, review_state", "service_uid"),
        ("lims_catalog_lookup", "portal_type, lookup_key", "lookup_key"),
        ("lims_catalog_pick", "portal_type, sort_key", "sort_key"),
    ]

    public func prepare(on database: any Database) async throws {
        try await database.transaction { database in
            let sql = try database.sqlDatabase()
            for index in Self.indexes {
                try await sql.raw("DROP INDEX IF EXISTS \(unsafeRaw: index.name)").run()
                try await sql.raw("""
                    CREATE INDEX \(unsafeRaw: index.name) ON lims_objects (\(unsafeRaw: index.columns)) \
                    WHERE \(unsafeRaw: index.column) IS NOT NULL
                    """).run()
            }
        }
    }

    public func revert(on database: any Database) async throws {
        try await database.transaction { database in
            let sql = try database.sqlDatabase()
            for index in Self.indexes {
                try await sql.raw("DROP INDEX IF EXISTS \(unsafeRaw: index.name)").run()
                try await sql.raw("CREATE INDEX \(unsafeRaw: index.name) ON lims_objects (\(unsafeRaw: index.columns))").run()
            }
        }
    }
}

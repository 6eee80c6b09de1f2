import LIMSCore
import SQLKit

/// The ``LIMSCore/SecurityTree`` of the stored lab: one indexed query per step (`lims_catalog_children`:
/// parent, created, id, uid).
struct SQLSecurityTree: SecurityTree {
    let sql: any SQLDatabase

    func firstChild(of uid: String) async throws -> String? {
        try await sql.raw("""
            SELECT uid FROM lims_objects WHERE parent_uid = \(bind: uid) ORDER BY created, object_id, uid LIMIT 1
            """).first()?.decode(column: "uid", as: String.self)
    }

    func nextSibling(of uid: String, under parent: String) async throws -> String? {
        try await sql.raw("""
            SELECT o.uid FROM lims_objects o, lims_objects x
            WHERE x.uid = \(bind: uid) AND o.parent_uid = \(bind: parent)
              AND (o.created > x.created OR (o.created = x.created AND (o.object_id > x.object_id
                   OR (o.object_id = x.object_id AND o.uid > x.uid))))
            ORDER BY o.created, o.object_id, o.uid LIMIT 1
            """).first()?.decode(column: "uid", as: String.self)
    }

    func parent(of uid: String) async throws -> String? {
        try await sql.raw("SELECT parent_uid FROM lims_objects WHERE uid = \(bind: uid)").first()?
            .decode(column: "parent_uid", as: String?.self)
    }

    func exists(_ uid: String) async throws -> Bool {
        try await sql.raw("SELECT uid FROM lims_objects WHERE uid = \(bind: uid)").first() != nil
    }
}

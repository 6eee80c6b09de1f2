import FluentKit
import LIMSCore
import SQLKit

/// Schema: what every write of a LIMS object paid for and no read needed.
///
/// - The role names in `lims_security`. An object's `allowedRolesAndUsers` (reference 3.6) is the role map's View
///   roles, the same on every object, plus `user:<id>` for the users with a local role on its client. Only the
///   `user:` tokens differ between objects, so only they are stored (``SQLLabStore/writeSecurity(of:in:on:)``);
///   listings apply the role part from the role map. It was 7 of the 8-9 rows of every object, each written into
///   the table and its token index, deleted and written again on every change of the object.
/// - `lims_objects_type (portal_type, review_state)`, a prefix of `lims_catalog_state_created
///   (portal_type, review_state, created)`, and `lims_objects_parent (parent_uid)`, a prefix of
///   `lims_catalog_children (parent_uid, created, object_id, uid)`: every query they served is served by the
///   longer index.
///
/// Same SQL on SQLite and PostgreSQL; `revert` puts the role rows and the two indexes back.
public struct LeanLabIndexes: AsyncMigration {
    public init() {}

    public var name: String { "limsqueue-0006-lean-lab-indexes" }

    public func prepare(on database: any Database) async throws {
        let sql = try database.sqlDatabase()
        try await sql.raw("DELETE FROM lims_security WHERE SUBSTR(token, 1, 5) <> 'user:'").run()
        try await sql.raw("DROP INDEX IF EXISTS lims_objects_type").run()
        try await sql.raw("DROP INDEX IF EXISTS lims_objects_parent").run()
    }

    public func revert(on database: any Database) async throws {
        let sql = try database.sqlDatabase()
        try await sql.raw("CREATE INDEX lims_objects_type ON lims_objects (portal_type, review_state)").run()
        try await sql.raw("CREATE INDEX lims_objects_parent ON lims_objects (parent_uid)").run()
        for role in RolePermissionMap.senaiteDefault.roles(for: .view).sorted() {
            try await sql.raw("INSERT INTO lims_security (uid, token) SELECT uid, \(bind: role.rawValue) FROM lims_objects").run()
        }
    }
}

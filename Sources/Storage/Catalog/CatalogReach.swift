import LIMSCore
import SQLKit

/// Where the objects a user may see can be, so that a listing reads only that part of the catalog.
///
/// The `allowedRolesAndUsers` index of an object (``LIMSCore/LabState/allowedRolesAndUsers(of:)``, reference 3.6)
/// holds the roles with View site-wide, the same on every object, and `user:<id>` for the users holding a local
/// role with View on the object's client; a `user:` token therefore only ever sits on a client and the objects in
/// its subtree. So a user holding none of the View roles (a client contact: `Client`, with `Owner` local on its
/// client) can only see objects inside the clients that carry its `user:` token.
///
/// A listing for such a user walks those clients' part of the catalog instead of the whole lab in sort order,
/// probing each object's tokens: on a 20,000-sample lab a client contact's first page of analyses sorted by path
/// read every other client's analyses first (0.3 s warm, 6 s cold). The `allowedRolesAndUsers` test stays in the
/// query as the authority; the reach only narrows where it looks.
enum CatalogReach: Sendable, Equatable {
    /// The user's roles are stored tokens (lab staff): objects anywhere may be visible.
    case everywhere
    /// Only objects in the subtrees of these clients can be visible: (client uid, client path), sorted by path.
    /// Empty: the user sees nothing.
    case clients([ClientSubtree])

    /// A client and its path, the root of a subtree of the lab's tree.
    struct ClientSubtree: Sendable, Equatable {
        var uid: String
        var path: String
    }

    /// The reach of `user`, given the role map's View roles: no read for lab staff, else one probe per client of
    /// the client list (whose size does not grow with samples or analyses).
    /// - Throws: storage errors.
    static func of(_ user: User, viewRoles: Set<Role>, on sql: any SQLDatabase) async throws -> CatalogReach {
        if user.isLabManager || !user.roles.isDisjoint(with: viewRoles) { return .everywhere }
        let rows = try await sql.raw("""
            SELECT o.uid, o.path FROM lims_objects o
            WHERE o.portal_type = \(bind: PortalType.client.rawValue) AND EXISTS (
                SELECT 1 FROM lims_security s WHERE s.uid = o.uid AND s.token = \(bind: "user:\(user.userid)"))
            ORDER BY o.path
            """).all()
        return .clients(try rows.map {
            ClientSubtree(uid: try $0.decode(column: "uid", as: String.self), path: try $0.decode(column: "path", as: String.self))
        })
    }

    /// The filter that keeps a listing of `type` sorted on `sort` inside the reach, or nil for ``everywhere``.
    ///
    /// - Clients: their own paths.
    /// - Types with a `client_uid` catalog column (samples, contacts) not sorted by path: that column, so that
    ///   `lims_catalog_client (client_uid, portal_type, created)` serves them.
    /// - Everything else: per client, the range of paths of its subtree, `[P + "/", P + "0")` ("/" is 0x2F and "0"
    ///   0x30, so exactly the paths that start with `P/`, byte-wise: SQLite's BINARY collation, PostgreSQL's
    ///   `path` is COLLATE "C"). One client gives one range of `lims_catalog_type_path (portal_type, path)`, read
    ///   in path order. No other test on the path: PostgreSQL took a residual `SUBSTR` test as selective and
    ///   sorted a client's 29,000 samples for a page of 20 (327 ms at 200,000 samples, against 1 ms without it).
    func filter(for type: PortalType, sortedOn sort: CatalogQuery.SortField) -> SQLQueryString? {
        guard case .clients(let subtrees) = self else { return nil }
        guard !subtrees.isEmpty else { return "1 = 0" }
        if type == .client {
            return "o.path IN (\(SQLList(subtrees.map { SQLBind($0.path) })))"
        }
        if type == .sample || type == .contact, sort != .path {
            return "o.client_uid IN (\(SQLList(subtrees.map { SQLBind($0.uid) })))"
        }
        var filter: SQLQueryString = "("
        for (index, subtree) in subtrees.enumerated() {
            filter = filter + (index == 0 ? "" : " OR ")
                + "(o.path >= \(bind: subtree.path + "/") AND o.path < \(bind: subtree.path + "0"))"
        }
        return filter + ")"
    }
}

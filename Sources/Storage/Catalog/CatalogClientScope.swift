import LIMSCore
import SQLKit

/// The clients a listing of samples or contacts without search is confined to (its client filter `getClientUID`,
/// within the user's ``CatalogReach``), for the listings sorted by path or id, which no index on the client serves in
/// order: `lims_catalog_client (client_uid, portal_type, created)` holds a client's samples in creation order only.
///
/// Filtered by a small client, SQLite walked the whole type's path or id index in order, testing each sample's
/// client, to find its 3 samples: 470-510 ms at 200,000 samples (a tryout). With the scope:
/// - sorted by path, the listing reads the clients' subtrees' ranges of `lims_catalog_type_path (portal_type, path)`
///   in path order (a sample's or a contact's path is inside its client's, as ``CatalogReach`` uses), one stream per
///   client (the reach's `OR` of ranges for a contact of two clients walked the type's whole path index too);
/// - sorted by id, clients holding at most ``CatalogSearch/smallClientSamples`` objects of the type together are
///   read by client and sorted; larger ones keep the id index walk (then at least 1 in 40 of a 200,000-sample lab
///   matches).
/// The client test stays in the query as the authority; the scope only narrows where it looks.
struct CatalogClientScope: Sendable, Equatable {
    /// The clients, sorted by path.
    var clients: [CatalogReach.ClientSubtree]
    /// The clients hold at most ``CatalogSearch/smallClientSamples`` objects of the listed type together (counted for
    /// a listing sorted by id only).
    var isSmall = false

    /// The scope of `query` for a user of `reach`, or nil when none narrows it: not a listing of samples or contacts
    /// sorted by path or id, a search (``SQLLabStore/catalogSelection(_:search:user:viewRoles:reach:streamLimit:scope:)``
    /// reads its matches), no client filter for a user who can see every client, more than
    /// ``CatalogSearch/maxClientStreams`` clients, or a filter naming an uid that is no client. One or two small reads:
    /// the filter's clients by uid (sorted by path), and for a sort by id their objects counted up to the bound.
    /// - Throws: storage errors.
    static func of(_ query: CatalogQuery, searched: Bool, reach: CatalogReach, on sql: any SQLDatabase) async throws -> CatalogClientScope? {
        guard query.portalType == .sample || query.portalType == .contact, query.sortOn != .created, !searched else { return nil }
        var clients: [CatalogReach.ClientSubtree]
        if let filter = query.clientUIDs {
            guard !filter.isEmpty, filter.count <= CatalogSearch.maxClientStreams else { return nil }
            let rows = try await sql.raw("""
                SELECT o.uid, o.path FROM lims_objects o
                WHERE o.uid IN (\(SQLList(filter.sorted().map { SQLBind($0) }))) AND o.portal_type = \(bind: PortalType.client.rawValue)
                """).all()
            clients = try rows.map {
                CatalogReach.ClientSubtree(uid: try $0.decode(column: "uid", as: String.self), path: try $0.decode(column: "path", as: String.self))
            }
            // An uid that is no client: no narrowing (the client test answers it).
            guard clients.count == filter.count else { return nil }
            if case .clients(let reachable) = reach {
                let uids = Set(reachable.map(\.uid))
                clients = clients.filter { uids.contains($0.uid) }
            }
        } else if case .clients(let reachable) = reach, query.sortOn == .id || reachable.count > 1,
                  reachable.count <= CatalogSearch.maxClientStreams {
            // (Sorted by path, the reach's own filter reads one client's range.)
            clients = reachable
        } else {
            return nil
        }
        clients.sort { ($0.path, $0.uid) < ($1.path, $1.uid) }
        var scope = CatalogClientScope(clients: clients)
        if query.sortOn == .id, !clients.isEmpty {
            let count = try await sql.raw("""
                SELECT COUNT(*) AS n FROM (SELECT 1 AS one FROM lims_objects o
                    WHERE o.client_uid IN (\(SQLList(clients.map { SQLBind($0.uid) }))) AND o.portal_type = \(bind: query.portalType.rawValue)
                    LIMIT \(bind: CatalogSearch.smallClientSamples + 1)) capped
                """).first()?.decode(column: "n", as: Int.self) ?? 0
            scope.isSmall = count <= CatalogSearch.smallClientSamples
        }
        return scope
    }

    /// The `FROM` source, `WHERE` filter and `ORDER BY` of a listing of `query` (objects aliased `o`) given its
    /// `filter` and `order`: sorted by path, one client's subtree range read in path order, or for several clients a
    /// union of such ranges, each read in order and at most `streamLimit` long (SQLite walked the type's whole path
    /// index for an `OR` of ranges); sorted by id with small clients, their objects read by client (`c`, CROSS JOIN:
    /// SQLite keeps the order written) and sorted; else as given.
    func selection(_ query: CatalogQuery, filter: SQLQueryString, order: String, streamLimit: Int)
        -> (source: SQLQueryString, filter: SQLQueryString, order: String)
    {
        guard !clients.isEmpty else { return ("lims_objects o", "1 = 0", order) }
        func range(_ client: CatalogReach.ClientSubtree) -> SQLQueryString {
            "o.path >= \(bind: client.path + "/") AND o.path < \(bind: client.path + "0")"
        }
        switch query.sortOn {
        case .path where clients.count == 1:
            return ("lims_objects o", filter + " AND " + range(clients[0]), order)
        case .path:
            let direction = query.descending ? "DESC" : "ASC"
            let streams: [SQLQueryString] = clients.map { client in
                "SELECT o.uid AS uid, o.path AS path, o.path AS sort_path FROM lims_objects o WHERE " + filter + " AND " + range(client)
                    + " ORDER BY o.path \(unsafeRaw: direction) LIMIT \(bind: streamLimit)"
            }
            return (SQLLabStore.union(streams, key: "path"), "1 = 1", SQLLabStore.unionOrder(key: "path", direction: direction))
        case .id where isSmall:
            return ("lims_objects c CROSS JOIN lims_objects o", """
                c.client_uid IN (\(SQLList(clients.map { SQLBind($0.uid) }))) AND c.portal_type = \(bind: query.portalType.rawValue) \
                AND o.uid = c.uid AND 
                """ + filter, order)
        default:
            return ("lims_objects o", filter, order)
        }
    }
}

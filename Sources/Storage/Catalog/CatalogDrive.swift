import LIMSCore
import SQLKit

/// How a listing without search sorted by path or id is read, when a filter of it is selective: its clients (the
/// client filter `getClientUID` within the user's ``CatalogReach``), review states or services.
///
/// No index serves such a filter in path or id order, so SQLite walked the type's whole path or id index, testing
/// each object: at 200,000 samples a client of 3 samples took 470-510 ms, the samples to be verified (none) 458 ms,
/// and the analyses to be verified (none of 1.1 million) 1.0 s by path and 2.0 s by id (a tryout and this stop's
/// measurements). Each such filter is counted in its own index, up to ``smallListing`` + 1 objects (a few ms at
/// most), and:
/// - when one holds at most ``smallListing`` objects (the smallest of them), the listing reads them by that index
///   (`c`, CROSS JOIN: SQLite keeps the order written) and sorts them;
/// - else, sorted by path with clients, it reads the clients' subtrees' ranges of `lims_catalog_type_path
///   (portal_type, path)` in path order (an object's path is inside its client's, as ``CatalogReach`` uses), one
///   stream per client (an `OR` of ranges walked the type's whole path index too: a contact of two small clients
///   listing analyses by path, 160 ms);
/// - else it walks the sort index as before (then each filter holds more than 10,000 objects: 1 in 20 samples or
///   1 in 110 analyses of a 200,000-sample lab, or more).
/// The listing's count is read through the smallest filter's index, unordered (at most the count's bound of
/// matches, where the page's order may walk far between them). The filters stay in the query as the authority; the
/// drive only chooses where to look.
///
/// SQLite only: PostgreSQL plans these listings from its statistics (on a 20,000-sample lab the same listings took
/// 2.5-38 ms without a drive; with it, a service's analyses took 34.5 ms against 16.1, its extra counts and join
/// costing more than they saved).
struct CatalogDrive: Sendable, Equatable {
    /// A selective filter an index serves, with the objects of the listed type it holds (counted up to
    /// ``smallListing`` + 1).
    struct Driver: Sendable, Equatable {
        /// The filter and the values it takes, each read through its own index.
        enum Filter: Sendable, Equatable {
            /// `client_uid` among these: `lims_catalog_client (client_uid, portal_type, created)`.
            case clients([String])
            /// `review_state` among these: `lims_catalog_state_created (portal_type, review_state, created)`.
            case states([String])
            /// `service_uid` among these: `lims_catalog_service (service_uid, review_state)`. Counted over every type
            /// holding a service (analyses, duplicates, reference analyses): an upper bound of the listed type's,
            /// read from the index alone (with the type tested, 20,000 objects took 75 ms against 11). No test of the
            /// type on `c` either: with one, SQLite read two services' objects through the type's creation index,
            /// every analysis of the lab (a tryout: 869 ms for two services with none).
            case services([String])
        }

        var filter: Filter
        /// Objects the filter holds, counted up to the drive's bound + 1.
        var count: Int

        /// The driver's condition on `c`, objects of `type`.
        func condition(_ type: PortalType) -> SQLQueryString {
            let typed: SQLQueryString = "c.portal_type = \(bind: type.rawValue)"
            switch filter {
            case .clients(let uids): return "c.client_uid IN (\(SQLList(uids.map { SQLBind($0) }))) AND " + typed
            case .states(let states): return typed + " AND c.review_state IN (\(SQLList(states.map { SQLBind($0) })))"
            case .services(let uids): return "c.service_uid IN (\(SQLList(uids.map { SQLBind($0) })))"
            }
        }
    }

    /// The clients whose path ranges a listing sorted by path may read, sorted by path: a samples or contacts list's
    /// client filter (when every uid of it is a client), or a client contact's clients (nil: none, or more than
    /// ``CatalogSearch/maxClientStreams``).
    var clients: [CatalogReach.ClientSubtree]?
    /// The client filter within the reach left nothing: the listing is empty.
    var isEmpty = false
    /// The selective filters, smallest first.
    var drivers: [Driver] = []
    /// A filter holding at most this many objects drives the page (``smallListing``; tests lower it).
    var bound = CatalogDrive.smallListing
    /// The smallest filter holds at least 1 in ``denseShare`` objects of the type: the page walks the sort index
    /// (the count still reads through the filter).
    var isDense = false

    /// A filter holding at most this many objects drives a listing sorted by path or id: its objects are read by
    /// it and sorted (10,000: about 30 ms to read and sort on SQLite, 3 µs an object; at 5,000, analyses rejected
    /// 5,604 times, all in one client, walked the path index for 493 ms, a tryout).
    static let smallListing = 10_000

    /// The drive of `query` for a user of `reach`, or nil on PostgreSQL, for a search, a listing sorted by creation,
    /// or one without a client, state or service filter (nor a reach of a few clients). One small read per filter (the
    /// filter's clients' paths; each filter counted up to the bound in its index).
    /// - Parameters:
    ///   - bound: a filter holding at most this many objects drives the page. Default: ``smallListing``.
    ///   - denseFrom: a filter holding more objects is checked for density. Default: ``denseCheckFrom``.
    /// - Throws: storage errors.
    static func of(_ query: CatalogQuery, searched: Bool, reach: CatalogReach, bound: Int = smallListing,
                   denseFrom: Int = denseCheckFrom, on sql: any SQLDatabase) async throws -> CatalogDrive? {
        guard query.sortOn != .created, !searched, !SQLQueueStore.isPostgres(sql) else { return nil }
        var drive = CatalogDrive(bound: bound)
        if query.portalType == .sample || query.portalType == .contact {
            // By `client_uid`: the client filter within the reach (an uid that is no client matches nothing), or the
            // reach's clients.
            var uids: [String]?
            if let filter = query.clientUIDs, !filter.isEmpty {
                uids = filter.sorted()
                if case .clients(let reachable) = reach {
                    let known = Set(reachable.map(\.uid))
                    uids = uids?.filter { known.contains($0) }
                }
            } else if case .clients(let reachable) = reach {
                uids = reachable.map(\.uid)
            }
            if let uids, uids.isEmpty { drive.isEmpty = true; return drive }
            if let uids, uids.count <= CatalogSearch.maxClientStreams {
                drive.drivers.append(.init(filter: .clients(uids), count: 0))
                if query.sortOn == .path { drive.clients = try await subtrees(of: uids, reach: reach, on: sql) }
            }
        } else if query.sortOn == .path, query.portalType != .client, case .clients(let reachable) = reach, reachable.count > 1,
                  reachable.count <= CatalogSearch.maxClientStreams {
            // Objects inside the clients (a client is at its path, not in its range). One client: the reach's own
            // filter is its range.
            drive.clients = reachable
        }
        if let states = query.reviewStates, !states.isEmpty, states.count <= CatalogSearch.maxClientStreams {
            drive.drivers.append(.init(filter: .states(states.sorted()), count: 0))
        }
        if let services = query.serviceUIDs, !services.isEmpty, services.count <= CatalogSearch.maxClientStreams {
            drive.drivers.append(.init(filter: .services(services.sorted()), count: 0))
        }
        guard drive.clients != nil || !drive.drivers.isEmpty else { return nil }
        for index in drive.drivers.indices {
            let condition = drive.drivers[index].condition(query.portalType)
            drive.drivers[index].count = try await sql.raw("""
                SELECT COUNT(*) AS n FROM (SELECT 1 AS one FROM lims_objects c WHERE \(condition) LIMIT \(bind: bound + 1)) capped
                """).first()?.decode(column: "n", as: Int.self) ?? 0
        }
        drive.drivers.sort { $0.count < $1.count }
        // A filter holding most of the type's objects is not selective: the sort index's walk meets a match in every
        // few entries, where reading the filter reads all of them (5,045 of 5,050 samples received: a deep page by
        // id read and sorted all 5,045, a new user's tryout). Counted only when the read would cost (over 1,000).
        if let smallest = drive.drivers.first, smallest.count > denseFrom, smallest.count <= bound {
            let typeCount = try await sql.raw("""
                SELECT COUNT(*) AS n FROM (SELECT 1 AS one FROM lims_objects c WHERE c.portal_type = \(bind: query.portalType.rawValue)
                    LIMIT \(bind: smallest.count * denseShare + 1)) capped
                """).first()?.decode(column: "n", as: Int.self) ?? 0
            drive.isDense = typeCount <= smallest.count * denseShare
        }
        return drive
    }

    /// A filter holding more than this many objects is checked for density before it drives a page: 1,000 (about
    /// 3 ms to read and sort).
    static let denseCheckFrom = 1_000
    /// A filter holding at least 1 in this many objects of the type is dense: 4 (the walk then reads at most 4
    /// entries a match on average, and at most 3 times the filter's objects before its first).
    static let denseShare = 4

    /// The subtrees of the clients `uids` (the client filter within the reach, or the reach's clients), sorted by
    /// path, whose ranges a listing of samples or contacts sorted by path reads: a client contact's from its reach
    /// (no read), lab staff's read by uid; nil when an uid is no client (the client test answers it).
    static func subtrees(of uids: [String], reach: CatalogReach, on sql: any SQLDatabase) async throws -> [CatalogReach.ClientSubtree]? {
        if case .clients(let reachable) = reach {
            let wanted = Set(uids)
            return reachable.filter { wanted.contains($0.uid) }
        }
        let rows = try await sql.raw("""
            SELECT o.uid, o.path FROM lims_objects o
            WHERE o.uid IN (\(SQLList(uids.map { SQLBind($0) }))) AND o.portal_type = \(bind: PortalType.client.rawValue)
            """).all()
        let clients = try rows.map {
            CatalogReach.ClientSubtree(uid: try $0.decode(column: "uid", as: String.self), path: try $0.decode(column: "path", as: String.self))
        }
        guard clients.count == uids.count else { return nil }
        return clients.sorted { ($0.path, $0.uid) < ($1.path, $1.uid) }
    }

    /// The smallest filter when it holds at most ``bound`` objects and is not dense (``isDense``).
    var small: Driver? { drivers.first.flatMap { $0.count <= bound && !isDense ? $0 : nil } }

    /// The `FROM` source, `WHERE` filter and `ORDER BY` of a page of `query` (objects aliased `o`) given its `filter`
    /// and `order`: read by the smallest filter when small; sorted by path with clients, their subtree ranges (for
    /// several clients a union of ranges, each read in order and at most `streamLimit` long); else as given.
    func selection(_ query: CatalogQuery, filter: SQLQueryString, order: String, streamLimit: Int)
        -> (source: SQLQueryString, filter: SQLQueryString, order: String)
    {
        if isEmpty || clients?.isEmpty == true { return ("lims_objects o", "1 = 0", order) }
        // Sorted by path, a client's range is read in order: it drives unless a smaller filter does.
        let byRange = query.sortOn == .path && clients != nil && small.map { driver in
            if case .clients = driver.filter { true } else { false }
        } ?? true
        if !byRange, let small {
            return ("lims_objects c CROSS JOIN lims_objects o", small.condition(query.portalType) + " AND o.uid = c.uid AND " + filter, order)
        }
        guard query.sortOn == .path, let clients else { return ("lims_objects o", filter, order) }
        func range(_ client: CatalogReach.ClientSubtree) -> SQLQueryString {
            "o.path >= \(bind: client.path + "/") AND o.path < \(bind: client.path + "0")"
        }
        if clients.count == 1 { return ("lims_objects o", filter + " AND " + range(clients[0]), order) }
        let direction = query.descending ? "DESC" : "ASC"
        let streams: [SQLQueryString] = clients.map { client in
            "SELECT o.uid AS uid, o.path AS path, o.path AS sort_path FROM lims_objects o WHERE " + filter + " AND " + range(client)
                + " ORDER BY o.path \(unsafeRaw: direction) LIMIT \(bind: streamLimit)"
        }
        return (SQLLabStore.union(streams, key: "path"), "1 = 1", SQLLabStore.unionOrder(key: "path", direction: direction))
    }

    /// The `FROM` source and `WHERE` filter of the listing's count given its `filter`: read by the smallest filter's
    /// index in its own order (nil: no filter to read by, or none the user can reach).
    func counting(_ query: CatalogQuery, filter: SQLQueryString) -> (source: SQLQueryString, filter: SQLQueryString)? {
        guard let driver = drivers.first, !isEmpty, clients?.isEmpty != true else { return nil }
        return ("lims_objects c CROSS JOIN lims_objects o", driver.condition(query.portalType) + " AND o.uid = c.uid AND " + filter)
    }
}

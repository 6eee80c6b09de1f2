import LIMSCore
import QueueCore
import SQLKit

/// ``SQLLabStore`` as the ``LabRepository`` the web layer receives.
extension SQLLabStore: LabRepository {
    /// Retries of a unit of work through the repository: 8, with jittered backoff (ZODB, behind SENAITE, retries
    /// 3 times at once; concurrent users of one worksheet need more room, reference 5.6).
    public static let repositoryRetries = 8

    /// Runs a unit of work with up to ``repositoryRetries`` jittered retries; a conflict after the last retry is
    /// reported as ``LabRepositoryError`` `conflict`.
    ///
    /// Disfavoured so that calls on the concrete store keep resolving to ``perform(maxRetries:_:afterSave:)``
    /// (which throws ``ConflictError``); calls through `any LabRepository` land here.
    /// - Throws: `body`'s errors, ``LabRepositoryError``, storage errors.
    @_disfavoredOverload
    public func perform<T: Sendable>(_ body: @Sendable (inout LabState, any LabReader) async throws -> T) async throws -> T {
        do {
            return try await perform(maxRetries: Self.repositoryRetries, body, afterSave: nil)
        } catch let conflict as ConflictError {
            throw LabRepositoryError(.conflict, uids: conflict.uids)
        }
    }

    @_disfavoredOverload
    public func perform<T: Sendable>(enqueuing body: @Sendable (inout LabState, any LabReader) async throws -> (T, [QueueTask])) async throws -> T {
        do {
            return try await perform(maxRetries: Self.repositoryRetries, enqueuing: body)
        } catch let conflict as ConflictError {
            throw LabRepositoryError(.conflict, uids: conflict.uids)
        }
    }

    public var securityTree: any SecurityTree {
        get throws { SQLSecurityTree(sql: try sql) }
    }

    /// Counted in the catalog's `lims_catalog_sample` index (an analysis's `sample_uid` is its parent sample), which
    /// holds both columns the statement names: a seek per sample, no row read. The samples list loaded and decoded
    /// each listed sample's analyses to show their number (260 objects for a page of 50 on the demo lab; a tryout
    /// timed the page at 2.5 times the API's page of 50).
    public func analysisCounts(ofSamples sampleUIDs: [String]) async throws -> [String: Int] {
        var counts: [String: Int] = [:]
        let sql = try self.sql
        for row in try await SQLLabReader.rows(in: Array(Set(sampleUIDs)), { Self.analysisCountStatement($0) }, on: sql) {
            counts[try row.decode(column: "sample_uid", as: String.self)] = try row.decode(column: "n", as: Int.self)
        }
        return counts
    }

    /// The statement of ``analysisCounts(ofSamples:)`` for the samples of `set`. Written with `parent_uid`, SQLite
    /// (which plans without statistics) walked the type index over every analysis of the lab instead: the web
    /// samples list took 28 ms at 2,000 samples and 100 ms at 20,000 (`bench scale`; ``QueryPlanTests``).
    static func analysisCountStatement(_ set: SQLUIDSet) -> SQLQueryString {
        """
        SELECT sample_uid, COUNT(*) AS n FROM lims_objects
        WHERE sample_uid \(set) AND portal_type = \(bind: PortalType.analysis.rawValue) GROUP BY sample_uid
        """
    }

    public func user(named userid: String) async throws -> User? {
        try await setup().users.loaded.first { $0.userid == userid }
    }

    /// The page of `query` visible to `user`, with its total: exact up to `offset + limit + countWindow` matches,
    /// a lower bound past that (``LIMSCore/CatalogPage/totalIsExact`` false). Two statements at most, each reading
    /// at most `offset + limit + countWindow + 1` index entries of the part of the catalog the user can reach
    /// (``CatalogReach``: a client contact's clients, everything for lab staff), after at most two small reads
    /// that find that reach.
    /// - Throws: storage errors.
    public func catalog(_ query: CatalogQuery, visibleTo user: User) async throws -> CatalogPage {
        try await catalog(query, visibleTo: user, smallListing: CatalogDrive.smallListing)
    }

    /// ``catalog(_:visibleTo:)`` with the bound under which a selective filter drives the page (``CatalogDrive``) and
    /// the count cap of a page past the end (``pastEndCountCap``): tests lower them to read a large lab's way on a
    /// small one.
    /// - Throws: storage errors.
    func catalog(_ query: CatalogQuery, visibleTo user: User, smallListing: Int, pastEndCount: Int = pastEndCountCap) async throws
        -> CatalogPage
    {
        let sql = try self.sql
        let viewRoles = try await setup().rolePermissions.roles(for: .view)
        let reach = try await CatalogReach.of(user, viewRoles: viewRoles, on: sql)
        if reach == .clients([]) { return CatalogPage(uids: [], total: 0) }
        let words = SearchWords.portalTypes.contains(query.portalType) ? SearchWords.query(query.text ?? "") : []
        var search = try await CatalogSearch.of(words, portalType: query.portalType, reach: reach, clientUIDs: query.clientUIDs, on: sql)
        if words.count > 1 { (search.words, search.tokenCounts) = try await Self.rarestFirst(search, of: query.portalType, on: sql) }
        if query.sortOn == .id, let first = search.words.first {
            search.smallClients = try await Self.smallClients(search.clients(of: first), of: query.portalType, on: sql)
        }
        let drive = try await CatalogDrive.of(query, searched: !search.words.isEmpty, reach: reach, bound: smallListing, on: sql)
        let (pageEnd, pageOverflow) = query.offset.addingReportingOverflow(query.limit)
        let (with, source, filter, order) = Self.catalogSelection(query, search: search, user: user, viewRoles: viewRoles, reach: reach,
                                                                  streamLimit: pageOverflow ? Int.max - 1 : pageEnd, drive: drive)
        let rows = try await sql.raw("""
            \(with)SELECT o.uid FROM \(source) WHERE \(filter)
            ORDER BY \(unsafeRaw: order) LIMIT \(bind: query.limit) OFFSET \(bind: query.offset)
            """).all()
        let uids = try rows.map { try $0.decode(column: "uid", as: String.self) }
        if uids.count < query.limit, query.offset == 0 || !uids.isEmpty {
            // The last page: its total needs no count.
            return CatalogPage(uids: uids, total: query.offset + uids.count)
        }
        // A capped count: at most `offset + limit + countWindow + 1` index entries, whatever the lab's size (a
        // COUNT(*) of every match walks them all: every received sample of a 200,000-sample lab). It reads them in
        // the page's order, so through the index the page itself used: unordered, PostgreSQL picked whichever
        // index looked cheapest (at 200,000 samples one whose matches all sit at its end: 5,158 buffers, 14.8 ms
        // for 1,301 entries, against 0.5-0.7 ms in the page's index; EXPLAIN ANALYZE).
        // A search of several words checks each object it counts against every word: its count stops sooner.
        // So does a search whose first word names clients (a stream per client, each read up to the count).
        let streams = words.count > 1 || !(search.words.first.map(search.clients(of:))?.isEmpty ?? true)
        let window = streams ? min(query.countWindow, Self.multiWordCountWindow) : query.countWindow
        let (past, overflow) = query.limit.addingReportingOverflow(window)
        let (cap, overflowed) = query.offset.addingReportingOverflow(past)
        var bound = overflow || overflowed ? Int.max - 1 : min(cap, Int.max - 1)
        // A page past the end counts at most ``pastEndCountCap`` matches: its total is then a lower bound, where an
        // exact one read every match (`b_start` near 2^63 on 1.1 million analyses: 3.9 s, a tryout).
        if uids.isEmpty { bound = min(bound, pastEndCount) }
        // A search is counted in the search index's order whatever the page's (the total does not depend on it): at
        // most `bound + 1` index entries of its rarest word, where the page's plan may read every match.
        var counting = query
        if !words.isEmpty { counting.sortOn = .created }
        var count = Self.catalogSelection(counting, search: search, user: user, viewRoles: viewRoles, reach: reach, streamLimit: bound + 1,
                                          drive: drive)
        // A listing with a selective filter is counted through that filter's index, in its order (``CatalogDrive``).
        var ordering: SQLQueryString = " ORDER BY \(unsafeRaw: count.order)"
        if let drive, let driven = drive.counting(query, filter: Self.driveFilter(query, user: user, viewRoles: viewRoles, reach: reach)) {
            (count.source, count.filter, ordering) = (driven.source, driven.filter, "")
        }
        let counted = try await sql.raw("""
            \(count.with)SELECT COUNT(*) AS n FROM (
                SELECT 1 AS one FROM \(count.source) WHERE \(count.filter)\(ordering) LIMIT \(bind: bound + 1)) capped
            """).first()?.decode(column: "n", as: Int.self) ?? 0
        return counted > bound ? CatalogPage(uids: uids, total: bound, totalIsExact: false) : CatalogPage(uids: uids, total: counted)
    }

    /// The words of a search of several words, the one with the fewest matches first (index entries, plus the samples
    /// of the clients the word names; each counted up to ``searchCountCap``; ties keep their order): the page is read
    /// by it and checks the others object by object. Read by the longest word, `h2o 00` walked every water sample from
    /// the newest to the oldest (the `00..` ids are the first 99) for a page: 100 ms at 200,000 samples.
    /// - Throws: storage errors.
    /// - Returns: the words, rarest first, and each word's index entries (capped at ``searchCountCap``; none after a
    ///   word that matches nothing).
    static func rarestFirst(_ search: CatalogSearch, of portalType: PortalType, on sql: any SQLDatabase) async throws
        -> (words: [String], tokenCounts: [String: Int])
    {
        let words = search.words
        var counted: [(word: String, count: Int)] = []
        var tokenCounts: [String: Int] = [:]
        for word in words {
            var count = try await sql.raw("""
                SELECT COUNT(*) AS n FROM (SELECT 1 AS one FROM lims_search s
                    WHERE s.portal_type = \(bind: portalType.rawValue) AND s.token = \(bind: word) LIMIT \(bind: searchCountCap)) capped
                """).first()?.decode(column: "n", as: Int.self) ?? 0
            tokenCounts[word] = count
            let clients = search.clients(of: word).map(\.uid)
            if !clients.isEmpty, count < searchCountCap {
                count += try await sql.raw("""
                    SELECT COUNT(*) AS n FROM (SELECT 1 AS one FROM lims_objects o
                        WHERE o.client_uid IN (\(SQLList(clients.map { SQLBind($0) }))) AND o.portal_type = \(bind: portalType.rawValue)
                        LIMIT \(bind: searchCountCap - count)) capped
                    """).first()?.decode(column: "n", as: Int.self) ?? 0
            }
            if count == 0 { return ([word] + words.filter { $0 != word }, tokenCounts) } // nothing matches; no more counting
            counted.append((word, count))
        }
        let sorted = counted.enumerated().sorted { ($0.element.count, $0.offset) < ($1.element.count, $1.offset) }.map(\.element)
        return (sorted.map(\.word), tokenCounts)
    }

    /// Of `clients` (a search's first word names them; at most ``CatalogSearch/maxClientStreams``), those holding at
    /// most ``CatalogSearch/smallClientSamples`` objects of `portalType` (each counted that far, by
    /// `lims_catalog_client`): a search sorted by id reads their samples by client and sorts them, where walking the
    /// type's ids for them read every sample of the lab (`q=ac7&sort_on=id`, 3 matches: 363 ms at 200,000 samples).
    /// - Throws: storage errors.
    static func smallClients(_ clients: [CatalogReach.ClientSubtree], of portalType: PortalType, on sql: any SQLDatabase) async throws
        -> Set<String>
    {
        guard clients.count <= CatalogSearch.maxClientStreams else { return [] }
        var small: Set<String> = []
        for client in clients {
            let count = try await sql.raw("""
                SELECT COUNT(*) AS n FROM (SELECT 1 AS one FROM lims_objects o
                    WHERE o.client_uid = \(bind: client.uid) AND o.portal_type = \(bind: portalType.rawValue)
                    LIMIT \(bind: CatalogSearch.smallClientSamples + 1)) capped
                """).first()?.decode(column: "n", as: Int.self) ?? 0
            if count <= CatalogSearch.smallClientSamples { small.insert(client.uid) }
        }
        return small
    }

    /// How many index entries a word of a search is counted up to when choosing the word a page is read by: 20,000
    /// (an index-only range read, 1-3 ms). With 2,000, `h2o` and `0` both reached it at 200,000 samples and the page was
    /// read by `h2o`, whose newest 6,700 samples (`H2O-1xxxx`) have no word starting `0`: 71-95 ms, against 19-35 ms
    /// read by `0`.
    static let searchCountCap = 20_000

    /// How many matches the total of a page past the last is counted up to: 100,000 (an exact total past it would
    /// read every match of the listing).
    static let pastEndCountCap = 100_000

    /// The count window (``LIMSCore/CatalogQuery/countWindow``) of a search of several words, at most: 200 matches
    /// past the page. Two common words whose matches seldom meet (`h2o 0` at 200,000 samples: the newest water
    /// samples are `H2O-1xxxx`) walk many objects per match; counting 1,000 past the page took 77-93 ms.
    static let multiWordCountWindow = 200

    /// What a catalog page reads (a `WITH` clause or nothing, the `FROM` source, `WHERE` filter and `ORDER BY`, the
    /// objects aliased `o`), for ``catalog(_:visibleTo:)``'s page and capped count. A search of a searched type
    /// (``SearchWords``) reads the search index (`s`) by its first word (the rarest); the further words are one or two
    /// subqueries (a seek each by the object's uid), a word that names clients (``CatalogSearch``) one more test on the
    /// object's client; the other filters apply to the objects it finds. Sorted on creation, it reads the index in the
    /// page's order (created, then uid; ties of one instant are rare, and a path tiebreak would sort every match).
    /// When the first word names clients, the page is the union of streams, each read in the page's order and filtered
    /// whole, at most `streamLimit` objects each: the word's index range, and each named client's samples
    /// (`lims_catalog_client`); the first `streamLimit` of the union are among them.
    /// Sorted on path or id, the matches are read first (a materialized set, driving the join) and sorted, so the page
    /// costs what the search matches: SQLite otherwise walked every sample in path order probing the index for each
    /// (0.53 s for a word no sample has, at 100,000 samples; a tryout), and checking objects in the page's order instead
    /// walks every object before the first match, which a word of the id puts far along the id order (`h2o` sorted by
    /// id at 200,000 samples: 362 ms, against 170 ms reading its 16,000 matches). A text without a letter or digit
    /// searches nothing, as an empty one.
    /// - Parameters:
    ///   - search: the search's words, the one the index is read by first, and the clients they name; no words for a
    ///     query without search or of a type the index does not hold.
    ///   - streamLimit: how many objects the page (its offset and limit) or the count reads at most, in the page's
    ///     order.
    ///   - drive: how a listing without search sorted by path or id is read when a filter is selective
    ///     (``CatalogDrive``); nil: none. Default: nil.
    static func catalogSelection(_ query: CatalogQuery, search: CatalogSearch, user: User, viewRoles: Set<Role>, reach: CatalogReach,
                                 streamLimit: Int, drive: CatalogDrive? = nil)
        -> (with: SQLQueryString, source: SQLQueryString, filter: SQLQueryString, order: String)
    {
        var filter = Self.driveFilter(query, user: user, viewRoles: viewRoles, reach: reach)
        let column: String
        switch query.sortOn {
        case .path: column = "path"
        case .id: column = "object_id"
        case .created: column = "created"
        }
        let direction = query.descending ? "DESC" : "ASC"
        let order = column == "path" ? "o.path \(direction)" : "o.\(column) \(direction), o.path \(direction)"
        guard let first = search.words.first else {
            guard let drive else { return ("", "lims_objects o", filter, order) }
            let (source, driven, drivenOrder) = drive.selection(query, filter: filter, order: order, streamLimit: streamLimit)
            return ("", source, driven, drivenOrder)
        }
        let base = filter
        let further = Array(search.words.dropFirst())
        let plain = further.filter { search.clients(of: $0).isEmpty }
        // The words that name clients: found in the object's own words or by its client.
        for word in further where !search.clients(of: word).isEmpty {
            filter = filter + """
                 AND ((SELECT 1 FROM lims_search w WHERE w.uid = o.uid AND w.token = \(bind: word) LIMIT 1) IS NOT NULL \
                OR o.client_uid IN (\(SQLList(search.clients(of: word).map { SQLBind($0.uid) }))))
                """
        }
        let type = SQLBind(query.portalType.rawValue)
        let tokenMatch: SQLQueryString = "s.portal_type = \(type) AND s.token = \(bind: first)" + Self.wordsMatch(plain, uid: "s.uid")
        let named = search.clients(of: first)
        if named.isEmpty, query.sortOn != .created {
            // CROSS JOIN: SQLite keeps the tables in the order written (the matches drive); PostgreSQL plans it as a join.
            return ("WITH m AS MATERIALIZED (SELECT s.uid FROM lims_search s WHERE \(tokenMatch)) ", "m CROSS JOIN lims_objects o",
                    "o.uid = m.uid AND " + filter, order)
        }
        if named.isEmpty {
            return ("", "lims_search s JOIN lims_objects o ON o.uid = s.uid", tokenMatch + " AND " + filter,
                    "s.created \(direction), s.uid \(direction)")
        }
        // The first word names clients: a union of streams, each in the page's order and at most `streamLimit` long:
        // the word's own index range, and per named client its samples that match the other words. A client the other
        // words do not all name is read by the rarest of those words' index ranges, its samples only (`hh ss`, two
        // clients' codes, read Happy Hills' 86,000 samples for none: 223 ms at 200,000 samples); one they all name, by
        // its own samples.
        let limit = SQLBind(streamLimit)
        let key: String
        let byKey: String
        switch query.sortOn {
        case .created: (key, byKey) = ("created", "o.created \(direction), o.uid \(direction)")
        case .path: (key, byKey) = ("path", "o.path \(direction)")
        case .id: (key, byKey) = ("object_id", "o.object_id \(direction), o.path \(direction)")
        }
        var with: SQLQueryString = ""
        var streams: [SQLQueryString] = []
        func stream(_ from: SQLQueryString, _ condition: SQLQueryString, created: String = "o.created", order: String = byKey) -> SQLQueryString {
            let columns = key == "created" ? "o.uid AS uid, \(created) AS created" : "o.uid AS uid, o.\(key) AS \(key), o.path AS sort_path"
            return "SELECT \(unsafeRaw: columns) FROM \(from) WHERE \(condition) ORDER BY \(unsafeRaw: order) LIMIT \(limit)"
        }
        let byIndex = "s.created \(direction), s.uid \(direction)"
        if key == "created" {
            streams.append(stream("lims_search s JOIN lims_objects o ON o.uid = s.uid", tokenMatch + " AND " + filter, created: "s.created", order: byIndex))
        } else {
            with = "WITH m AS MATERIALIZED (SELECT s.uid FROM lims_search s WHERE \(tokenMatch)) "
            streams.append(stream("m CROSS JOIN lims_objects o", "o.uid = m.uid AND " + filter))
        }
        guard named.count <= CatalogSearch.maxClientStreams else {
            // Very many clients (a letter or two in a lab of many clients): one stream, sorted as the database likes.
            streams.append(stream("lims_objects o", "o.client_uid IN (\(SQLList(named.map { SQLBind($0.uid) }))) AND " + filter
                                  + Self.wordsMatch(plain, uid: "o.uid")))
            return (with, Self.union(streams, key: key), "1 = 1", Self.unionOrder(key: key, direction: direction))
        }
        for client in named {
            // The other words that do not name this client: its samples must have words starting so.
            let missing = further.filter { word in !search.clients(of: word).contains { $0.uid == client.uid } }
            let clientBase: SQLQueryString = "o.client_uid = \(bind: client.uid) AND " + base
            let ofClient = clientBase + Self.wordsMatch(missing, uid: "o.uid")
            // Read by the rarest such word when the streams of all named clients read fewer entries so than the count
            // cap (a count that reached the cap is only "at least": `happy 1` sorted by path read `1`'s 48,000
            // matches, 277-451 ms, where Happy Hills' path range tested for `1` took 33-47; `acme 7`, 46 clients of 3
            // samples each, read `7`'s range per client: 1.1 s), else by the client's samples.
            let rarest = missing.min { search.tokenCounts[$0, default: Int.max] < search.tokenCounts[$1, default: Int.max] }
            let entries = rarest.flatMap { search.tokenCounts[$0] } ?? Int.max
            let (budget, overflow) = entries.multipliedReportingOverflow(by: named.count)
            if let via = rarest, !overflow, entries < Self.searchCountCap, budget < Self.searchCountCap {
                // Its samples with a word starting `via`, read by that word's index range, tested for the rest.
                // CROSS JOIN: SQLite keeps the index range first (sorted by path, it walked every sample in path order
                // probing the word for each).
                let matched: SQLQueryString = "s.portal_type = \(type) AND s.token = \(bind: via)" + Self.wordsMatch(missing.filter { $0 != via }, uid: "s.uid")
                streams.append(stream("lims_search s CROSS JOIN lims_objects o", matched + " AND o.uid = s.uid AND " + clientBase, created: "s.created",
                                      order: key == "created" ? byIndex : byKey))
            } else if key == "path", !client.path.isEmpty {
                // Its subtree's range of `lims_catalog_type_path`, read in order (the path range of ``CatalogReach``).
                // (No test of the client: SQLite then read every sample of the client by it and sorted them.)
                streams.append(stream("lims_objects o", "o.portal_type = \(type) AND o.path >= \(bind: client.path + "/") "
                                      + "AND o.path < \(bind: client.path + "0") AND " + base + Self.wordsMatch(missing, uid: "o.uid")))
            } else if key == "object_id", search.smallClients.contains(client.uid) {
                // A small client: its samples read by client (CROSS JOIN: SQLite keeps the order written), then sorted.
                streams.append(stream("lims_objects c CROSS JOIN lims_objects o",
                                      "c.client_uid = \(bind: client.uid) AND c.portal_type = \(type) AND o.uid = c.uid AND " + ofClient))
            } else {
                streams.append(stream("lims_objects o", ofClient))
            }
        }
        return (with, Self.union(streams, key: key), "1 = 1", Self.unionOrder(key: key, direction: direction))
    }

    /// The filter of a catalog query's objects (`o`): ``catalogFilter(_:user:viewRoles:searchIndexed:)`` within the
    /// user's `reach`.
    static func driveFilter(_ query: CatalogQuery, user: User, viewRoles: Set<Role>, reach: CatalogReach) -> SQLQueryString {
        var filter = Self.catalogFilter(query, user: user, viewRoles: viewRoles,
                                        searchIndexed: SearchWords.portalTypes.contains(query.portalType))
        if let narrowed = reach.filter(for: query.portalType, sortedOn: query.sortOn) { filter = filter + " AND " + narrowed }
        return filter
    }

    /// The `FROM` source `(stream0 UNION stream1 ...) o` of a search's streams (``catalogSelection(_:search:user:viewRoles:reach:streamLimit:drive:)``),
    /// each selecting `uid` and the sort `key` (and `sort_path` unless the key is `created`).
    static func union(_ streams: [SQLQueryString], key: String) -> SQLQueryString {
        var union: SQLQueryString = ""
        let columns = key == "created" ? "uid, created" : "uid, \(key), sort_path"
        for (index, stream) in streams.enumerated() {
            union = union + (index == 0 ? "" : " UNION ") + "SELECT \(unsafeRaw: columns) FROM (\(stream)) stream\(unsafeRaw: String(index))"
        }
        return "(" + union + ") o"
    }

    /// The `ORDER BY` of ``union(_:key:)``'s rows: the page's order, ties of creation broken by uid, of ids by path.
    static func unionOrder(key: String, direction: String) -> String {
        switch key {
        case "created": "o.created \(direction), o.uid \(direction)"
        case "path": "o.sort_path \(direction)"
        default: "o.object_id \(direction), o.sort_path \(direction)"
        }
    }

    /// The test that the object whose uid is `uid` (an SQL expression) has a word starting with each of `words`, or
    /// nothing for none: the first one seek by the uid, which ends the check of most objects that do not match; the
    /// others one subquery counting the object's rows among them (a seek a word). One subquery per word made
    /// PostgreSQL plan for 90 ms at 8 words (2.4 s at 40); all words in the counting subquery checked every object
    /// against all of them (121 ms against 19 for a search of 8 words no object has). A scalar subquery with LIMIT,
    /// not EXISTS: PostgreSQL turned EXISTS into a hash join over every row of the word (a sequential scan of
    /// `lims_search`: 25 ms against 3 for `h2o 0` at 20,000 samples), where each object wants one seek.
    static func wordsMatch(_ words: [String], uid: String) -> SQLQueryString {
        guard let second = words.first else { return "" }
        var matched: SQLQueryString = " AND (SELECT 1 FROM lims_search w WHERE w.uid = \(unsafeRaw: uid) AND w.token = \(bind: second) LIMIT 1) IS NOT NULL"
        let rest = words.dropFirst()
        if !rest.isEmpty {
            matched = matched + """
                 AND (SELECT COUNT(*) FROM lims_search w WHERE w.uid = \(unsafeRaw: uid) AND w.token IN (\(SQLList(rest.map { SQLBind($0) })))) \
                = \(bind: rest.count)
                """
        }
        return matched
    }

    /// The WHERE clause of a catalog query, with the `allowedRolesAndUsers` filter: none for lab managers and
    /// managers (they see every object) and for users holding one of `viewRoles` (the role map's View roles, on
    /// every object alike); else the object must carry the user's stored `user:<id>` token (``writeSecurity``).
    /// - Parameter searchIndexed: the query's type is searched through the search index (``SearchWords``), so its
    ///   text adds no `LIKE` on the id. Default: false.
    static func catalogFilter(_ query: CatalogQuery, user: User, viewRoles: Set<Role>, searchIndexed: Bool = false) -> SQLQueryString {
        var filter: SQLQueryString = "o.portal_type = \(bind: query.portalType.rawValue)"
        // An empty set matches nothing (`IN ()` is not SQL PostgreSQL takes).
        func list(_ values: Set<String>) -> SQLQueryString {
            values.isEmpty ? "NULL" : "\(SQLList(values.sorted().map { SQLBind($0) }))"
        }
        if let states = query.reviewStates { filter = filter + " AND o.review_state IN (\(list(states)))" }
        if let clients = query.clientUIDs { filter = filter + " AND o.client_uid IN (\(list(clients)))" }
        if let services = query.serviceUIDs { filter = filter + " AND o.service_uid IN (\(list(services)))" }
        if let sample = query.sampleUID { filter = filter + " AND o.sample_uid = \(bind: sample)" }
        if let analyst = query.analyst { filter = filter + " AND o.lookup_key = \(bind: analyst)" }
        if !searchIndexed, let text = query.text?.lowercased(), !text.isEmpty {
            filter = filter + " AND LOWER(o.object_id) LIKE \(bind: likePattern(containing: text)) ESCAPE '!'"
        }
        if let text = query.pathText?.lowercased(), !text.isEmpty {
            filter = filter + " AND LOWER(o.path) LIKE \(bind: likePattern(containing: text)) ESCAPE '!'"
        }
        if !user.isLabManager, user.roles.isDisjoint(with: viewRoles) {
            let tokens = SQLList(user.visibilityTokens.filter(storedToken).sorted().map { SQLBind($0) })
            filter = filter + " AND EXISTS (SELECT 1 FROM lims_security s WHERE s.uid = o.uid AND s.token IN (\(tokens)))"
        }
        return filter
    }

    /// A `LIKE ... ESCAPE '!'` pattern matching text that contains `text` literally: `%`, `_` and `!` in it are
    /// escaped, so a search for "%" finds ids with a percent sign, not every object.
    static func likePattern(containing text: String) -> String {
        var escaped = ""
        for character in text {
            if character == "%" || character == "_" || character == "!" { escaped.append("!") }
            escaped.append(character)
        }
        return "%" + escaped + "%"
    }

    public func queued(among uids: [String]) async throws -> Set<String> {
        guard !uids.isEmpty else { return [] }
        let sql = try self.sql
        var result: Set<String> = []
        for row in try await SQLLabReader.rows(in: uids, { set in
            Self.queuedAmongStatement(set, on: sql)
        }, on: sql) {
            result.insert(try row.decode(column: "uid", as: String.self))
        }
        return result
    }

    /// The statement of ``queued(among:)`` for one slice of uids (`set`): those a queued or running task
    /// names (as its context or among its objects), and the samples one of whose analyses a task names. The task's
    /// status is a filter only: with it as an index term SQLite's planner walked every queued task (the queue
    /// order index) for each page of a listing, 13 ms a page at 40,000 queued tasks against 1.3 ms by uid.
    static func queuedAmongStatement(_ set: SQLUIDSet, on sql: any SQLDatabase) -> SQLQueryString {
        let active: SQLQueryString = "\(SQLQueueStore.filterOnly("t.status", on: sql)) IN ('queued', 'running')"
        return """
            SELECT u.uid AS uid FROM queue_task_uids u JOIN queue_tasks t ON t.task_uid = u.task_uid
            WHERE \(active) AND u.uid \(set)
            UNION
            SELECT t.context_uid AS uid FROM queue_tasks t WHERE \(active) AND t.context_uid \(set)
            UNION
            SELECT a.sample_uid AS uid FROM lims_objects a
            WHERE a.sample_uid \(set) AND (EXISTS (
                SELECT 1 FROM queue_task_uids u JOIN queue_tasks t ON t.task_uid = u.task_uid
                WHERE u.uid = a.uid AND \(active))
                OR EXISTS (SELECT 1 FROM queue_tasks t WHERE t.context_uid = a.uid AND \(active)))
            """
    }
}

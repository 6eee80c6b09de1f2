import Foundation
import LIMSCore
import QueueCore
import QueueTesting
import SQLKit
@testable import Storage
import TestSupport
import Testing

/// The plans SQLite chooses for the statements that name tasks by uid. SQLite plans without statistics, and with 8
/// or more uids in a list it preferred the queue order index (`status` is its first column) to the primary key: each
/// claim of a batch, each batch of dones and each listing page's "is queued" checks then read every queued task, so their cost
/// grew with the backlog (2-4 ms a claim at 40,000 queued tasks). PostgreSQL plans from statistics; its plans are not
/// pinned here.
@Suite("Queue store: statements naming tasks by uid probe by uid (SQLite plans)")
struct QueryPlanTests {
    /// The `detail` column of `EXPLAIN QUERY PLAN statement`.
    static func plan(of statement: SQLQueryString, on sql: any SQLDatabase) async throws -> [String] {
        try await sql.raw("EXPLAIN QUERY PLAN \(statement)").all().map { try $0.decode(column: "detail", as: String.self) }
    }

    /// A lab manager and the default role map's View roles, for the catalog plans.
    static let labman = User(uid: "u1", id: "labman", path: "/senaite/acl_users/labman", created: 0, userid: "labman", roles: [.labManager])
    static let views = RolePermissionMap.senaiteDefault.roles(for: .view)

    /// The plan of a catalog page of `query` without search, read as ``SQLLabStore/catalogSelection(_:search:user:viewRoles:reach:streamLimit:drive:)``
    /// says, 50 objects long.
    static func pagePlan(_ query: CatalogQuery, user: User = labman, reach: CatalogReach = .everywhere, drive: CatalogDrive? = nil,
                         on sql: any SQLDatabase) async throws -> [String] {
        let (with, source, filter, order) = SQLLabStore.catalogSelection(query, search: CatalogSearch(words: []), user: user, viewRoles: views,
                                                                         reach: reach, streamLimit: 50, drive: drive)
        return try await plan(of: "\(with)SELECT o.uid FROM \(source) WHERE \(filter) ORDER BY \(unsafeRaw: order) LIMIT 50", on: sql)
    }

    @Test("mark running, finish and the queued checks of a listing page never walk the queue order index")
    func probesByUID() async throws {
        try await StoreFixture.with(backend: .sqlite) { f in
            let tasks = (0..<300).map { TaskFactory.task("task_generic_action", context: "WS-\($0)", created: f.now) }
            _ = try await f.store.add(tasks, now: f.now)
            let sql = try f.store.sql
            let chosen = tasks.prefix(32).map { (consumerID: "consumer-1", taskUID: $0.taskUID) }
            let statuses = SQLList([SQLBind(TaskStatus.queued.rawValue), SQLBind(TaskStatus.running.rawValue)])
            let statements: [(String, SQLQueryString)] = [
                ("mark running", SQLQueueStore.markRunningStatement(chosen, tokens: chosen.map { _ in "token" }, now: f.now, on: sql)),
                ("finish", SQLQueueStore.finishStatement(chosen.map { ($0.taskUID, LeaseClaim(consumerID: "consumer-1", leaseToken: "token")) },
                                                         on: sql)),
                ("queued among a page", SQLQueueStore.activeAmongStatement(SQLUIDSet(tasks.prefix(50).map(\.contextUID), asArray: false),
                                                                           statuses: statuses, on: sql)),
                ("a listing page's is_queued", SQLLabStore.queuedAmongStatement(SQLUIDSet(tasks.prefix(50).map(\.contextUID), asArray: false),
                                                                                on: sql)),
                ("a samples page's analysis counts", SQLLabStore.analysisCountStatement(SQLUIDSet(tasks.prefix(64).map(\.contextUID), asArray: false))),
            ]
            for (name, statement) in statements {
                let plan = try await Self.plan(of: statement, on: sql)
                #expect(!plan.contains { $0.contains("queue_tasks_order") }, "\(name): \(plan)")
                #expect(plan.contains { $0.hasPrefix("SEARCH") }, "\(name): \(plan)")
                #expect(!plan.contains { $0.hasPrefix("SCAN") }, "\(name): \(plan)")
            }
            // The counts seek each sample in the sample index; by `parent_uid` SQLite walked the type index over every
            // analysis of the lab (a SEARCH too, on `portal_type` alone).
            let counts = try await Self.plan(of: SQLLabStore.analysisCountStatement(SQLUIDSet(tasks.prefix(64).map(\.contextUID), asArray: false)), on: sql)
            #expect(counts.contains { $0.contains("lims_catalog_sample (sample_uid=? AND portal_type=?)") }, "\(counts)")
        }
    }

    /// (The client and service indexes serve listings, whose SQLite plans walk a type's sort index whole or partial.)
    @Test("catalog reads by a column most objects leave NULL seek its partial index (PartialCatalogIndexes)")
    func partialCatalogIndexes() async throws {
        try await StoreFixture.with(backend: .sqlite) { f in
            let sql = try f.lab.sql
            let uids = SQLUIDSet(["a", "b", "c"], asArray: false)
            let statements: [(String, SQLQueryString)] = [
                ("lims_catalog_worksheet", "SELECT uid FROM lims_objects WHERE worksheet_uid \(uids)"),
                ("lims_catalog_lookup", "SELECT uid FROM lims_objects o WHERE o.portal_type = 'Worksheet' AND o.lookup_key = \(bind: "analyst1")"),
                ("lims_catalog_sample", SQLLabStore.analysisCountStatement(uids)),
                ("lims_catalog_pick", "SELECT uid FROM lims_objects s WHERE s.portal_type = 'AnalysisRequest' AND s.sort_key IS NOT NULL ORDER BY s.sort_key LIMIT 5"),
            ]
            for (index, statement) in statements {
                let plan = try await Self.plan(of: statement, on: sql)
                #expect(plan.contains { $0.contains("USING INDEX \(index)") || $0.contains("USING COVERING INDEX \(index)") }, "\(index): \(plan)")
            }
        }
    }

    @Test("a search of the samples or worksheets list reads the search index in the page's order, never scanning the objects")
    func searchReadsItsIndex() async throws {
        try await StoreFixture.with(backend: .sqlite) { f in
            let sql = try f.lab.sql
            let labman = User(uid: "u1", id: "labman", path: "/senaite/acl_users/labman", created: 0, userid: "labman", roles: [.labManager])
            let views = RolePermissionMap.senaiteDefault.roles(for: .view)
            let queries = [
                CatalogQuery(portalType: .sample, text: "0001", sortOn: .created, descending: true),
                CatalogQuery(portalType: .sample, reviewStates: [ReviewState.sampleReceived], clientUIDs: ["c1"], text: "H2O-00",
                             sortOn: .created, descending: true),
                CatalogQuery(portalType: .worksheet, reviewStates: ["open", "to_be_verified"], analyst: "anna", text: "ws 1",
                             sortOn: .created, descending: true),
                CatalogQuery(portalType: .sample, text: "zzz", sortOn: .path),
                CatalogQuery(portalType: .sample, clientUIDs: ["c1"], text: "h2o 0001", sortOn: .id, descending: true),
            ]
            for query in queries {
                let (with, source, filter, order) = SQLLabStore.catalogSelection(query, search: CatalogSearch(words: SearchWords.query(query.text ?? "")),
                                                                                 user: labman, viewRoles: views, reach: .everywhere, streamLimit: 50)
                let plan = try await Self.plan(of: "\(with)SELECT o.uid FROM \(source) WHERE \(filter) ORDER BY \(unsafeRaw: order) LIMIT 50", on: sql)
                #expect(plan.contains { $0.contains("lims_search_token") }, "\(query): \(plan)")
                if query.sortOn == .created {
                    #expect(!plan.contains { $0.hasPrefix("SCAN") || $0.contains("TEMP B-TREE") }, "\(query): \(plan)")
                } else {
                    // The matches drive: the objects are sought by uid, never walked in path or id order.
                    #expect(plan.contains { $0.contains("SEARCH o USING INDEX sqlite_autoindex_lims_objects_1 (uid=?)") }, "\(query): \(plan)")
                    #expect(!plan.contains { $0.contains("lims_catalog_type_path") || $0.contains("lims_catalog_type_id") }, "\(query): \(plan)")
                }
            }
        }
    }

    @Test("a search by a client's name reads the word's index range and each named client's samples in the page's order, never scanning the objects")
    func searchReadsNamedClients() async throws {
        try await StoreFixture.with(backend: .sqlite) { f in
            let sql = try f.lab.sql
            let labman = User(uid: "u1", id: "labman", path: "/senaite/acl_users/labman", created: 0, userid: "labman", roles: [.labManager])
            let views = RolePermissionMap.senaiteDefault.roles(for: .view)
            func naming(_ words: [String], _ clients: [String: [String]]) -> CatalogSearch {
                var search = CatalogSearch(words: words)
                search.named = clients.mapValues { $0.map { CatalogReach.ClientSubtree(uid: $0, path: "/clients/\($0)") } }
                return search
            }
            var viaWord = naming(["acme", "h2o"], ["acme": ["c1"]])
            viaWord.tokenCounts = ["h2o": 40]
            let searches = [
                naming(["acme"], ["acme": ["c1"]]),
                naming(["acme", "hills"], ["acme": ["c1", "c2"], "hills": ["c1", "c2"]]),
                naming(["0001", "acme"], ["acme": ["c1"]]),
                naming(["a"], ["a": (0...CatalogSearch.maxClientStreams).map { "c\($0)" }]),
                // c1 is not named by `h2o` (no client is): its stream reads `h2o`'s index range (40 entries), c1's
                // samples only; with `h2o` on many samples, c1's samples tested for it.
                viaWord,
                naming(["acme", "h2o"], ["acme": ["c1"]]),
            ]
            for search in searches {
                for sort in [CatalogQuery.SortField.created, .path] {
                    let query = CatalogQuery(portalType: .sample, reviewStates: [ReviewState.sampleReceived],
                                             text: search.words.joined(separator: " "), sortOn: sort, descending: true)
                    let (with, source, filter, order) = SQLLabStore.catalogSelection(query, search: search, user: labman, viewRoles: views,
                                                                                     reach: .everywhere, streamLimit: 50)
                    let plan = try await Self.plan(of: "\(with)SELECT o.uid FROM \(source) WHERE \(filter) ORDER BY \(unsafeRaw: order) LIMIT 50", on: sql)
                    #expect(plan.contains { $0.contains("lims_search_token") }, "\(search) \(sort): \(plan)")
                    if !search.tokenCounts.isEmpty {
                        // The via word's index range, for the client's stream too (two ranges of the index).
                        #expect(plan.filter { $0.contains("lims_search_token (portal_type=? AND token=?)") }.count == 2, "\(search) \(sort): \(plan)")
                    }
                    // The first word's clients: their samples read by client (more than 32: as SQLite likes; here in
                    // creation order among the received ones).
                    let named = search.clients(of: search.words[0]).count
                    let allNamed = search.words.dropFirst().allSatisfy { !search.clients(of: $0).isEmpty }
                    if named > 0, named <= CatalogSearch.maxClientStreams, allNamed || search.tokenCounts.isEmpty {
                        // By creation: the client's samples in `lims_catalog_client`; by path: its subtree's range.
                        let read = sort == .created ? "SEARCH o USING INDEX lims_catalog_client (client_uid=? AND portal_type=?)"
                            : "SEARCH o USING INDEX lims_catalog_type_path (portal_type=? AND path>? AND path<?)"
                        #expect(plan.contains { $0.contains(read) }, "\(search) \(sort): \(plan)")
                    }
                    // The objects are sought by uid, by client or by a client's path range, never walked whole (`o`
                    // scanned is the union); more clients than streams may be read in the page's order, filtered.
                    #expect(!plan.contains { ($0 == "SCAN o" && !plan.contains("CO-ROUTINE o")) || $0 == "SCAN c"
                        || ($0.contains("lims_catalog_type") && !$0.contains("path>? AND path<?") && named <= CatalogSearch.maxClientStreams) },
                            "\(search) \(sort): \(plan)")
                }
            }
        }
    }

    @Test("a listing sorted by path or id with a selective filter reads by it: a client's path range, a small client's, state's or service's objects by their index; never the type's whole index")
    func selectiveFiltersDrive() async throws {
        try await StoreFixture.with(backend: .sqlite) { f in
            let sql = try f.lab.sql
            let clients = [CatalogReach.ClientSubtree(uid: "c1", path: "/senaite/clients/client-1"),
                           CatalogReach.ClientSubtree(uid: "c2", path: "/senaite/clients/client-2")]
            func plan(_ query: CatalogQuery, _ drive: CatalogDrive) async throws -> (page: [String], count: [String]) {
                let page = try await Self.pagePlan(query, drive: drive, on: sql)
                let counting = try #require(drive.counting(query, filter: SQLLabStore.driveFilter(query, user: Self.labman, viewRoles: Self.views,
                                                                                                   reach: .everywhere)))
                let count = try await Self.plan(of: "SELECT 1 AS one FROM \(counting.source) WHERE \(counting.filter) LIMIT 1101", on: sql)
                return (page, count)
            }
            // (`SCAN` of the streams and of their union `o` only; never the type's index on `portal_type` alone.)
            func walksNothing(_ plan: [String]) -> Bool {
                !plan.contains { ($0.hasPrefix("SCAN") && !$0.hasPrefix("SCAN stream") && !($0 == "SCAN o" && plan.contains("CO-ROUTINE o")))
                    || $0.hasSuffix("(portal_type=?)") }
            }
            for count in [1, 2] {
                for sort in [CatalogQuery.SortField.path, .id] {
                    for descending in [false, true] {
                        let chosen = Array(clients.prefix(count))
                        let query = CatalogQuery(portalType: .sample, reviewStates: [ReviewState.sampleReceived],
                                                 clientUIDs: Set(chosen.map(\.uid)), sortOn: sort, descending: descending)
                        let drive = CatalogDrive(clients: chosen, drivers: [.init(filter: .clients(chosen.map(\.uid)), count: 3)])
                        let (page, counted) = try await plan(query, drive)
                        let read = sort == .path ? "lims_catalog_type_path (portal_type=? AND path>? AND path<?)"
                            : "SEARCH c USING INDEX lims_catalog_client (client_uid=? AND portal_type=?)"
                        // (Two clients by path: a range each, in a union.)
                        #expect(page.filter { $0.contains(read) }.count == (sort == .path ? count : 1), "\(count) \(sort): \(page)")
                        #expect(walksNothing(page), "\(count) \(sort): \(page)")
                        #expect(counted.contains { $0.contains("SEARCH c USING INDEX lims_catalog_client (client_uid=? AND portal_type=?)") }
                                && walksNothing(counted), "\(count) \(sort): \(counted)")
                    }
                }
            }
            // The analyses of a contact of two clients by path: a range of each client, in a union (the reach's OR
            // of ranges walked the whole path index).
            let twoClients = CatalogDrive(clients: clients)
            let reach = CatalogReach.clients(clients)
            let query = CatalogQuery(portalType: .analysis, sortOn: .path)
            let rita = User(uid: "u2", id: "rita", path: "/senaite/acl_users/rita", created: 0, userid: "rita", roles: [.client])
            let union = try await Self.pagePlan(query, user: rita, reach: reach, drive: twoClients, on: sql)
            #expect(union.filter { $0.contains("lims_catalog_type_path (portal_type=? AND path>? AND path<?)") }.count == 2 && walksNothing(union),
                    "\(union)")
            // Analyses to be verified, of two services: read by the state's or the services' index and sorted.
            let states = CatalogDrive(drivers: [.init(filter: .states(["to_be_verified"]), count: 0)])
            let services = CatalogDrive(drivers: [.init(filter: .services(["s1", "s2"]), count: 12), .init(filter: .states(["unassigned"]), count: 10_001)])
            for sort in [CatalogQuery.SortField.path, .id] {
                for (drive, read) in [(states, "(portal_type=? AND review_state=?)"), (services, "lims_catalog_service (service_uid=?)")] {
                    let query = CatalogQuery(portalType: .analysis, reviewStates: drive == states ? ["to_be_verified"] : ["unassigned"],
                                             serviceUIDs: drive == services ? ["s1", "s2"] : nil, sortOn: sort)
                    let (page, counted) = try await plan(query, drive)
                    for plan in [page, counted] {
                        #expect(plan.contains { $0.hasPrefix("SEARCH c") && $0.contains(read) } && walksNothing(plan), "\(sort) \(read): \(plan)")
                    }
                }
            }
        }
    }

    @Test("a listing sorted by id reads lims_catalog_type_id in its whole order (id, then path): no sort of an id's objects")
    func idOrderIsIndexed() async throws {
        try await StoreFixture.with(backend: .sqlite) { f in
            let sql = try f.lab.sql
            for descending in [false, true] {
                let query = CatalogQuery(portalType: .analysis, reviewStates: ["unassigned"], sortOn: .id, descending: descending)
                let plan = try await Self.pagePlan(query, on: sql)
                #expect(plan.contains { $0.contains("lims_catalog_type_id") } && !plan.contains { $0.contains("TEMP B-TREE") }, "\(plan)")
            }
        }
    }

    @Test("the claims walk the index of due tasks, never the queue order index that delayed tasks are in")
    func claimsWalkReadyTasks() async throws {
        try await StoreFixture.with(backend: .sqlite) { f in
            let sql = try f.store.sql
            let pops = (1...2).map { DatabaseWriter.ClaimRequest.Pop(consumerID: "consumer-\($0)", max: 1, batch: false) }
            let statements: [(String, SQLQueryString)] = [
                ("candidate page", SQLQueueStore.candidatePageStatement(now: f.now, limit: 32, offset: 0, lockRows: false, on: sql)),
                ("claim in one statement", SQLQueueStore.sharedClaimStatement(pops, now: f.now, cap: 4,
                                                                             nonces: ["0123456789abcdef", "fedcba9876543210"], on: sql)),
            ]
            for (name, statement) in statements {
                let plan = try await Self.plan(of: statement, on: sql)
                #expect(plan.contains { $0.contains("USING INDEX queue_tasks_ready") }, "\(name): \(plan)")
                // The running tasks are still counted in the queue order index (a search of `status = 'running'`).
                #expect(!plan.contains { $0.hasPrefix("SCAN queue_tasks") && !$0.contains("queue_tasks_ready") }, "\(name): \(plan)")
            }
        }
    }
}

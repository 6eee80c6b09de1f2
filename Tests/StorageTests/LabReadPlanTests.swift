import Foundation
import LIMSCore
import QueueCore
import SQLKit
@testable import Storage
import TestSupport
import Testing

/// The plan PostgreSQL chooses for a working set's load (``SQLLabReader/walkStatement(_:on:)``) on a lab table of
/// the size of a lab of about 2,000 samples, with its statistics taken: the objects reached are read by primary key.
/// Joined to the walk's result alone, the planner guessed 200 objects and read all 13,000 with a sequential scan
/// (3-14 ms a load against about 1 ms). SQLite's plans are pinned in ``QueryPlanTests``.
@Suite("Lab reads: a working set's objects are sought by primary key on a large table (PostgreSQL)")
struct LabReadPlanTests {
    /// A lab table of about 13,000 objects with statistics taken: a client with 64 samples (returned), and 13,000
    /// analyses of 2,000 other samples that no read reaches.
    static func largeLab(_ f: StoreFixture) async throws -> (clientUID: String, sampleUIDs: [String]) {
        let now = f.now
        let (clientUID, sampleUIDs) = try await f.lab.perform { state -> (String, [String]) in
            let uids = RandomUIDGenerator()
            let client = state.createClient(name: "Client", clientID: "C1", uids: uids, now: now)
            let contact = try state.createContact(in: client.uid, firstname: "A", surname: "B", uids: uids, now: now)
            let water = try state.createSampleType(title: "Water", prefix: "H2O", uids: uids, now: now)
            let cu = try state.createAnalysisService(title: "Copper", keyword: "Cu", sortKey: 1, uids: uids, now: now)
            let samples = try (0..<64).map { index in
                try state.createSample(clientUID: client.uid, contactUID: contact.uid, sampleTypeUID: water.uid,
                                       serviceUIDs: [cu.uid], priority: 3, uids: uids, now: now + Double(index)).uid
            }
            return (client.uid, samples)
        }
        let sql = try f.lab.sql
        try await sql.raw("""
            INSERT INTO lims_objects (uid, portal_type, path, parent_uid, version, seq, created, body)
            SELECT md5(g::text), 'Analysis', '/filler/' || g, md5('sample' || (g % 2000)), 1, 0, 0, '{}'
            FROM generate_series(1, 13000) g
            """).run()
        try await sql.raw("ANALYZE lims_objects").run()
        return (clientUID, sampleUIDs)
    }

    /// The plan PostgreSQL makes fresh (`custom`) and the generic plan of the statement prepared, as it runs after its
    /// fifth use once that plan is no costlier: each plan's text.
    static func plans(of statement: SQLQueryString, _ f: StoreFixture) async throws -> (custom: String, generic: String) {
        let sql = try f.lab.sql
        let custom = try await sql.raw("EXPLAIN \(statement)").all()
            .map { try $0.decode(column: "QUERY PLAN", as: String.self) }.joined(separator: "\n")
        let generic = try await f.store.transaction(.claims) { sql -> String in
            try await sql.raw("SET LOCAL plan_cache_mode = force_generic_plan").run()
            let (text, arguments) = ClaimPlanTests.preparable(statement, on: sql)
            try await sql.raw("PREPARE lab_read_plan_test AS \(unsafeRaw: text)").run()
            let plan = try await sql.raw("EXPLAIN EXECUTE lab_read_plan_test(\(unsafeRaw: arguments))").all()
                .map { try $0.decode(column: "QUERY PLAN", as: String.self) }
            try await sql.raw("DEALLOCATE lab_read_plan_test").run()
            return plan.joined(separator: "\n")
        }
        return (custom, generic)
    }

    /// The total cost estimate of a plan's top node (`cost=start..total`).
    static func totalCost(_ plan: String) -> Double {
        let match = plan.firstMatch(of: /cost=[0-9.]+\.\.([0-9.]+)/)
        return match.flatMap { Double($0.1) } ?? .infinity
    }

    @Test("the load of 64 samples and their client seeks each object by key among 13,000, in custom and generic plans, and reads exactly them",
          .enabled(if: StoreBackend.available.contains(.postgres)))
    func loadSeeksByKey() async throws {
        try await StoreFixture.with(backend: .postgres) { f in
            let (clientUID, sampleUIDs) = try await Self.largeLab(f)
            let sql = try f.lab.sql
            // Both forms of the list: one bind per uid (up to 8 uids) and one array bind (longer lists).
            for asArray in [false, true] {
                let statement = SQLLabReader.walkStatement(SQLUIDSet(sampleUIDs, asArray: asArray), on: sql)
                let (custom, generic) = try await Self.plans(of: statement, f)
                for plan in [custom, generic] {
                    #expect(!plan.contains("Seq Scan on lims_objects"), "\(plan)")
                    // The objects reached, by primary key (an index scan, or a bitmap of it).
                    #expect(plan.contains("Index Scan using lims_objects_pkey on lims_objects o")
                            || plan.contains("Bitmap Heap Scan on lims_objects o"), "\(plan)")
                }
                // And the walk reads the samples and their client, each once.
                let rows = try await sql.raw(statement).all()
                let read = try rows.map { try $0.decode(column: "uid", as: String.self) }
                #expect(read.count == 65 && Set(read) == Set(sampleUIDs + [clientUID]), "\(read)")
            }
        }
    }

    @Test("reads of 64 uids as one array bind settle on their generic plan: it is no costlier than a fresh one, and seeks by index",
          .enabled(if: StoreBackend.available.contains(.postgres)))
    func longListsSettleOnGenericPlans() async throws {
        try await StoreFixture.with(backend: .postgres) { f in
            let (_, sampleUIDs) = try await Self.largeLab(f)
            let sql = try f.lab.sql
            let set = SQLUIDSet(sampleUIDs, asArray: true)
            let statements: [(String, SQLQueryString)] = [
                ("working set", SQLLabReader.walkStatement(set, on: sql)),
                ("a listing page's is_queued", SQLLabStore.queuedAmongStatement(set, on: sql)),
                ("a samples page's analysis counts", SQLLabStore.analysisCountStatement(set)),
                // The analyses on worksheets (a partial index: PartialCatalogIndexes).
                ("worksheets' analyses", "SELECT uid FROM lims_objects WHERE worksheet_uid \(set)"),
            ]
            for (name, statement) in statements {
                let (custom, generic) = try await Self.plans(of: statement, f)
                // PostgreSQL's plan cache keeps planning afresh while the generic plan looks costlier than the fresh
                // ones: with a bind per uid the queued check did so at every call (1.0-1.5 ms of planning a page).
                #expect(Self.totalCost(generic) <= Self.totalCost(custom), "\(name): generic\n\(generic)\ncustom\n\(custom)")
                #expect(!generic.contains("Seq Scan on lims_objects"), "\(name): \(generic)")
            }
        }
    }

    /// The search index rows of 20,000 filler samples' other id word prefixes (5 a sample, `md5(n)` their uids), as a
    /// lab's index holds them (about 7 rows a sample with the words a test adds).
    static func insertOtherPrefixes(on sql: any SQLDatabase) async throws {
        try await sql.raw("""
            INSERT INTO lims_search (uid, token, portal_type, created)
            SELECT md5(g::text), 'p' || k || '-' || (g % (10 * k)), 'AnalysisRequest', g
            FROM generate_series(1, 20000) g CROSS JOIN generate_series(1, 5) k
            """).run()
    }

    @Test("a search of two words reads its rarest word's index range in the page's order and seeks the other word per object, never scanning lims_search",
          .enabled(if: StoreBackend.available.contains(.postgres)))
    func searchSeeksItsSecondWord() async throws {
        try await StoreFixture.with(backend: .postgres) { f in
            let sql = try f.lab.sql
            // 20,000 samples with their rows and statistics: `h2o` on 1 in 12, `0` and `00` on 2 in 3, `1` on 1 in 3.
            try await sql.raw("""
                INSERT INTO lims_search (uid, token, portal_type, created)
                SELECT md5(g::text), t.token, 'AnalysisRequest', g FROM generate_series(1, 20000) g
                CROSS JOIN (VALUES ('h2o'), ('0'), ('00'), ('1')) AS t(token)
                WHERE (t.token = 'h2o' AND g % 12 = 0) OR (t.token IN ('0', '00') AND g % 3 <> 0) OR (t.token = '1' AND g % 3 = 0)
                """).run()
            // And the other prefixes of their ids' words, as a lab's index holds them (about 7 rows a sample).
            try await Self.insertOtherPrefixes(on: sql)
            try await sql.raw("""
                INSERT INTO lims_objects (uid, portal_type, path, parent_uid, version, seq, created, body, object_id)
                SELECT md5(g::text), 'AnalysisRequest', '/filler/' || g, NULL, 1, 0, g, '{}', 'S-' || g FROM generate_series(1, 20000) g
                """).run()
            try await sql.raw("ANALYZE lims_search").run()
            try await sql.raw("ANALYZE lims_objects").run()
            let labman = User(uid: "u1", id: "labman", path: "/senaite/acl_users/labman", created: 0, userid: "labman", roles: [.labManager])
            let views = RolePermissionMap.senaiteDefault.roles(for: .view)
            let query = CatalogQuery(portalType: .sample, text: "h2o 0", sortOn: .created, descending: true)
            let (with, source, filter, order) = SQLLabStore.catalogSelection(query, search: CatalogSearch(words: ["h2o", "0"]), user: labman,
                                                                             viewRoles: views, reach: .everywhere, streamLimit: 50)
            let (custom, generic) = try await Self.plans(of: "\(with)SELECT o.uid FROM \(source) WHERE \(filter) ORDER BY \(unsafeRaw: order) LIMIT 50", f)
            for plan in [custom, generic] {
                // With `EXISTS` PostgreSQL hashed every row of the second word (a sequential scan of the table).
                #expect(!plan.contains("Seq Scan on lims_search") && !plan.contains("Hash"), "\(plan)")
                #expect(plan.contains("Index Only Scan Backward using lims_search_token on lims_search s"), "\(plan)")
                #expect(plan.contains("lims_search_pkey on lims_search w"), "\(plan)")
            }
        }
    }

    @Test("a search by a client's name reads each named client's samples by lims_catalog_client in the page's order, never scanning the objects",
          .enabled(if: StoreBackend.available.contains(.postgres)))
    func searchReadsNamedClients() async throws {
        try await StoreFixture.with(backend: .postgres) { f in
            let sql = try f.lab.sql
            // 20,000 samples: 100 of client c1, the others of c2, c3 and c4; `h2o` on 1 in 12 of them, with the other
            // prefixes of their ids' words.
            try await sql.raw("""
                INSERT INTO lims_search (uid, token, portal_type, created)
                SELECT md5(g::text), 'h2o', 'AnalysisRequest', g FROM generate_series(1, 20000) g WHERE g % 12 = 0
                """).run()
            try await Self.insertOtherPrefixes(on: sql)
            try await sql.raw("""
                INSERT INTO lims_objects (uid, portal_type, path, parent_uid, version, seq, created, body, object_id, client_uid, review_state)
                SELECT md5(g::text), 'AnalysisRequest', '/filler/' || g, NULL, 1, 0, g, '{}', 'S-' || g,
                       CASE WHEN g % 200 = 0 THEN 'c1' ELSE 'c' || (2 + g % 3) END,
                       CASE WHEN g % 3 = 0 THEN 'sample_due' ELSE 'sample_received' END
                FROM generate_series(1, 20000) g
                """).run()
            try await sql.raw("ANALYZE lims_search").run()
            try await sql.raw("ANALYZE lims_objects").run()
            let labman = User(uid: "u1", id: "labman", path: "/senaite/acl_users/labman", created: 0, userid: "labman", roles: [.labManager])
            let views = RolePermissionMap.senaiteDefault.roles(for: .view)
            let searches = [
                CatalogSearch(words: ["acme"], clients: ["acme": ["c1"]]),
                CatalogSearch(words: ["acme", "h2o"], clients: ["acme": ["c1"]]),
            ]
            for search in searches {
                for states in [nil, Set([ReviewState.sampleReceived])] {
                    let query = CatalogQuery(portalType: .sample, reviewStates: states, text: search.words.joined(separator: " "),
                                             sortOn: .created, descending: true)
                    let (with, source, filter, order) = SQLLabStore.catalogSelection(query, search: search, user: labman, viewRoles: views,
                                                                                     reach: .everywhere, streamLimit: 50)
                    let (custom, generic) = try await Self.plans(of: "\(with)SELECT o.uid FROM \(source) WHERE \(filter) ORDER BY \(unsafeRaw: order) LIMIT 50", f)
                    // A small client's samples are read by client (a client of a quarter of the lab is read in creation
                    // order, filtered: as cheap for a page); the generic plan assumes an average client.
                    #expect(custom.contains("using lims_catalog_client on lims_objects") || custom.contains("Bitmap Index Scan on lims_catalog_client"), "\(search) \(String(describing: states)): \(custom)")
                    for plan in [custom, generic] {
                        #expect(!plan.contains("Seq Scan"), "\(search) \(String(describing: states)): \(plan)")
                        #expect(plan.contains("lims_search_token on lims_search s"), "\(search) \(String(describing: states)): \(plan)")
                    }
                }
            }
            // Sorted by path: a named client's samples are its subtree's range of paths, read in order.
            var search = CatalogSearch(words: ["acme"])
            search.named = ["acme": [CatalogReach.ClientSubtree(uid: "c1", path: "/filler/1")]]
            let query = CatalogQuery(portalType: .sample, text: "acme", sortOn: .path)
            let (with, source, filter, order) = SQLLabStore.catalogSelection(query, search: search, user: labman, viewRoles: views,
                                                                             reach: .everywhere, streamLimit: 50)
            let (custom, generic) = try await Self.plans(of: "\(with)SELECT o.uid FROM \(source) WHERE \(filter) ORDER BY \(unsafeRaw: order) LIMIT 50", f)
            // (The word's own matches are joined as PostgreSQL estimates best: on this small table, by hashing it.)
            for plan in [custom, generic] {
                #expect(plan.contains("Index Scan using lims_catalog_type_path on lims_objects"), "\(plan)")
                #expect(plan.contains("AND (path >= ") && plan.contains("AND (path < "), "\(plan)")
            }
        }
    }
}

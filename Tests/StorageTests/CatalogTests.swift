import FluentKit
import Foundation
import LIMSCore
import Logging
import PostgresStatements
import QueueCore
import SQLKit
import TestSupport
import Testing
@testable import LimsQueueCLI
@testable import Storage

/// The lab's catalog on the real store (SQLite, and PostgreSQL with LIMSQUEUE_TEST_BACKEND=postgres): listings
/// paged, filtered and sorted in SQL agree with a brute-force filter of the same data; a unit of work that reads
/// outside its working set fails; the step-by-step security walk follows the stored tree; an existing database
/// gets its catalog built by the migration.
@Suite("Lab catalog and working sets", .serialized)
struct CatalogTests {
    let now: Double = 1_767_225_600

    func open(_ directory: TemporaryDirectory) async throws -> StorageEnvironment {
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        return try await StorageEnvironment.open(dataDir: directory.path, database: try await TestDatabase.url(for: directory), logger: logger)
    }

    struct Lab: Sendable {
        let clients: [Client]
        let contacts: [Contact]
        let labman: User
        let rita: User
        /// An analyst: sees every object through a role token.
        let analyst: User
        /// A client user with the Owner local role on clients 1 and 2 (no contact link).
        let olga: User
        /// A client user with no local role anywhere: sees nothing.
        let nobody: User
        let samples: [Sample]
    }

    /// Three clients with a contact each, 90 samples (Cu, Fe) with distinct creation times, two thirds of them
    /// received, some with priority 1; rita is linked to the first client, olga holds Owner on the other two, anna
    /// is an analyst and nobody holds no role anywhere.
    func seed(_ environment: StorageEnvironment) async throws -> Lab {
        let now = self.now
        let lab = try await environment.lab.perform { state -> Lab in
            let uids = RandomUIDGenerator()
            let clients = (0..<3).map { state.createClient(name: "Client \($0)", clientID: "C\($0)", uids: uids, now: now) }
            let contacts = try clients.map { try state.createContact(in: $0.uid, firstname: "Contact", surname: $0.name, uids: uids, now: now) }
            let water = try state.createSampleType(title: "Water", prefix: "H2O", uids: uids, now: now)
            let soil = try state.createSampleType(title: "Soil", prefix: "SOI", uids: uids, now: now)
            let cu = try state.createAnalysisService(title: "Copper", keyword: "Cu", sortKey: 1, uids: uids, now: now)
            let fe = try state.createAnalysisService(title: "Iron", keyword: "Fe", sortKey: 2, uids: uids, now: now)
            let labman = try state.createUser(userid: "labman", roles: [.labManager], uids: uids, now: now)
            let rita = try state.createUser(userid: "rita", roles: [.client], uids: uids, now: now)
            let analyst = try state.createUser(userid: "anna", roles: [.analyst], uids: uids, now: now)
            let olga = try state.createUser(userid: "olga", roles: [.client], uids: uids, now: now)
            let nobody = try state.createUser(userid: "nobody", roles: [.client], uids: uids, now: now)
            for client in clients.dropFirst() {
                try state.modify(Client.self, client.uid) { $0.localRoles["olga", default: []].insert(.owner) }
            }
            var samples: [Sample] = []
            for index in 0..<90 {
                let sample = try state.createSample(
                    clientUID: clients[index % 3].uid, contactUID: contacts[index % 3].uid,
                    sampleTypeUID: index % 4 == 0 ? soil.uid : water.uid, serviceUIDs: index % 2 == 0 ? [cu.uid, fe.uid] : [fe.uid],
                    priority: index % 5 == 0 ? 1 : 3, clientSampleID: Self.clientSampleIDs[index % Self.clientSampleIDs.count],
                    uids: uids, now: now + Double((index * 37) % 90))
                if index % 3 != 2 {
                    _ = WorkflowEngine.doTransition("receive", on: sample.uid, context: TransitionContext(user: labman, uids: uids),
                                                    state: &state, now: now)
                }
                samples.append(sample)
            }
            try state.linkUser("rita", toContact: contacts[0].uid)
            return Lab(clients: clients, contacts: contacts, labman: labman, rita: rita, analyst: analyst, olga: olga,
                       nobody: nobody, samples: samples)
        }
        try await environment.lab.reindexSecurity(try await environment.lab.load().allObjects.map(\.uid))
        return lab
    }

    /// Client sample ids of the seeded samples, in turn (nil: none given).
    static let clientSampleIDs: [String?] = [nil, "RB-7", "River bank 7", "rb-70/ß", nil, "Brunnen Süd 0001", "WELL_12",
                                             "e\u{301}cole ΣΊΣΥΦΟΣ", "İstanbul ｆｕｌｌ"]

    /// Whether `object` matches a search text, written out for the test: a sample or worksheet when each word of the
    /// text (runs of letters and digits, without compatibility forms, case or accents) starts a word of its id,
    /// client sample id, or (a sample) its client's name or code (every one for a text without words); any other
    /// object when its id contains the text.
    static func matches(_ object: any LabObject, text: String, state: LabState) -> Bool {
        func words(_ text: String) -> [String] {
            text.precomposedStringWithCompatibilityMapping.folding(options: [.caseInsensitive, .diacriticInsensitive], locale: nil)
                .split { !($0.isLetter || $0.isNumber) }.map(String.init)
        }
        let texts: [String]
        switch object {
        case let sample as Sample:
            let client = state.clients[sample.clientUID]
            texts = [sample.id, sample.clientSampleID, client?.name, client?.clientID].compactMap { $0 }
        case let worksheet as Worksheet: texts = [worksheet.id]
        default: return object.id.lowercased().contains(text.lowercased())
        }
        let queryWords = words(text)
        if queryWords.isEmpty { return true } // no word to match: the search searches nothing
        let objectWords = texts.flatMap(words)
        return queryWords.allSatisfy { word in objectWords.contains { $0.hasPrefix(word) } }
    }

    /// The brute-force answer: every visible object of the type, filtered and sorted in Swift.
    static func bruteForce(_ query: CatalogQuery, state: LabState, visible: Set<String>) -> [String] {
        var objects = state.allObjects.filter { type(of: $0).portalType == query.portalType && visible.contains($0.uid) }
        if let states = query.reviewStates { objects = objects.filter { $0.workflowState.map(states.contains) ?? false } }
        if let clients = query.clientUIDs {
            objects = objects.filter { object in
                ((object as? Sample)?.clientUID ?? (object as? Contact)?.clientUID).map(clients.contains) ?? false
            }
        }
        if let services = query.serviceUIDs { objects = objects.filter { ($0 as? any AnalysisRecord).map { services.contains($0.serviceUID) } ?? false } }
        if let text = query.text, !text.isEmpty { objects = objects.filter { matches($0, text: text, state: state) } }
        objects.sort { lhs, rhs in
            switch query.sortOn {
            case .id: (lhs.id, lhs.path) < (rhs.id, rhs.path)
            case .created: (lhs.created, lhs.path) < (rhs.created, rhs.path)
            case .path: lhs.path < rhs.path
            }
        }
        if query.descending { objects.reverse() }
        return objects.map(\.uid)
    }

    @Test("listings page, filter and sort in SQL exactly as a brute-force filter of the same data")
    func listingsMatchBruteForce() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let environment = try await open(directory)
        let lab = try await seed(environment)
        let state = try await environment.lab.load()
        let cu = try #require(state.analysisServices.values.first { $0.keyword == "Cu" })
        var queries: [CatalogQuery] = []
        for sort in CatalogQuery.SortField.allCases {
            for descending in [false, true] {
                queries.append(CatalogQuery(portalType: .sample, sortOn: sort, descending: descending, limit: 7))
                queries.append(CatalogQuery(portalType: .sample, reviewStates: [ReviewState.sampleReceived], sortOn: sort,
                                            descending: descending, limit: 10))
            }
        }
        queries.append(CatalogQuery(portalType: .sample, clientUIDs: [lab.clients[1].uid], sortOn: .created, descending: true, limit: 5))
        queries.append(CatalogQuery(portalType: .sample, clientUIDs: [lab.clients[1].uid], text: "client", sortOn: .created, descending: true, limit: 5))
        // A client filter sorted by path or id (``CatalogClientScope``: the clients' path ranges; small clients read
        // by client and sorted): one client, two, one and an uid that is no client, with a state filter; contacts too.
        for clients: Set<String> in [[lab.clients[1].uid], [lab.clients[0].uid, lab.clients[2].uid], [lab.clients[2].uid, "no-such-client"]] {
            for sort in [CatalogQuery.SortField.path, .id] {
                for descending in [false, true] {
                    queries.append(CatalogQuery(portalType: .sample, clientUIDs: clients, sortOn: sort, descending: descending, limit: 4))
                    queries.append(CatalogQuery(portalType: .contact, clientUIDs: clients, sortOn: sort, descending: descending, limit: 2))
                }
                queries.append(CatalogQuery(portalType: .sample, reviewStates: [ReviewState.sampleReceived], clientUIDs: clients, sortOn: sort,
                                            limit: 3))
            }
        }
        queries.append(CatalogQuery(portalType: .sample, reviewStates: [ReviewState.sampleReceived], text: "client h2o", sortOn: .created, limit: 4))
        queries.append(CatalogQuery(portalType: .sample, text: "soi", sortOn: .id, limit: 4))
        // LIKE's wildcards and the escape character are searched literally: no id holds them.
        for text in ["%", "_", "!", "h2o%", "h_o"] { queries.append(CatalogQuery(portalType: .sample, text: text, sortOn: .id, limit: 4)) }
        // Types outside the search index compare ids: LIKE's wildcards and escape character are searched literally.
        for text in ["%", "_", "!", "c%", "c_", "cu", "U"] { queries.append(CatalogQuery(portalType: .analysis, text: text, sortOn: .id, limit: 9)) }
        // The search index: word prefixes of the id and the client sample id, every word needed, any case; each sort.
        for text in ["0001", "H2O-00", "h2o 0003", "00 h2o", "rb", "RB-7", "river 7", "bank", "süd", "SÜD 000", "ß", "well_1",
                     "12", "h2o-0001-x", "zz", "soil river", "école", "ECOLE", "σίσυφος", "istanbul full", "strasse", "--", "% _",
                     // A client's name or code: its samples (with the other words, of the sample or the client).
                     "client", "CLIENT 1", "c2", "client 2 h2o", "client 0001", "1", "c rb", "c0 c1", "client 1 river", "c0 soi 0"] {
            for sort in CatalogQuery.SortField.allCases {
                queries.append(CatalogQuery(portalType: .sample, text: text, sortOn: sort, descending: sort == .created, limit: 3))
            }
        }
        queries.append(CatalogQuery(portalType: .analysis, serviceUIDs: [cu.uid], sortOn: .id, limit: 8))
        // A state or service filter sorted by path or id (``CatalogDrive``: read by the filter's index and sorted).
        for sort in [CatalogQuery.SortField.path, .id] {
            for descending in [false, true] {
                queries.append(CatalogQuery(portalType: .analysis, reviewStates: ["unassigned"], sortOn: sort, descending: descending, limit: 9))
                queries.append(CatalogQuery(portalType: .analysis, reviewStates: ["unassigned", "registered"], serviceUIDs: [cu.uid],
                                            sortOn: sort, descending: descending, limit: 6))
                queries.append(CatalogQuery(portalType: .analysis, reviewStates: ["to_be_verified"], sortOn: sort, descending: descending, limit: 5))
                queries.append(CatalogQuery(portalType: .sample, reviewStates: [ReviewState.sampleReceived], clientUIDs: [lab.clients[0].uid],
                                            sortOn: sort, descending: descending, limit: 4))
            }
        }
        queries.append(CatalogQuery(portalType: .analysis, reviewStates: ["unassigned"], sortOn: .created, limit: 25))
        // What a client user's API lists ask by default (sorted by path), and the types outside clients.
        for type in [PortalType.analysis, .contact, .client, .analysisService, .user] {
            for sort in CatalogQuery.SortField.allCases {
                queries.append(CatalogQuery(portalType: type, sortOn: sort, descending: sort == .created, limit: 11))
            }
        }
        for user in [lab.labman, lab.rita, lab.analyst, lab.olga, lab.nobody] {
            let visible = Set(state.allObjects.map(\.uid).filter { uid in
                user.isLabManager || !state.allowedRolesAndUsers(of: uid).isDisjoint(with: Set(user.roles.map(\.rawValue) + ["user:\(user.userid)"]))
            })
            for query in queries {
                let expected = Self.bruteForce(query, state: state, visible: visible)
                var collected: [String] = []
                var page = query
                while true {
                    let answer = try await environment.lab.catalog(page, visibleTo: user)
                    #expect(answer.total == expected.count, "total of \(query) for \(user.userid)")
                    collected += answer.uids
                    if answer.uids.count < page.limit { break }
                    page.offset += page.limit
                }
                #expect(collected == expected, "pages of \(query) for \(user.userid)")
                // As a large lab reads a filter of more than ``CatalogDrive/smallListing`` objects (the sort index
                // walked, or a client's path ranges; counted through the filter's index): the same pages.
                if query.sortOn != .created, query.text == nil {
                    let first = try await environment.lab.catalog(query, visibleTo: user, smallListing: 0)
                    #expect(first.uids == Array(expected.prefix(query.limit)) && first.total == expected.count,
                            "large-filter page of \(query) for \(user.userid)")
                }
            }
        }
        await environment.close()
    }

    @Test("a client user's listings reach only the clients carrying its token; lab staff reach everything")
    func reachOfUsers() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let environment = try await open(directory)
        let lab = try await seed(environment)
        let sql = try environment.lab.sql
        func subtree(_ client: Client) -> CatalogReach.ClientSubtree { .init(uid: client.uid, path: client.path) }
        let views = RolePermissionMap.senaiteDefault.roles(for: .view)
        #expect(try await CatalogReach.of(lab.labman, viewRoles: views, on: sql) == .everywhere)
        #expect(try await CatalogReach.of(lab.analyst, viewRoles: views, on: sql) == .everywhere)
        #expect(try await CatalogReach.of(lab.rita, viewRoles: views, on: sql) == .clients([subtree(lab.clients[0])]))
        #expect(try await CatalogReach.of(lab.olga, viewRoles: views, on: sql) == .clients(lab.clients.dropFirst().map(subtree).sorted { $0.path < $1.path }))
        #expect(try await CatalogReach.of(lab.nobody, viewRoles: views, on: sql) == .clients([]))
        await environment.close()
    }

    @Test("a filter holding most of its type's objects does not drive a listing (its walk is cheaper); a rare one does; pages alike")
    func denseFiltersWalk() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let environment = try await open(directory)
        let lab = try await seed(environment)
        let sql = try environment.lab.sql
        guard !SQLQueueStore.isPostgres(sql) else { await environment.close(); return } // the drive is SQLite's
        // 60 of 90 samples received: dense (at least 1 in 4); no sample to be verified: nothing to check.
        let received = CatalogQuery(portalType: .sample, reviewStates: [ReviewState.sampleReceived], sortOn: .id, limit: 7)
        let dense = try #require(try await CatalogDrive.of(received, searched: false, reach: .everywhere, bound: 100, denseFrom: 10, on: sql))
        #expect(dense.isDense && dense.small == nil && dense.drivers.first?.count == 60)
        let rare = CatalogQuery(portalType: .sample, reviewStates: [ReviewState.toBeVerified], sortOn: .path, limit: 7)
        let sparse = try #require(try await CatalogDrive.of(rare, searched: false, reach: .everywhere, bound: 100, denseFrom: 10, on: sql))
        #expect(!sparse.isDense && sparse.small?.count == 0)
        // A dense filter's page walks the sort index (no `c`); its count still reads through the filter.
        let views = RolePermissionMap.senaiteDefault.roles(for: .view)
        let page = SQLLabStore.catalogSelection(received, search: CatalogSearch(words: []), user: lab.labman, viewRoles: views,
                                                reach: .everywhere, streamLimit: 7, drive: dense)
        let source = sql.serialize(page.source).sql
        #expect(source == "lims_objects o", "\(source)")
        let sparseSource = sql.serialize(SQLLabStore.catalogSelection(rare, search: CatalogSearch(words: []), user: lab.labman, viewRoles: views,
                                                                      reach: .everywhere, streamLimit: 7, drive: sparse).source).sql
        #expect(sparseSource.contains("lims_objects c CROSS JOIN lims_objects o"), "\(sparseSource)")
        #expect(dense.counting(received, filter: "1 = 1") != nil)
        // The pages answer the same either way.
        let walked = try await environment.lab.catalog(received, visibleTo: lab.labman, smallListing: 0)
        let driven = try await environment.lab.catalog(received, visibleTo: lab.labman)
        #expect(walked.uids == driven.uids && walked.total == driven.total && walked.uids.count == 7)
        await environment.close()
    }

    @Test("page totals are exact up to the count window past the page and an honest lower bound beyond it")
    func cappedTotalsMatchBruteForce() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let environment = try await open(directory)
        let lab = try await seed(environment)
        let state = try await environment.lab.load()
        for user in [lab.labman, lab.rita] {
            let visible = Set(state.allObjects.map(\.uid).filter { uid in
                user.isLabManager || !state.allowedRolesAndUsers(of: uid).isDisjoint(with: Set(user.roles.map(\.rawValue) + ["user:\(user.userid)"]))
            })
            for window in [0, 3, 25] {
                for base in [CatalogQuery(portalType: .sample, sortOn: .created, descending: true, limit: 7),
                             CatalogQuery(portalType: .sample, reviewStates: [ReviewState.sampleReceived], sortOn: .created, limit: 10),
                             CatalogQuery(portalType: .sample, clientUIDs: [lab.clients[0].uid], sortOn: .id, limit: 4)] {
                    let expected = Self.bruteForce(base, state: state, visible: visible)
                    var query = base
                    query.countWindow = window
                    // Every page, and one past the last.
                    for offset in stride(from: 0, through: expected.count + base.limit, by: base.limit) {
                        query.offset = offset
                        let answer = try await environment.lab.catalog(query, visibleTo: user)
                        let label = "\(user.userid) window \(window) offset \(offset) of \(base)"
                        #expect(answer.uids == Array(expected.dropFirst(offset).prefix(base.limit)), "\(label)")
                        let bound = offset + base.limit + window
                        if expected.count <= bound {
                            #expect(answer.totalIsExact && answer.total == expected.count, "\(label)")
                        } else {
                            #expect(!answer.totalIsExact && answer.total == bound && expected.count > answer.total, "\(label)")
                            #expect(answer.pageCount(pageSize: base.limit) > offset / base.limit + 1, "a next page: \(label)")
                        }
                    }
                    // Far past the end: the total counts at most the past-the-end cap (here 5), then is a lower bound.
                    query.offset = 1_000_000
                    let far = try await environment.lab.catalog(query, visibleTo: user, smallListing: CatalogDrive.smallListing, pastEndCount: 5)
                    #expect(far.uids.isEmpty, "\(user.userid) far past \(base)")
                    #expect(expected.count <= 5 ? far.totalIsExact && far.total == expected.count : !far.totalIsExact && far.total == 5,
                            "\(user.userid) far past \(base): \(far.total) \(far.totalIsExact) of \(expected.count)")
                }
            }
        }
        await environment.close()
    }

    @Test("analysis counts per sample, read in the catalog, equal the analyses a working set holds; unknown samples are absent")
    func analysisCounts() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let environment = try await open(directory)
        let lab = try await seed(environment)
        let whole = try await environment.lab.load()
        let uids = lab.samples.map(\.uid) + [lab.samples[0].uid, "no-such-sample"]
        let counts = try await environment.lab.analysisCounts(ofSamples: uids)
        #expect(counts.count == lab.samples.count && counts["no-such-sample"] == nil)
        for sample in lab.samples {
            #expect(counts[sample.uid] == whole.analyses(ofSample: sample.uid).count && counts[sample.uid]! >= 1, "\(sample.id)")
        }
        #expect(Set(counts.values) == [1, 2], "the seeded samples have 1 (Fe) or 2 (Cu, Fe) analyses")
        await environment.close()
    }

    @Test("reads by uid list answer each object once: lists padded to powers of two or one array bind, across slices, with unknown uids")
    func uidListReads() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let environment = try await open(directory)
        let lab = try await seed(environment)
        let sql = try environment.lab.sql
        let known = lab.samples.map(\.uid) + lab.clients.map(\.uid)
        // Each side of the array threshold (PostgreSQL) and of the slice size.
        for count in [1, 2, 3, 5, 8, 9, 16, 17, 93, 511, 512, 513, 1_100] {
            let list = Array((known + (0..<count).map { "missing-\($0)" }).prefix(count))
            // Past the prepared-statement threshold on PostgreSQL: the later reads run prepared.
            for _ in 0...PreparedStatementRegistry.threshold {
                let rows = try await SQLLabReader.rows(in: list, { "SELECT uid FROM lims_objects WHERE uid \($0)" }, on: sql)
                let found = try rows.map { try $0.decode(column: "uid", as: String.self) }
                #expect(found.count == Set(found).count && Set(found) == Set(list).intersection(known), "\(count)")
            }
        }
        #expect([0, 1, 2, 3, 5, 512, 513].map(SQLLabReader.paddedCount) == [1, 1, 2, 4, 8, 512, 1_024])
        await environment.close()
    }

    @Test("a unit of work that reads an object it did not load fails and writes nothing")
    func readOutsideTheWorkingSetFails() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let environment = try await open(directory)
        let lab = try await seed(environment)
        let (mine, other) = (lab.samples[0], lab.samples[1])
        await #expect {
            try await environment.lab.perform { state, reader in
                try await reader.load([mine.uid], into: &state)
                try state.modify(Sample.self, mine.uid) { $0.priority = 5 }
                _ = state.samples[other.uid] // never loaded
            }
        } throws: { error in (error as? LabError)?.code == .outsideWorkingSet }
        let after = try await environment.lab.load()
        #expect(after.samples[mine.uid]?.priority == mine.priority)
        // The same unit of work with its read declared passes.
        try await environment.lab.perform { state, reader in
            try await reader.load([mine.uid, other.uid], into: &state)
            try state.modify(Sample.self, mine.uid) { $0.priority = 5 }
            _ = state.samples[other.uid]
        }
        #expect(try await environment.lab.load().samples[mine.uid]?.priority == 5)
        await environment.close()
    }

    @Test("two units of work creating samples at once never conflict over the id counter; ids stay unique")
    func idCountersAreReserved() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let environment = try await open(directory)
        let lab = try await seed(environment)
        let water = try #require(try await environment.lab.load().sampleTypes.values.first { $0.prefix == "H2O" })
        let fe = try #require(try await environment.lab.load().analysisServices.values.first { $0.keyword == "Fe" })
        let ids = try await withThrowingTaskGroup(of: [String].self) { group in
            for worker in 0..<4 {
                group.addTask {
                    var ids: [String] = []
                    for _ in 0..<5 {
                        ids.append(try await environment.lab.perform(maxRetries: 0, { state, reader -> String in
                            let contact = lab.contacts[worker % 3]
                            try await reader.load([contact.uid], into: &state)
                            return try state.createSample(clientUID: contact.clientUID, contactUID: contact.uid, sampleTypeUID: water.uid,
                                                          serviceUIDs: [fe.uid], uids: RandomUIDGenerator(), now: now).id
                        }))
                    }
                    return ids
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(ids.count == 20 && Set(ids).count == 20)
        await environment.close()
    }

    @Test("the step-by-step security walk over the stored tree gives the whole-lab post-order")
    func storedWalk() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let environment = try await open(directory)
        let lab = try await seed(environment)
        let state = try await environment.lab.load()
        let expected = SecurityWalk.order(from: lab.clients[0].uid, in: state)
        var walked: [String] = []
        var cursor: SecurityWalkCursor?
        repeat {
            let chunk = try await SecurityWalk.chunk(from: lab.clients[0].uid, cursor: cursor, size: 10, tree: try environment.lab.securityTree)
            walked += chunk.uids
            cursor = chunk.cursor
        } while cursor != nil && walked.count <= expected.count
        #expect(walked == expected)
        await environment.close()
    }

    @Test("the migration builds the catalog of a database that had none")
    func migrationBuildsTheCatalog() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let environment = try await open(directory)
        let lab = try await seed(environment)
        let query = CatalogQuery(portalType: .sample, reviewStates: [ReviewState.sampleReceived], sortOn: .id, limit: 200)
        let before = try await environment.lab.catalog(query, visibleTo: lab.labman)
        let sql = try #require(environment.databases.database(logger: environment.logger, on: environment.eventLoopGroup.any())).sqlDatabase()
        try await sql.raw("""
            UPDATE lims_objects SET object_id = NULL, client_uid = NULL, sample_uid = NULL, worksheet_uid = NULL,
                service_uid = NULL, lookup_key = NULL, sort_key = NULL
            """).run()
        #expect(try await environment.lab.catalog(query, visibleTo: lab.labman).uids != before.uids)
        try await AddLabCatalog().backfill(sql)
        #expect(try await environment.lab.catalog(query, visibleTo: lab.labman) == before)
        await environment.close()
    }

    @Test("the lean-index migration keeps only user tokens; every user's listings answer as before it")
    func leanIndexMigration() async throws {
        try await withSeededDatabase { environment, lab, database, sql in
            func count(_ condition: String) async throws -> Int {
                try await sql.raw("SELECT COUNT(*) AS n FROM lims_security WHERE \(unsafeRaw: condition)").first()?.decode(column: "n", as: Int.self) ?? -1
            }
            let users = [lab.labman, lab.rita, lab.analyst, lab.olga, lab.nobody]
            let queries = [CatalogQuery(portalType: .sample, sortOn: .created, limit: 500), CatalogQuery(portalType: .analysis, limit: 500)]
            var before: [CatalogPage] = []
            for user in users { for query in queries { before.append(try await environment.lab.catalog(query, visibleTo: user)) } }
            #expect(try await count("SUBSTR(token, 1, 5) <> 'user:'") == 0, "writes store no role names")
            let userRows = try await count("1 = 1")
            #expect(userRows > 0)
            // A database of schema 5: role rows on every object.
            try await LeanLabIndexes().revert(on: database)
            #expect(try await count("SUBSTR(token, 1, 5) <> 'user:'") > 0)
            try await LeanLabIndexes().prepare(on: database)
            #expect(try await count("SUBSTR(token, 1, 5) <> 'user:'") == 0)
            #expect(try await count("1 = 1") == userRows)
            var after: [CatalogPage] = []
            for user in users { for query in queries { after.append(try await environment.lab.catalog(query, visibleTo: user)) } }
            #expect(after == before)
            #expect(try await environment.lab.securityTokens(of: lab.samples[0].uid).contains("Analyst"))
        }
    }

    @Test("the stamp-index migration drops lims_objects_seq and revert restores it; writes and reads work either way")
    func stampIndexMigration() async throws {
        try await withSeededDatabase { environment, lab, database, sql in
            func hasIndex() async throws -> Bool {
                let catalog: SQLQueryString = SQLQueueStore.isPostgres(sql)
                    ? "SELECT COUNT(*) AS n FROM pg_indexes WHERE indexname = 'lims_objects_seq'"
                    : "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'index' AND name = 'lims_objects_seq'"
                return try await sql.raw(catalog).first()?.decode(column: "n", as: Int.self) == 1
            }
            #expect(try await !hasIndex())
            try await DropLabStampIndex().revert(on: database)
            #expect(try await hasIndex())
            try await DropLabStampIndex().prepare(on: database)
            #expect(try await !hasIndex())
            // Every write still stamps its row.
            let query = CatalogQuery(portalType: .sample, sortOn: .created, limit: 500)
            #expect(try await environment.lab.catalog(query, visibleTo: lab.labman).uids.count == lab.samples.count)
            let unstamped = try await sql.raw("SELECT COUNT(*) AS n FROM lims_objects WHERE seq IS NULL OR seq < 1").first()?
                .decode(column: "n", as: Int.self)
            #expect(unstamped == 0)
        }
    }

    @Test("the id index migration makes lims_catalog_type_id (portal_type, object_id, path); revert makes it narrow again; listings by id answer the same")
    func idIndexMigration() async throws {
        try await withSeededDatabase { environment, lab, database, sql in
            func definition() async throws -> String {
                let catalog: SQLQueryString = SQLQueueStore.isPostgres(sql)
                    ? "SELECT indexdef AS d FROM pg_indexes WHERE indexname = 'lims_catalog_type_id'"
                    : "SELECT sql AS d FROM sqlite_master WHERE type = 'index' AND name = 'lims_catalog_type_id'"
                return try await sql.raw(catalog).first()?.decode(column: "d", as: String.self) ?? ""
            }
            func byID() async throws -> [String] {
                var pages: [String] = []
                for type in [PortalType.sample, .analysis] {
                    for descending in [false, true] {
                        let query = CatalogQuery(portalType: type, sortOn: .id, descending: descending, limit: 500)
                        pages += try await environment.lab.catalog(query, visibleTo: lab.labman).uids
                    }
                }
                return pages
            }
            let widened = try await definition()
            #expect(widened.contains("portal_type, object_id, path"), "\(widened)")
            let wide = try await byID()
            try await WidenIDCatalogIndex().revert(on: database)
            let narrow = try await definition()
            #expect(narrow.contains("portal_type, object_id)"), "\(narrow)")
            #expect(try await byID() == wide)
            try await WidenIDCatalogIndex().prepare(on: database)
            #expect(try await definition().contains("portal_type, object_id, path"))
            #expect(try await byID() == wide && wide.count > lab.samples.count * 2)
        }
    }

    @Test("the partial-index migration leaves objects without the column out of six catalog indexes; revert makes them whole; listings answer the same")
    func partialIndexMigration() async throws {
        try await withSeededDatabase { environment, lab, database, sql in
            func partial() async throws -> [String: Bool] {
                var result: [String: Bool] = [:]
                for index in PartialCatalogIndexes.indexes {
                    let catalog: SQLQueryString = SQLQueueStore.isPostgres(sql)
                        ? "SELECT indexdef AS text FROM pg_indexes WHERE indexname = \(bind: index.name)"
                        : "SELECT sql AS text FROM sqlite_master WHERE type = 'index' AND name = \(bind: index.name)"
                    let text = try #require(try await sql.raw(catalog).first()?.decode(column: "text", as: String.self))
                    result[index.name] = text.contains("WHERE")
                }
                return result
            }
            func listings() async throws -> [[String]] {
                let client = lab.clients[0].uid
                return [
                    try await environment.lab.catalog(CatalogQuery(portalType: .sample, clientUIDs: [client], sortOn: .created, limit: 500),
                                                      visibleTo: lab.labman).uids,
                    try await environment.lab.catalog(CatalogQuery(portalType: .analysis, sortOn: .created, limit: 500),
                                                      visibleTo: lab.labman).uids,
                    try await environment.lab.catalog(CatalogQuery(portalType: .sample, sortOn: .created, limit: 500),
                                                      visibleTo: lab.rita).uids,
                ]
            }
            #expect(try await partial().values.allSatisfy { $0 })
            let before = try await listings()
            #expect(before.allSatisfy { !$0.isEmpty })
            try await PartialCatalogIndexes().revert(on: database)
            #expect(try await partial().values.allSatisfy { !$0 })
            #expect(try await listings() == before)
            try await PartialCatalogIndexes().prepare(on: database)
            #expect(try await partial().values.allSatisfy { $0 })
            #expect(try await listings() == before)
            // The six indexes hold only the objects that set their column.
            if !SQLQueueStore.isPostgres(sql) {
                let entries = try await sql.raw("SELECT COUNT(*) AS n FROM lims_objects INDEXED BY lims_catalog_client WHERE client_uid IS NOT NULL").first()?
                    .decode(column: "n", as: Int.self)
                #expect(entries == lab.samples.count + lab.contacts.count, "samples and contacts carry a client")
            }
        }
    }

    @Test("the search index migration fills the index from stored samples; saves keep it: new samples, a changed client sample id, a deletion")
    func searchIndexMigrationAndWrites() async throws {
        try await withSeededDatabase { environment, lab, database, sql in
            func search(_ text: String) async throws -> [String] {
                try await environment.lab.catalog(CatalogQuery(portalType: .sample, text: text, sortOn: .created, descending: true, limit: 500),
                                                  visibleTo: lab.labman).uids
            }
            func rowCount() async throws -> Int {
                try await sql.raw("SELECT COUNT(*) AS n FROM lims_search").first()?.decode(column: "n", as: Int.self) ?? -1
            }
            // A search of several words reads the index by the word with the fewest entries (23 soil samples, 67 water).
            #expect(SearchWords.query("h2o soi") == ["h2o", "soi"])
            #expect(try await SQLLabStore.rarestFirst(CatalogSearch(words: ["h2o", "soi"]), of: .sample, on: sql) == (["soi", "h2o"], ["h2o": 67, "soi": 23]))
            #expect(try await SQLLabStore.rarestFirst(CatalogSearch(words: ["h2o", "zz", "soi"]), of: .sample, on: sql) == (["zz", "h2o", "soi"], ["h2o": 67, "zz": 0]))
            // A search of very many words uses its 8 longest: one statement both databases plan at once (40 words took
            // PostgreSQL 2.4 s to plan; SQLite refused 1,100 as too deep).
            let many = (0..<1_500).map { "w\($0)" }.joined(separator: " ")
            #expect(SearchWords.query(many) == (1_000..<1_008).map { "w\($0)" }) // longest first, then in order
            #expect(try await search(many).isEmpty)
            #expect(try await search("h2o 0001 " + (0..<40).map { "0\($0)" }.joined(separator: " ")).isEmpty)
            let texts = ["0001", "h2o", "river 7", "rb-7", "süd", "well", "client 1", "c2 h2o"]
            var before: [[String]] = []
            for text in texts { before.append(try await search(text)) }
            #expect(before.allSatisfy { !$0.isEmpty }, "\(before)")
            let state = try await environment.lab.load()
            let sampleRows = state.samples.values.map { SearchWords.tokens(of: $0)?.count ?? 0 }.reduce(0, +)
            let clientRows = state.clients.values.map { SearchWords.tokens(of: $0)?.count ?? 0 }.reduce(0, +)
            #expect(clientRows == 3 * 8) // c, cl, cli, clie, clien, client, 0, c0
            let expectedRows = sampleRows + clientRows
            #expect(try await rowCount() == expectedRows)
            try await AddSearchIndex().revert(on: database)
            try await AddSearchIndex().prepare(on: database)
            #expect(try await rowCount() == sampleRows)
            #expect(try await search("client").isEmpty) // clients' words come with limsqueue-0015
            try await AddClientSearchWords().prepare(on: database)
            try await AddClientSearchWords().prepare(on: database) // safe over itself
            #expect(try await rowCount() == expectedRows)
            for (text, uids) in zip(texts, before) { #expect(try await search(text) == uids, "\(text) after the migration") }
            // Rows a node of an older version never wrote come back with a rebuild.
            try await sql.raw("DELETE FROM lims_search WHERE token = 'h2o'").run()
            #expect(try await search("h2o").isEmpty)
            #expect(try await environment.lab.rebuildSearchIndex() == expectedRows)
            for (text, uids) in zip(texts, before) { #expect(try await search(text) == uids, "\(text) after the rebuild") }

            // A changed client sample id replaces the sample's rows; a transition leaves them.
            let sample = lab.samples[0]
            try await environment.lab.perform { state in
                try state.modify(Sample.self, sample.uid) { $0.clientSampleID = "Lake Constance 42" }
            }
            #expect(try await search("constance 4") == [sample.uid])
            #expect(try await search("0001").contains(sample.uid) == (sample.id.hasSuffix("-0001")))
            // Deleted: its rows go with it.
            try await environment.lab.perform { state in _ = state.delete(sample.uid) }
            #expect(try await search("lake").isEmpty)
            let left = try await sql.raw("SELECT COUNT(*) AS n FROM lims_search WHERE uid = \(bind: sample.uid)").first()?.decode(column: "n", as: Int.self)
            #expect(left == 0)

            // A renamed client: its samples are found by the new name, not the old; the rows of one object change.
            let renamed = lab.clients[1]
            let ofRenamed = try await environment.lab.load().samples.values.filter { $0.clientUID == renamed.uid }
                .sorted { $0.created > $1.created }.map(\.uid)
            #expect(try await search("c1") == ofRenamed) // its code
            try await environment.lab.perform { state in try state.modify(Client.self, renamed.uid) { $0.name = "Zephyr Wells" } }
            #expect(try await search("zephyr") == ofRenamed)
            #expect(try await search("zephyr wel") == ofRenamed)
            #expect(try await search("c1") == ofRenamed)
            #expect(Set(try await search("client")).isDisjoint(with: ofRenamed))
            try await AddClientSearchWords().revert(on: database)
            #expect(try await search("zephyr").isEmpty)
            try await AddClientSearchWords().prepare(on: database)
            #expect(try await search("zephyr") == ofRenamed)
        }
    }

    @Test("a word naming more clients than the page reads as streams of their own (33) pages through them all, newest first")
    func searchOfManyClients() async throws {
        try await withSeededDatabase { environment, lab, _, _ in
            let now = self.now
            let made = try await environment.lab.perform { state -> [Sample] in
                let uids = RandomUIDGenerator()
                let water = try #require(state.sampleTypes.values.first { $0.prefix == "H2O" })
                let fe = try #require(state.analysisServices.values.first { $0.keyword == "Fe" })
                var made: [Sample] = []
                for index in 0..<(CatalogSearch.maxClientStreams + 3) {
                    let client = state.createClient(name: "Acme \(index)", clientID: "AC\(index)", uids: uids, now: now)
                    let contact = try state.createContact(in: client.uid, firstname: "A", surname: "B", uids: uids, now: now)
                    for copy in 0..<2 {
                        made.append(try state.createSample(clientUID: client.uid, contactUID: contact.uid, sampleTypeUID: water.uid,
                                                           serviceUIDs: [fe.uid], uids: uids, now: now + 1_000 + Double(index * 2 + copy)))
                    }
                }
                return made
            }
            let newestFirst = made.sorted { $0.created > $1.created }.map(\.uid)
            for descending in [true, false] {
                var collected: [String] = []
                var page = CatalogQuery(portalType: .sample, text: "ACME", sortOn: .created, descending: descending, limit: 7)
                while true {
                    let answer = try await environment.lab.catalog(page, visibleTo: lab.labman)
                    #expect(answer.total == made.count)
                    collected += answer.uids
                    if answer.uids.count < page.limit { break }
                    page.offset += page.limit
                }
                #expect(collected == (descending ? newestFirst : newestFirst.reversed()))
            }
            // With a word of the samples: both must match.
            let first = try #require(made.first)
            let answer = try await environment.lab.catalog(CatalogQuery(portalType: .sample, text: "acme \(first.id)", sortOn: .created,
                                                                        descending: true, limit: 50), visibleTo: lab.labman)
            #expect(answer.uids == [first.uid])
        }
    }

    /// A seeded lab on a fresh database, with the database to run a migration's `prepare` and `revert` on; closed
    /// afterwards.
    func withSeededDatabase(_ body: (StorageEnvironment, Lab, any Database, any SQLDatabase) async throws -> Void) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let environment = try await open(directory)
        do {
            let lab = try await seed(environment)
            let database = try #require(environment.databases.database(logger: environment.logger, on: environment.eventLoopGroup.any()))
            try await body(environment, lab, database, try database.sqlDatabase())
        } catch {
            await environment.close()
            throw error
        }
        await environment.close()
    }
}

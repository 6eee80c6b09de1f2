import Foundation
import LIMSCore
import Logging
import QueueCore
@testable import Storage
import TestSupport
import Testing
@testable import LimsQueueCLI

/// LIMS objects on the real SQLite store: round trips, versions, conflict control, the security index.
@Suite("LIMS store on SQLite", .serialized)
struct LabStoreTests {
    let now: Double = 1_767_225_600
    let uids = RandomUIDGenerator()

    func open(_ directory: TemporaryDirectory) async throws -> StorageEnvironment {
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        return try await StorageEnvironment.open(dataDir: directory.path, database: try await TestDatabase.url(for: directory), logger: logger)
    }

    struct Seeded: Sendable {
        let client: Client
        let other: Client
        let contact: Contact
        let sample: Sample
        let otherSample: Sample
    }

    /// Two clients, a contact, two samples with Cu/Fe analyses, a lab manager and a client user.
    func seed(_ environment: StorageEnvironment) async throws -> Seeded {
        let uids = self.uids, now = self.now
        return try await environment.lab.perform { state in
            let client = state.createClient(name: "Happy Hills", clientID: "HH", uids: uids, now: now)
            let other = state.createClient(name: "Klaymore", clientID: "KL", uids: uids, now: now)
            let contact = try state.createContact(in: client.uid, firstname: "Rita", surname: "Mohale", uids: uids, now: now)
            let otherContact = try state.createContact(in: other.uid, firstname: "Ken", surname: "Lay", uids: uids, now: now)
            let water = try state.createSampleType(title: "Water", prefix: "H2O", uids: uids, now: now)
            let cu = try state.createAnalysisService(title: "Copper", keyword: "Cu", unit: "mg/L", sortKey: 1, uids: uids, now: now)
            let fe = try state.createAnalysisService(title: "Iron", keyword: "Fe", unit: "mg/L", sortKey: 2, uids: uids, now: now)
            _ = try state.createUser(userid: "labman", roles: [.labManager], uids: uids, now: now)
            _ = try state.createUser(userid: "rita", roles: [.client], uids: uids, now: now)
            let sample = try state.createSample(clientUID: client.uid, contactUID: contact.uid, sampleTypeUID: water.uid,
                                                serviceUIDs: [cu.uid, fe.uid], uids: uids, now: now)
            let otherSample = try state.createSample(clientUID: other.uid, contactUID: otherContact.uid, sampleTypeUID: water.uid,
                                                     serviceUIDs: [cu.uid], uids: uids, now: now)
            return Seeded(client: client, other: other, contact: contact, sample: sample, otherSample: otherSample)
        }
    }

    /// One environment (one process) with a seeded lab, closed afterwards.
    func withOneProcess(_ body: (StorageEnvironment, Seeded) async throws -> Void) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let environment = try await open(directory)
        do {
            try await body(environment, try await seed(environment))
        } catch {
            await environment.close()
            throw error
        }
        await environment.close()
    }

    /// Two environments on one database (two processes), a seeded lab, both closed afterwards.
    func withTwoProcesses(_ body: (StorageEnvironment, StorageEnvironment, Seeded) async throws -> Void) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let first = try await open(directory)
        let second = try await open(directory)
        let seeded: Seeded
        do {
            seeded = try await seed(first)
            try await body(first, second, seeded)
        } catch {
            await first.close()
            await second.close()
            throw error
        }
        await first.close()
        await second.close()
    }

    @Test("objects, counters and versions survive a restart; ids come from the sample type prefix")
    func roundTrip() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let first = try await open(directory)
        let seeded = try await seed(first)
        #expect(seeded.sample.id == "H2O-0001" && seeded.otherSample.id == "H2O-0002")
        #expect(seeded.sample.path == "/senaite/clients/client-1/H2O-0001")
        await first.close()
        let second = try await open(directory)
        let state = try await second.lab.load()
        #expect(state.samples.count == 2 && state.analyses.count == 3 && state.clients.count == 2)
        #expect(state.samples[seeded.sample.uid]?.version == 1)
        #expect(state.counters["AnalysisRequest:H2O"] == 2)
        let uids = self.uids, now = self.now
        let third = try await second.lab.perform { state in
            let water = state.sampleTypes.values.first!
            let cu = state.analysisServices.values.first { $0.keyword == "Cu" }!
            return try state.createSample(clientUID: seeded.client.uid, contactUID: seeded.contact.uid,
                                          sampleTypeUID: water.uid, serviceUIDs: [cu.uid], uids: uids, now: now)
        }
        #expect(third.id == "H2O-0003")
        try await second.lab.perform { state in
            try state.modify(Client.self, seeded.client.uid) { $0.name = "Happy Hills Ltd" }
        }
        #expect(try await second.lab.load().clients[seeded.client.uid]?.version == 2)
        await second.close()
    }

    @Test("lab reads have connections of their own: they answer while a write transaction holds the writer's connection")
    func readsBesideTheWriter() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let environment = try await open(directory)
        let (entered, enter) = AsyncStream<Void>.makeStream()
        let (released, release) = AsyncStream<Void>.makeStream()
        do {
            _ = try await seed(environment)
            let holder = Task {
                try await environment.store.writer.write { _ in
                    enter.yield()
                    for await _ in released { break }
                }
            }
            for await _ in entered { break }
            // Every reader in turn, twice: a reader on the writer's connection would wait for it (10 s, then fail).
            for _ in 0..<(2 * StorageEnvironment.labReaderCount) {
                #expect(try await environment.lab.user(named: "labman")?.userid == "labman")
            }
            release.yield()
            try await holder.value
        } catch {
            release.yield()
            await environment.close()
            throw error
        }
        await environment.close()
    }

    @Test("two processes change one object at once: the loser retries from a fresh load; both changes land")
    func concurrentWriters() async throws {
        try await withTwoProcesses { first, second, seeded in
            async let a: Void = first.lab.perform { state in
                try state.modify(Client.self, seeded.client.uid) { $0.email = "a@example.org" }
            }
            async let b: Void = second.lab.perform { state in
                try state.modify(Client.self, seeded.client.uid) { $0.clientID = "HH-2" }
            }
            _ = try await (a, b)
            let client = try #require(try await first.lab.load().clients[seeded.client.uid])
            #expect(client.email == "a@example.org" && client.clientID == "HH-2" && client.version == 3)
        }
    }

    @Test("one setup check per request: later reads of the request reuse it; its own setup change and a conflict read fresh; the next request sees other processes' changes")
    func oneSetupCheckPerRequest() async throws {
        try await withTwoProcesses { first, second, _ in
            let rita = try #require(try await first.lab.user(named: "rita"))
            try await first.lab.withOneSetupCheck {
                #expect(try await first.lab.user(named: "rita")?.email == rita.email)
                // Another process changes a setup object (a task of its own: a request's scope is task-local): this
                // request keeps the setup it began with.
                try await Task.detached {
                    try await second.lab.perform { state in
                        try state.modify(User.self, rita.uid) { $0.email = "rita@elsewhere.example" }
                    }
                }.value
                #expect(try await first.lab.user(named: "rita")?.email == rita.email)
                // This request changes the same user: its stale copy conflicts, the retry reads fresh, and the
                // request reads its own change back.
                try await first.lab.perform { state, _ in
                    try state.modify(User.self, rita.uid) { $0.fullname = "Rita R." }
                }
                let mine = try #require(try await first.lab.user(named: "rita"))
                #expect(mine.fullname == "Rita R." && mine.email == "rita@elsewhere.example")
            }
            // The next request of the other process sees both changes.
            try await second.lab.withOneSetupCheck {
                let seen = try #require(try await second.lab.user(named: "rita"))
                #expect(seen.fullname == "Rita R." && seen.email == "rita@elsewhere.example")
            }
        }
    }

    @Test("a unit of work that always loses is retried 3 times, then fails cleanly and writes nothing")
    func conflictGivesUp() async throws {
        try await withTwoProcesses { mine, theirs, seeded in
            let attempts = AttemptCounter()
            await #expect(throws: ConflictError.self) {
                try await mine.lab.perform { state in
                    attempts.increment()
                    try state.modify(Client.self, seeded.client.uid) { $0.name = "mine" }
                    // Someone else writes the same client after we read it, every time.
                    try await theirs.lab.perform { other in
                        try other.modify(Client.self, seeded.client.uid) { $0.email = "theirs-\(attempts.value)@example.org" }
                    }
                }
            }
            #expect(attempts.value == 4)
            let client = try #require(try await mine.lab.load().clients[seeded.client.uid])
            #expect(client.name == "Happy Hills" && client.email == "theirs-4@example.org" && client.version == 5)
        }
    }

    @Test("two concurrent transactions on one worksheet: the loser is retried and both analyses end on the worksheet")
    func concurrentWorksheet() async throws {
        try await withTwoProcesses { first, second, seeded in
            let uids = self.uids, now = self.now
            let worksheet = try await first.lab.perform { state -> Worksheet in
                let manager = state.user(named: "labman")!
                for sample in [seeded.sample.uid, seeded.otherSample.uid] {
                    if case .refused(let guardID, let reason) = WorkflowEngine.doTransition(
                        "receive", on: sample, context: TransitionContext(user: manager, uids: uids), state: &state, now: now) {
                        throw LabError(.refused, "\(guardID): \(reason)")
                    }
                }
                return try state.createWorksheet(analyst: "labman", uids: uids, now: now)
            }
            let state = try await first.lab.load()
            let copper = try #require(state.analyses(ofSample: seeded.sample.uid).first { $0.keyword == "Cu" })
            let other = try #require(state.analyses(ofSample: seeded.otherSample.uid).first)
            // Both units of work read the worksheet before either writes: one of them must conflict and retry.
            let barrier = Rendezvous(parties: 2)
            let attempts = AttemptCounter()
            func assign(_ environment: StorageEnvironment, _ analysisUID: String) async throws {
                try await environment.lab.perform { state in
                    attempts.increment()
                    let context = TransitionContext(user: state.user(named: "labman")!, worksheetUID: worksheet.uid, uids: uids)
                    _ = try state.addAnalysis(analysisUID, to: worksheet.uid, context: context, now: now)
                    await barrier.arrive()
                }
            }
            async let a: Void = assign(first, copper.uid)
            async let b: Void = assign(second, other.uid)
            _ = try await (a, b)
            let final = try await first.lab.load()
            let layout = try #require(final.worksheets[worksheet.uid]).layout
            #expect(Set(layout.map(\.analysisUID)) == [copper.uid, other.uid])
            #expect(final.analyses[copper.uid]?.workflowState == "assigned" && final.analyses[other.uid]?.workflowState == "assigned")
            #expect((final.worksheets[worksheet.uid]?.version ?? 0) == 3)
            #expect(attempts.value == 3, "one unit of work conflicted and was retried once")
        }
    }

    @Test("two units of work that claim one unchanged analysis at once: the loser is retried, each claim moves its version")
    func concurrentClaims() async throws {
        try await withTwoProcesses { first, second, seeded in
            let state = try await first.lab.load()
            let copper = try #require(state.analyses(ofSample: seeded.sample.uid).first { $0.keyword == "Cu" })
            let barrier = Rendezvous(parties: 2)
            let attempts = AttemptCounter()
            func claim(_ environment: StorageEnvironment) async throws {
                try await environment.lab.perform { state in
                    attempts.increment()
                    try state.claim(copper.uid)
                    await barrier.arrive()
                }
            }
            async let a: Void = claim(first)
            async let b: Void = claim(second)
            _ = try await (a, b)
            let final = try await first.lab.load()
            #expect(final.analyses[copper.uid]?.version == copper.version + 2, "each claim moved the version once")
            #expect(final.analyses[copper.uid]?.reviewState == copper.reviewState, "a claim changes nothing else")
            #expect(attempts.value == 3, "one unit of work conflicted and was retried once")
        }
    }

    @Test("two concurrent submits of different analyses on one worksheet: serialized, and the worksheet moves on (bug #850)")
    func concurrentSubmits() async throws {
        try await withTwoProcesses { first, second, seeded in
            let uids = self.uids, now = self.now
            let worksheet = try await first.lab.perform { state -> Worksheet in
                let manager = state.user(named: "labman")!
                _ = WorkflowEngine.doTransition("receive", on: seeded.sample.uid, context: TransitionContext(user: manager, uids: uids),
                                                state: &state, now: now)
                let worksheet = try state.createWorksheet(analyst: "labman", uids: uids, now: now)
                let context = TransitionContext(user: manager, worksheetUID: worksheet.uid, uids: uids)
                for analysis in state.analyses(ofSample: seeded.sample.uid) {
                    _ = try state.addAnalysis(analysis.uid, to: worksheet.uid, context: context, now: now)
                    try state.setResult("12", on: analysis.uid, context: context)
                }
                return worksheet
            }
            let analyses = try await first.lab.load().analyses(ofSample: seeded.sample.uid).map(\.uid)
            #expect(analyses.count == 2)
            let barrier = Rendezvous(parties: 2)
            func submit(_ environment: StorageEnvironment, _ analysisUID: String) async throws {
                try await environment.lab.perform { state in
                    let context = TransitionContext(user: state.user(named: "labman")!, worksheetUID: worksheet.uid, uids: uids)
                    if case .refused(let guardID, let reason) = WorkflowEngine.doTransition("submit", on: analysisUID, context: context,
                                                                                           state: &state, now: now) {
                        throw LabError(.refused, "\(guardID): \(reason)")
                    }
                    await barrier.arrive()
                }
            }
            async let a: Void = submit(first, analyses[0])
            async let b: Void = submit(second, analyses[1])
            _ = try await (a, b)
            let final = try await first.lab.load()
            #expect(analyses.allSatisfy { final.analyses[$0]?.workflowState == "to_be_verified" })
            #expect(final.worksheets[worksheet.uid]?.workflowState == "to_be_verified")
            #expect(final.samples[seeded.sample.uid]?.workflowState == "to_be_verified")
        }
    }

    @Test("searches are filtered by allowedRolesAndUsers; linking a user shows its client's objects after the re-index")
    func security() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let environment = try await open(directory)
        let seeded = try await seed(environment)
        let state = try await environment.lab.load()
        let labman = try #require(state.user(named: "labman"))
        let rita = try #require(state.user(named: "rita"))
        #expect(try await environment.lab.search(.sample, visibleTo: labman).count == 2)
        #expect(try await environment.lab.search(.sample, visibleTo: rita).isEmpty)
        let walk = try await environment.lab.perform { state in
            try state.linkUser("rita", toContact: seeded.contact.uid)
        }
        #expect(walk.last == seeded.client.uid && walk.contains(seeded.sample.uid))
        #expect(!walk.contains(seeded.otherSample.uid))
        try await environment.lab.reindexSecurity(walk)
        #expect(try await environment.lab.search(.sample, visibleTo: rita) == [seeded.sample.uid])
        #expect(try await environment.lab.securityTokens(of: seeded.sample.uid).contains("user:rita"))
        #expect(try await environment.lab.securityTokens(of: seeded.otherSample.uid).contains("user:rita") == false)
        // A save rewrites the stored rows of the objects it changes only when their rows can differ: a marker row
        // survives a change of the sample alone, and goes when the same save changes its client (local roles).
        // Written past the single writer (the lab's readers are read-only on SQLite).
        let sql = try environment.store.database.sqlDatabase()
        try await sql.raw("INSERT INTO lims_security (uid, token) VALUES (\(bind: seeded.sample.uid), 'user:marker')").run()
        try await environment.lab.perform { state in try state.modify(Sample.self, seeded.sample.uid) { $0.priority = 1 } }
        #expect(try await environment.lab.securityTokens(of: seeded.sample.uid).isSuperset(of: ["user:rita", "user:marker"]))
        try await environment.lab.perform { state in
            try state.modify(Sample.self, seeded.sample.uid) { $0.priority = 2 }
            try state.modify(Client.self, seeded.client.uid) { $0.email = "lab@happyhills.example" }
        }
        let tokens = try await environment.lab.securityTokens(of: seeded.sample.uid)
        #expect(tokens.contains("user:rita") && !tokens.contains("user:marker"), "\(tokens)")
        await environment.close()
    }

    @Test("lab writes of one process: on PostgreSQL a unit of work's open transaction does not hold up another's; on SQLite they take turns on the single writer")
    func sideBySideWrites() async throws {
        try await withOneProcess { environment, seeded in
            let (entered, enter) = AsyncStream<Void>.makeStream()
            let (released, release) = AsyncStream<Void>.makeStream()
            defer { release.yield() } // never leave the first write's transaction open
            let holder = Task {
                try await environment.lab.perform(maxRetries: 0, { state, reader in
                    try await reader.load([seeded.client.uid], into: &state)
                    try state.modify(Client.self, seeded.client.uid) { $0.email = "held@example.org" }
                }, afterSave: { _, _ in
                    enter.yield()
                    for await _ in released { break }
                })
            }
            for await _ in entered { break }
            let finished = AttemptCounter()
            let other = Task {
                try await environment.lab.perform { state, reader in
                    try await reader.load([seeded.other.uid], into: &state)
                    try state.modify(Client.self, seeded.other.uid) { $0.email = "other@example.org" }
                }
                finished.increment()
            }
            if TestDatabase.isPostgres {
                // It commits while the first transaction is open; serialized, it would wait for it (the test fails
                // after 10 s instead of hanging).
                for _ in 0..<1_000 where finished.value == 0 { try await Task.sleep(nanoseconds: 10_000_000) }
                #expect(finished.value == 1, "the second write waited for the first one's transaction")
            } else {
                try await Task.sleep(nanoseconds: 200_000_000)
                #expect(finished.value == 0, "SQLite has one writer: the second write waits for the first")
            }
            release.yield()
            try await holder.value
            try await other.value
            let lab = try await environment.lab.load()
            #expect(lab.clients[seeded.client.uid]?.email == "held@example.org" && lab.clients[seeded.other.uid]?.email == "other@example.org")
        }
    }

    @Test("a write's stamp (seq) continues after every earlier one across the lab-sequence migration (PostgreSQL's lims_sequence replaces the counter row)")
    func stampsContinueAcrossMigration() async throws {
        try await withOneProcess { environment, seeded in
            let sql = try environment.store.database.sqlDatabase()
            func highest() async throws -> Int {
                try await sql.raw("SELECT MAX(seq) AS seq FROM lims_objects").first()?.decode(column: "seq", as: Int.self) ?? 0
            }
            let before = try await highest()
            // A database of schema 8 stamped from queue_state row 3; reverting hands the numbers back to the row and
            // migrating again takes them on.
            try await AddLabSequence().revert(on: environment.store.database)
            try await AddLabSequence().prepare(on: environment.store.database)
            try await environment.lab.perform { state in try state.modify(Client.self, seeded.client.uid) { $0.email = "new@example.org" } }
            let stamp = try await sql.raw("SELECT seq FROM lims_objects WHERE uid = \(bind: seeded.client.uid)").first()?.decode(column: "seq", as: Int.self)
            #expect((stamp ?? 0) > before, "stamp \(String(describing: stamp)) after \(before)")
        }
    }

    @Test("eight units of work of one process change one object at once: the losers retry, every change lands once")
    func manyWritersOneObject() async throws {
        try await withOneProcess { environment, seeded in
            let before = try #require(try await environment.lab.load().clients[seeded.client.uid]).version
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<8 {
                    group.addTask {
                        try await environment.lab.perform(maxRetries: 30, { state, reader in
                            try await reader.load([seeded.client.uid], into: &state)
                            try state.modify(Client.self, seeded.client.uid) { $0.name += " \(index)" }
                        })
                    }
                }
                try await group.waitForAll()
            }
            let client = try #require(try await environment.lab.load().clients[seeded.client.uid])
            let added = client.name.split(separator: " ").dropFirst(2).compactMap { Int($0) }
            #expect(added.sorted() == Array(0..<8) && client.version == before + 8, "\(client.name) v\(client.version)")
        }
    }
}

/// A thread-safe counter for test closures.
final class AttemptCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    var value: Int { lock.withLock { count } }
    func increment() { lock.withLock { count += 1 } }
}

/// Lets `parties` tasks wait for each other once; later arrivals pass at once.
actor Rendezvous {
    private let parties: Int
    private var arrived = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(parties: Int) {
        self.parties = parties
    }

    func arrive() async {
        arrived += 1
        if arrived > parties { return }
        if arrived == parties {
            for waiter in waiting { waiter.resume() }
            waiting = []
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }
}

import AsyncHTTPClient
import Consumer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdBcrypt
import HummingbirdTesting
import LIMSCore
import LimsAPI
import LimsTasks
import Logging
import NIOCore
import QueueAuth
import QueueCore
import QueueServer
import QueueTesting
import Storage
import TestSupport
import Testing
@testable import LimsQueueCLI

/// senaite.queue's doctest scenarios (reference section 2) and public bug cases (reference section 5) over real
/// HTTP: the queue server and the LIMS API on a live port, and a real consumer (``Consumer/QueueConsumer`` over
/// ``Consumer/HTTPQueueConnection`` with the LIMS task kinds) processing one task per round, so the state between
/// rounds can be checked. Each round books the task's `min_seconds` (3 s), as consumers do, in virtual time: the
/// consumer waits on the test's manual clock, which the round advances past the booking.
@Suite("Queue scenarios over HTTP (reference 2 and 5)")
struct QueueScenarioTests {
    /// A lab of 15 received samples with one Cu analysis each, a 15-slot Cu template, a lab manager and two analysts.
    struct Lab: Sendable {
        let client: Client
        let contact: Contact
        let template: WorksheetTemplate
        /// Routine slots 1-2 and a duplicate of slot 1 in slot 3.
        let duplicateTemplate: WorksheetTemplate
        let samples: [Sample]
        let analyses: [String]
    }

    /// The running system of one test.
    struct System: Sendable {
        let api: PlainLimsClient
        let lab: Lab
        let store: SQLQueueStore
        let repository: any LabRepository
        let clock: ManualClock
        let consumer: QueueConsumer
        let connection: HTTPQueueConnection
        let next = NextTask()

        /// Pops (or takes the task the last round claimed with its done) and processes it; false when nothing
        /// was claimable.
        @discardableResult
        func round() async throws -> Bool {
            clock.advance(by: 6) // past the template's 5 s delay and the retry delay
            let task: QueueTask?
            if let claimed = next.take() { task = claimed } else { task = try await connection.pop(consumerID: "scenario-consumer", wait: 0) }
            guard let task else { return false }
            let consumer = self.consumer, start = clock.now()
            next.put(await clock.advancingSleepers(within: Double(task.minSeconds)) { await consumer.process(task) })
            // A success books min_seconds on the clock (which the round advanced); a failure books nothing.
            let booked = clock.now() - start
            #expect(booked == 0 || booked == Double(task.minSeconds), "booked \(booked) s of \(task.minSeconds)")
            return true
        }

        /// Processes until nothing is claimable.
        func drain() async throws {
            var rounds = 0
            while try await round() { rounds += 1; if rounds > 50 { Issue.record("queue did not drain"); return } }
        }

        /// Review states of the lab's analyses (a working set of them: the lab around them may be large).
        func states() async throws -> [String] {
            let analyses = lab.analyses
            return try await repository.read { state, reader in
                try await reader.load(analyses, into: &state)
                return analyses.map { state.peekObject($0)?.workflowState ?? "?" }
            }
        }

        func count(_ reviewState: String) async throws -> Int { try await states().filter { $0 == reviewState }.count }

        /// `is_queued` of each uid, from the LIMS side (queued or running tasks).
        func queued(_ uid: String) async throws -> Bool {
            try await store.objectUIDs(status: [.queued, .running]).contains(uid)
        }

        func queuedAnalyses() async throws -> Int {
            let uids = try await store.objectUIDs(status: [.queued, .running])
            return lab.analyses.filter(uids.contains).count
        }

        func setChunkSize(_ size: Int) async throws {
            var settings = try await store.settings()
            settings.chunkSize = size
            try await store.updateSettings(settings)
        }

        func status() async throws -> String {
            try await api.manager("queue_status", method: .get).json["status"]?.stringValue ?? "?"
        }

        /// Builds a 15-analysis worksheet synchronously (queue off for the moment), as the doctests do.
        func worksheetWithAll() async throws -> String {
            let chunk = try await store.settings().chunkSize
            try await setChunkSize(0)
            let created = try await api.manager("worksheet/create", body: .object(["analyst": .string("analyst1")]))
            let uid = try #require(created.items.first?["uid"]?.stringValue)
            let added = try await api.manager("worksheet/add_analyses", body: .object([
                "worksheet_uid": .string(uid), "uids": .array(lab.analyses.map(JSONValue.string)),
            ]))
            #expect(added.json["success"] == .bool(true))
            try await setChunkSize(chunk)
            return uid
        }

        func results(_ value: String = "13") async throws {
            for uid in lab.analyses {
                let answer = try await api.manager("update", body: .object(["uid": .string(uid), "Result": .string(value)]))
                #expect(answer.status == 200, "\(answer.json)")
            }
        }

        /// `workflow_action` from the worksheet for all 15 analyses.
        func action(_ action: String, on worksheetUID: String, as user: String = "labman") async throws -> LimsAnswer {
            let body: JSONValue = .object(["action": .string(action), "uids": .array(lab.analyses.map(JSONValue.string)),
                                           "context_uid": .string(worksheetUID)])
            if user == "labman" { return try await api.manager("workflow_action", body: body) }
            return try await api.analyst("workflow_action", body: body)
        }
    }

    /// Holder of the task a consumer's done+pop claimed.
    final class NextTask: @unchecked Sendable {
        private let lock = NSLock()
        private var task: QueueTask?
        func take() -> QueueTask? { lock.withLock { defer { task = nil }; return task } }
        func put(_ value: QueueTask?) { lock.withLock { task = value } }
    }

    static func seed(_ repository: any LabRepository, now: Double) async throws -> Lab {
        let uids = RandomUIDGenerator()
        let hashes = (Bcrypt.hash("labpass", cost: 4), Bcrypt.hash("anpass", cost: 4), Bcrypt.hash("ritapass", cost: 4))
        let lab = try await repository.perform { state, _ -> Lab in
            state.settings.selfVerificationEnabled = true
            let client = state.createClient(name: "Happy Hills", clientID: "HH", uids: uids, now: now)
            let contact = try state.createContact(in: client.uid, firstname: "Rita", surname: "Mohale", uids: uids, now: now)
            let water = try state.createSampleType(title: "Water", prefix: "H2O", uids: uids, now: now)
            let cu = try state.createAnalysisService(title: "Copper", keyword: "Cu", sortKey: 1, uids: uids, now: now)
            let template = try state.createWorksheetTemplate(
                title: "Cu x 15", layout: (1...15).map { WorksheetTemplateRow(pos: $0, type: .routine) },
                serviceUIDs: [cu.uid], uids: uids, now: now)
            let duplicateTemplate = try state.createWorksheetTemplate(
                title: "Cu with duplicate",
                layout: [.init(pos: 1, type: .routine), .init(pos: 2, type: .routine), .init(pos: 3, type: .duplicate, dup: 1)],
                serviceUIDs: [cu.uid], uids: uids, now: now)
            let manager = try state.createUser(userid: "labman", passwordHash: hashes.0, roles: [.labManager], uids: uids, now: now)
            _ = try state.createUser(userid: "analyst1", passwordHash: hashes.1, roles: [.analyst], uids: uids, now: now)
            _ = try state.createUser(userid: "rita", passwordHash: hashes.2, roles: [.client], uids: uids, now: now)
            var samples: [Sample] = []
            let context = TransitionContext(user: manager, uids: uids)
            for index in 0..<15 {
                let sample = try state.createSample(clientUID: client.uid, contactUID: contact.uid, sampleTypeUID: water.uid,
                                                    serviceUIDs: [cu.uid], uids: uids, now: now + Double(index))
                guard WorkflowEngine.doTransition("receive", on: sample.uid, context: context, state: &state, now: now).isDone else {
                    throw LabError(.refused, "receive refused")
                }
                samples.append(sample)
            }
            let analyses = samples.map { sample in state.analyses(ofSample: sample.uid).first!.uid }
            return Lab(client: client, contact: contact, template: template, duplicateTemplate: duplicateTemplate, samples: samples, analyses: analyses)
        }
        try await repository.reindexSecurity(try await repository.load().allObjects.map(\.uid))
        return lab
    }

    /// Runs `body` with the system up: chunk size 5 (as the doctests), a live HTTP server, one real consumer;
    /// `background` more received samples of another client (see ``LargeLab``) around the scenario's lab.
    static func withSystem(background: Int = 0, _ body: @escaping @Sendable (System) async throws -> Void) async throws {
        try await StoreFixture.with { fixture in
            let key = Fernet.generateKey()
            let clock = fixture.clock
            let lab = try await seed(fixture.lab, now: clock.now())
            if background > 0 { try await LargeLab.addBackground(background, to: fixture.lab, now: clock.now()) }
            var settings = try await fixture.store.settings()
            settings.chunkSize = 5
            try await fixture.store.updateSettings(settings)
            let authenticator = QueueAuthenticator(key: { key }, clock: clock, userExists: { !$0.isEmpty })
            let queue = QueueServerController(store: fixture.store, authenticator: authenticator, clock: clock)
            let lims = LimsAPIController(repository: fixture.lab, authKey: { key }, clock: clock, queue: fixture.store)
            let router = QueueServerApp.router(controller: queue, addRoutes: { lims.addRoutes(to: $0) })
            let logger = { var logger = Logger(label: "test"); logger.logLevel = .critical; return logger }()
            let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: logger)
            try await app.test(.live) { client in
                let port = try #require(client.port)
                let http = HTTPClient(eventLoopGroupProvider: .singleton)
                do {
                    let connection = try HTTPQueueConnection(serverURL: "http://127.0.0.1:\(port)", authKey: key, http: http, clock: clock)
                    let consumer = QueueConsumer(
                        connection: connection,
                        handlers: QueueNode.handlers(lab: fixture.lab, queue: fixture.store),
                        configuration: .init(consumerID: "scenario-consumer"), logger: logger, clock: clock)
                    let api = PlainLimsClient(client: client)
                    try await body(System(api: api, lab: lab, store: fixture.store, repository: fixture.lab, clock: clock,
                                          consumer: consumer, connection: connection))
                } catch {
                    try? await http.shutdown()
                    throw error
                }
                try await http.shutdown()
            }
        }
    }

    @Test("assign 15 with chunk 5: one task for the worksheet, rounds 5/10/15, worksheet queued until the last (2: assign 1-2)")
    func assignInChunks() async throws {
        try await Self.withSystem { system in
            let created = try await system.api.manager("worksheet/create", body: .object(["analyst": .string("analyst1")]))
            let worksheetUID = try #require(created.items.first?["uid"]?.stringValue)
            let added = try await system.api.manager("worksheet/add_analyses", body: .object([
                "worksheet_uid": .string(worksheetUID), "uids": .array(system.lab.analyses.map(JSONValue.string)),
            ]))
            #expect(added.json["queued"] == .bool(true) && added.json["task_uid"]?.stringValue != nil)
            #expect(try await system.store.tasks(status: [.queued, .running], since: nil).count == 1)
            #expect(try await system.queued(worksheetUID))
            #expect(try await system.queuedAnalyses() == 15)
            // is_queued as the API shows it: the worksheet, its analyses, their samples.
            let shown = try await system.api.manager(worksheetUID, method: .get).items.first
            #expect(shown?["is_queued"] == .bool(true))
            let samples = try await system.api.manager("AnalysisRequest", method: .get).items
            #expect(samples.count == 15 && samples.allSatisfy { $0["is_queued"] == .bool(true) })
            #expect(try await system.count("assigned") == 0)
            for expected in [5, 10, 15] {
                try await system.round()
                #expect(try await system.count("assigned") == expected)
                #expect(try await system.queuedAnalyses() == 15 - expected)
                #expect(try await system.queued(worksheetUID) == (expected < 15))
            }
            #expect(try await system.store.tasks(status: [.queued, .running], since: nil).isEmpty)
            let after = try await system.api.manager("AnalysisRequest", method: .get).items
            #expect(after.allSatisfy { $0["is_queued"] == .bool(false) })
        }
    }

    @Test("chunk size lowered mid-run takes effect; chunk size 0 with work left → resuming, the rest at once, then disabled (2: assign 3-4)")
    func changingChunkSize() async throws {
        try await Self.withSystem { system in
            #expect(try await system.status() == "ready")
            let created = try await system.api.manager("worksheet/create", body: .object(["analyst": .string("analyst1")]))
            let worksheetUID = try #require(created.items.first?["uid"]?.stringValue)
            _ = try await system.api.manager("worksheet/add_analyses", body: .object([
                "worksheet_uid": .string(worksheetUID), "uids": .array(system.lab.analyses.map(JSONValue.string)),
            ]))
            try await system.round()
            #expect(try await system.count("assigned") == 5)
            try await system.setChunkSize(2)
            try await system.round()
            #expect(try await system.count("assigned") == 7)
            try await system.setChunkSize(0)
            #expect(try await system.status() == "resuming")
            // While resuming, reads still honour the queue and new actions run synchronously.
            #expect(try await system.queued(worksheetUID))
            try await system.round()
            #expect(try await system.count("assigned") == 15)
            #expect(try await system.queued(worksheetUID) == false)
            #expect(try await system.status() == "disabled")
            try await system.setChunkSize(10)
            #expect(try await system.status() == "ready")
        }
    }

    @Test("worksheet template: routine part queued with a delay, rounds 5/10/15, worksheet queued until the last (2: assign 5)")
    func templateApplication() async throws {
        try await Self.withSystem { system in
            let created = try await system.api.manager("worksheet/create", body: .object([
                "analyst": .string("analyst1"), "template": .string(system.lab.template.uid),
            ]))
            #expect(created.status == 200 && created.json["queued"] == .bool(true), "\(created.json)")
            let worksheetUID = try #require(created.items.first?["uid"]?.stringValue)
            let taskUID = try #require(created.json["task_uid"]?.stringValue)
            let task = try #require(try await system.store.task(taskUID))
            #expect(task.name == "task_assign_analyses" && task.unique && task.delay == 5 && task.uids.count == 15)
            #expect(task.slots == (1...15).map { JSONValue.int($0) })
            #expect(try await system.count("assigned") == 0)
            #expect(try await system.queuedAnalyses() == 15)
            // Not claimable before its delay.
            #expect(try await system.connection.pop(consumerID: "scenario-consumer", wait: 0) == nil)
            // Applying the template again while the assignment is queued is refused with the queued task's uid.
            let again = try await system.api.manager("worksheet/apply_template", body: .object([
                "worksheet_uid": .string(worksheetUID), "template_uid": .string(system.lab.template.uid),
            ]))
            #expect(again.status == 409 && again.json["task_uid"] == .string(taskUID), "\(again.json)")
            // A second worksheet from the template meanwhile: every candidate is in the queued assignment, so its
            // selection leaves them all out and nothing is queued for it.
            let second = try await system.api.manager("worksheet/create", body: .object([
                "analyst": .string("analyst1"), "template": .string(system.lab.template.uid),
            ]))
            #expect(second.status == 200 && second.json["task_uid"] == nil, "\(second.json)")
            #expect(try await system.queuedAnalyses() == 15)
            for expected in [5, 10, 15] {
                try await system.round()
                #expect(try await system.count("assigned") == expected)
                #expect(try await system.queued(worksheetUID) == (expected < 15))
            }
            let state = try await system.repository.load()
            let slots = state.worksheets[worksheetUID]!.layout.map(\.position).sorted()
            #expect(slots == Array(1...15))
        }
    }

    @Test("a template's duplicate follows once the queued assignment fills its source slot (reference 4)")
    func templateDuplicateAfterQueuedAssignment() async throws {
        try await Self.withSystem { system in
            let created = try await system.api.manager("worksheet/create", body: .object([
                "analyst": .string("analyst1"), "template": .string(system.lab.duplicateTemplate.uid),
            ]))
            #expect(created.json["queued"] == .bool(true), "\(created.json)")
            let worksheetUID = try #require(created.items.first?["uid"]?.stringValue)
            var state = try await system.repository.load()
            #expect(state.worksheets[worksheetUID]?.layout.isEmpty == true)
            try await system.drain()
            state = try await system.repository.load()
            let layout = try #require(state.worksheets[worksheetUID]?.layout)
            #expect(layout.filter { $0.position <= 2 }.count == 2)
            let duplicate = try #require(layout.first { $0.position == 3 })
            #expect(state.duplicateAnalyses[duplicate.analysisUID] != nil, "slot 3: \(duplicate)")
        }
    }

    /// The worksheet action scenarios (unassign, submit, reject, retract, verify): one queued task, rounds of 5.
    @Test("queued worksheet actions in rounds of 5 (2: unassign, submit, reject, retract, verify)",
          arguments: ["unassign", "submit", "reject", "retract", "verify"])
    func worksheetActionRounds(action: String) async throws {
        try await Self.withSystem { system in
            let worksheetUID = try await system.worksheetWithAll()
            if action != "unassign" { try await system.results() }
            if ["reject", "retract", "verify"].contains(action) {
                try await system.setChunkSize(0) // submitted synchronously first, as the doctests do
                let submitted = try await system.action("submit", on: worksheetUID)
                #expect(submitted.json["success"] == .bool(true), "\(submitted.json)")
                try await system.setChunkSize(5)
            }
            let before = action == "unassign" ? "assigned" : (action == "submit" ? "assigned" : "to_be_verified")
            let after = ["unassign": "unassigned", "submit": "to_be_verified", "reject": "rejected", "retract": "retracted",
                         "verify": "verified"][action]!
            let queued = try await system.action(action, on: worksheetUID)
            #expect(queued.json["queued"] == .bool(true), "\(queued.json)")
            #expect(try await system.count(after) == 0)
            #expect(try await system.queuedAnalyses() == 15)
            #expect(try await system.store.tasks(status: [.queued], since: nil).count == 1)
            for expected in [5, 10, 15] {
                try await system.round()
                let states = try await system.states()
                #expect(states.filter { $0 == after }.count == expected, "\(action): \(states)")
                #expect(try await system.count(before) == 15 - expected)
                #expect(try await system.queued(worksheetUID) == (expected < 15))
            }
            #expect(try await system.store.tasks(status: [.queued, .running], since: nil).isEmpty)
        }
    }

    @Test("samples with queued analyses allow no transition until processed (2: SampleWithQueuedAnalyses)")
    func samplesWithQueuedAnalyses() async throws {
        try await Self.withSystem { system in
            let worksheetUID = try await system.worksheetWithAll()
            try await system.results()
            _ = try await system.action("submit", on: worksheetUID)
            /// Per sample: is a transition on it vetoed by the queue's sample guard (tried on a copy of the lab)?
            func vetoed() async throws -> [Bool] {
                let queued = try await system.store.objectUIDs(status: [.queued, .running])
                let state = try await system.repository.load()
                let context = TransitionContext(user: state.user(named: "labman")!, queuedUIDs: queued, uids: RandomUIDGenerator())
                return system.lab.samples.map { sample in
                    var copy = state
                    if case .refused(let guardID, _) = WorkflowEngine.doTransition("submit", on: sample.uid, context: context,
                                                                                   state: &copy, now: system.clock.now()) {
                        return guardID == GuardID.queueSample
                    }
                    return false
                }
            }
            #expect(try await vetoed() == Array(repeating: true, count: 15))
            // A direct action on a queued analysis is refused (a tryout unassigned one whose submit was queued; the task
            // then submitted it off its worksheet).
            let queuedAnalysis = try #require(try await system.store.tasks(status: [.queued], since: nil).first?.uids.first)
            for action in ["unassign", "submit", "retract"] {
                let direct = try await system.api.manager("workflow_action", body: .object([
                    "action": .string(action), "uids": .array([.string(queuedAnalysis)]),
                ]))
                #expect(direct.items.first?["guard"] == .string(GuardID.queueAnalysis), "\(action): \(direct.json)")
            }
            // ... and so is a queued action of another kind on the worksheet: nothing is queued for it.
            let tasksBefore = try await system.store.tasks(status: [.queued, .running], since: nil).count
            let queuedUnassign = try await system.api.manager("workflow_action", body: .object([
                "action": "unassign", "uids": .array([.string(queuedAnalysis)]), "context_uid": .string(worksheetUID),
            ]))
            #expect(queuedUnassign.items.first?["guard"] == .string(GuardID.queueAnalysis), "\(queuedUnassign.json)")
            #expect(try await system.store.tasks(status: [.queued, .running], since: nil).count == tasksBefore)
            for expected in [5, 10, 15] {
                try await system.round()
                let states = try await system.states()
                #expect(states.filter { $0 == "to_be_verified" }.count == expected)
                let flags = try await vetoed()
                for index in system.lab.samples.indices {
                    // Vetoed exactly while its analysis waits in the queue.
                    #expect(flags[index] == (states[index] != "to_be_verified"), "sample \(index) after \(expected): \(states[index])")
                }
            }
            // All processed: a sample transition is evaluated by the lab's own guards again (received → to_be_verified).
            let state = try await system.repository.load()
            #expect(system.lab.samples.allSatisfy { state.samples[$0.uid]?.reviewState == "to_be_verified" })
            #expect(state.analyses[queuedAnalysis]?.worksheetUID == worksheetUID && state.analyses[queuedAnalysis]?.reviewState == "to_be_verified")
        }
    }

    @Test("a second identical action gets 409 with the queued task's uid, also when both race (reference 4)")
    func repeatedActionConflict() async throws {
        try await Self.withSystem { system in
            let worksheetUID = try await system.worksheetWithAll()
            try await system.results()
            async let first = system.action("submit", on: worksheetUID)
            async let second = system.action("submit", on: worksheetUID)
            let answers = try await [first, second]
            let statuses = answers.map(\.status).sorted()
            #expect(statuses == [200, 409], "\(answers.map(\.json))")
            let queuedUID = try #require(answers.first { $0.status == 200 }?.json["task_uid"]?.stringValue)
            #expect(answers.first { $0.status == 409 }?.json["task_uid"] == .string(queuedUID))
            #expect(try await system.store.tasks(status: [.queued], since: nil).map(\.taskUID) == [queuedUID])
        }
    }

    @Test("found by a fresh user: a repeat while the first task runs is 409; unknown uids are not queued; queued analyses are not added elsewhere; lab users are never linked to client contacts; no overflow on huge pages")
    func tryoutFindings() async throws {
        try await Self.withSystem { system in
            let worksheetUID = try await system.worksheetWithAll()
            try await system.results()
            let first = try await system.action("submit", on: worksheetUID)
            let taskUID = try #require(first.json["task_uid"]?.stringValue)
            // The consumer claims it: the task is running, the repeat is still refused with its uid.
            let claimed = try #require(try await system.connection.pop(consumerID: "scenario-consumer", wait: 0))
            #expect(claimed.taskUID == taskUID)
            let again = try await system.action("submit", on: worksheetUID)
            #expect(again.status == 409 && again.json["task_uid"] == .string(taskUID), "\(again.json)")
            // Uids that are no analyses of the worksheet are refused, not queued.
            let sampleUID = system.lab.samples[0].uid
            let bogus = try await system.api.manager("workflow_action", body: .object([
                "action": .string("verify"), "uids": .array([.string(""), .string(sampleUID), .string(String(repeating: "e", count: 32))]),
                "context_uid": .string(worksheetUID),
            ]))
            #expect(bogus.status == 400 && bogus.message.contains("'uids'"), "\(bogus.json)")
            // Analyses in a task are not added to another worksheet behind its back.
            let other = try await system.api.manager("worksheet/create", body: .object(["analyst": .string("analyst1")]))
            let otherUID = try #require(other.items.first?["uid"]?.stringValue)
            let moved = try await system.api.manager("worksheet/add_analyses", body: .object([
                "worksheet_uid": .string(otherUID), "uids": .array([.string(system.lab.analyses[0])]),
            ]))
            #expect(moved.json["success"] == .bool(false) && moved.json["queued"] == .bool(false), "\(moved.json)")
            // A lab user is never made a client contact's login.
            let takeover = try await system.api.manager("contact/link_user", body: .object([
                "contact_uid": .string(system.lab.contact.uid), "username": .string("analyst1"), "password": .string("whatever-123"),
            ]))
            #expect(takeover.status == 409, "\(takeover.json)")
            let state = try await system.repository.load()
            #expect(state.user(named: "analyst1")?.linkedContactUID == nil)
            // Paging far beyond the end answers an empty page; odd `since` values are 400.
            let far = try await system.api.manager("Analysis?page=9223372036854775807", method: .get)
            #expect(far.status == 200 && far.items.isEmpty)
            #expect(try await system.api.manager("queue_statistics?since=nan", method: .get).status == 400)
            // The per-name figures of one moment are shared; the counts are current: a client polling until the
            // queue is empty never gets an answer from before its last change (the manual clock stands still).
            let statistics = try await system.api.manager("queue_statistics", method: .get)
            #expect(statistics.json["running"] == .int(1) && statistics.json["queued"] == .int(0), "\(statistics.json)")
            _ = try await system.store.add([TaskFactory.task("task_noop", context: "WS-9999", created: system.clock.now())], now: system.clock.now())
            let current = try await system.api.manager("queue_statistics", method: .get)
            #expect(current.json["queued"] == .int(1), "\(current.json)")
        }
    }

    @Test("a consumer is never blocked by its own task's guards; the worksheet moves on after the last chunk (5.1, 5.8)")
    func consumerNotBlockedByOwnGuards() async throws {
        try await Self.withSystem { system in
            let worksheetUID = try await system.worksheetWithAll()
            try await system.results()
            _ = try await system.action("submit", on: worksheetUID)
            try await system.drain()
            let state = try await system.repository.load()
            #expect(state.worksheets[worksheetUID]?.reviewState == "to_be_verified")
            #expect(try await system.count("to_be_verified") == 15)
        }
    }

    @Test("a task queued by a user who may not perform the action fails with a clear message; nothing runs elevated")
    func permissionRefusedTask() async throws {
        try await Self.withSystem { system in
            let worksheetUID = try await system.worksheetWithAll()
            try await system.results()
            var settings = try await system.store.settings()
            settings.maxRetries = 0
            try await system.store.updateSettings(settings)
            // rita is a client user: she may see her samples but not submit results. Her task is queued through the
            // queue API (as a SENAITE node would) and must fail when processed, as her.
            let state = try await system.repository.load()
            let worksheet = try #require(state.worksheets[worksheetUID])
            let task = QueueTask(name: "task_action_submit", contextUID: worksheetUID, contextPath: worksheet.path,
                                 uids: system.lab.analyses, created: system.clock.now(), retries: 0, chunkSize: 5,
                                 username: "rita", action: "submit")
            _ = try await system.store.add([task], now: system.clock.now())
            try await system.round()
            let failed = try #require(try await system.store.task(task.taskUID))
            #expect(failed.status == .failed)
            #expect(failed.errorMessage?.contains("rita may not submit") == true, "\(failed.errorMessage ?? "")")
            #expect(try await system.count("to_be_verified") == 0)
        }
    }
}

/// The security walk after linking a client contact to a user over HTTP, on a client with 1,000 objects
/// (reference 1.13, 4, bugs 5.2 and 5.3).
@Suite("Security walk of a large client")
struct SecurityWalkScenarioTests {
    /// Records the uids every `reindexSecurity` call receives.
    final class RecordingRepository: LabRepository, WrappingRepository, @unchecked Sendable {
        let base: any LabRepository
        private let lock = NSLock()
        private var calls: [[String]] = []
        init(base: any LabRepository) { self.base = base }
        var reindexed: [[String]] { lock.withLock { calls } }
        func perform<T: Sendable>(_ body: @Sendable (inout LabState, any LabReader) async throws -> T) async throws -> T {
            try await base.perform(body)
        }
        func reindexSecurity(_ uids: [String]) async throws {
            lock.withLock { calls.append(uids) }
            try await base.reindexSecurity(uids)
        }
        func perform<T: Sendable>(enqueuing body: @Sendable (inout LabState, any LabReader) async throws -> (T, [QueueTask])) async throws -> T {
            try await base.perform(enqueuing: body)
        }
    }

    @Test("link_user over HTTP queues a walk of 10 objects per task, priority 50, ghost, ending with the client; never leaves the subtree, never loops")
    func walkOfThousandObjects() async throws {
        try await StoreFixture.with { fixture in
            let clock = fixture.clock, now = clock.now(), uids = RandomUIDGenerator()
            let seeded = try await QueueScenarioTests.seed(fixture.lab, now: now)
            // A second client whose objects must never be touched, and 250 samples x 3 analyses on Happy Hills.
            let (other, total, sam) = try await fixture.lab.perform { state -> (Client, Int, Contact) in
                let other = state.createClient(name: "Klaymore", clientID: "KL", uids: uids, now: now)
                let sam = try state.createContact(in: seeded.client.uid, firstname: "Sam", surname: "Second", uids: uids, now: now)
                let ken = try state.createContact(in: other.uid, firstname: "Ken", surname: "Lay", uids: uids, now: now)
                let water = state.sampleTypes.values.first!
                let services = try ["Fe", "Zn"].enumerated().map { index, keyword in
                    try state.createAnalysisService(title: keyword, keyword: keyword, sortKey: 10 + index, uids: uids, now: now)
                }
                let cu = state.analysisServices.values.first { $0.keyword == "Cu" }!
                for index in 0..<246 {
                    _ = try state.createSample(clientUID: seeded.client.uid, contactUID: seeded.contact.uid, sampleTypeUID: water.uid,
                                               serviceUIDs: [cu.uid] + services.map(\.uid), uids: uids, now: now + 100 + Double(index))
                }
                _ = try state.createSample(clientUID: other.uid, contactUID: ken.uid, sampleTypeUID: water.uid,
                                           serviceUIDs: [cu.uid], uids: uids, now: now)
                return (other, SecurityWalk.order(from: seeded.client.uid, in: state).count, sam)
            }
            #expect(total >= 1_000)
            var settings = try await fixture.store.settings()
            settings.chunkSize = 10
            try await fixture.store.updateSettings(settings)
            let key = Fernet.generateKey()
            let lims = LimsAPIController(repository: fixture.lab, authKey: { key }, clock: clock, queue: fixture.store)
            let authenticator = QueueAuthenticator(key: { key }, clock: clock, userExists: { !$0.isEmpty })
            let router = QueueServerApp.router(controller: QueueServerController(store: fixture.store, authenticator: authenticator, clock: clock),
                                               addRoutes: { lims.addRoutes(to: $0) })
            let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
            try await app.test(.live) { client in
                let api = PlainLimsClient(client: client)
                // The login rules of users/create (LoginRules): bcrypt reads 72 bytes, HTTP Basic splits at ':'.
                for (field, body) in [
                    ("password", ["username": JSONValue.string("rita3"), "password": .string(String(repeating: "p", count: 73))]),
                    ("username", ["username": .string("col:on"), "password": .string("long-enough")]),
                    ("contact_uid", ["username": .string("rita3"), "password": .string("long-enough"),
                                     "contact_uid": .string(String(repeating: "u", count: 100_000))]),
                ] {
                    var fields = body
                    if fields["contact_uid"] == nil { fields["contact_uid"] = .string(seeded.contact.uid) }
                    let bad = try await api.manager("contact/link_user", body: .object(fields))
                    let message = bad.json["message"]?.stringValue ?? ""
                    #expect(bad.status == 400 && message.contains("'\(field)'") && message.count < 1_000, "\(field): \(bad.status) \(message.prefix(200))")
                }
                let linked = try await api.manager("contact/link_user", body: .object([
                    "contact_uid": .string(seeded.contact.uid), "username": .string("rita2"), "password": .string("rita2-password"),
                ]))
                #expect(linked.status == 200 && linked.json["queued"] == .bool(true), "\(linked.json)")
                // Linking an existing user never changes its password: a password given with it is refused, not dropped.
                let relinked = try await api.manager("contact/link_user", body: .object([
                    "contact_uid": .string(seeded.contact.uid), "username": .string("rita2"), "password": .string("another-password"),
                ]))
                #expect(relinked.status == 400 && (relinked.json["message"]?.stringValue ?? "").contains("'password'"), "\(relinked.json)")
                let user = try #require(try await fixture.lab.user(named: "rita2"))
                #expect(await PasswordHashing.verify("rita2-password", hash: user.passwordHash))
                let refused = try await api.analyst("contact/link_user", body: .object([
                    "contact_uid": .string(seeded.contact.uid), "username": .string("x")]))
                #expect(refused.status == 403 || refused.status == 400)
                // The same link again changes nothing and queues nothing; another contact of the client linked while
                // the walk waits gets that walk (one walk, counted below), not a second one.
                let again = try await api.manager("contact/link_user", body: .object([
                    "contact_uid": .string(seeded.contact.uid), "username": .string("rita2")]))
                #expect(again.status == 200 && again.json["queued"] == .bool(false) && again.json["reindexed"] == .int(0), "\(again.json)")
                let second = try await api.manager("contact/link_user", body: .object([
                    "contact_uid": .string(sam.uid), "username": .string("sam2"), "password": .string("sam2-password")]))
                #expect(second.status == 200 && second.json["queued"] == .bool(true), "\(second.json)")
                #expect(second.json["task_uid"] != nil && second.json["task_uid"] == linked.json["task_uid"], "\(second.json) \(linked.json)")
            }
            let recorder = RecordingRepository(base: fixture.lab)
            let handler = ReindexSecurityHandler(repository: recorder)
            let context = TaskContext(logger: Logger(label: "test"), consumerID: "walker", deadlineSeconds: 60,
                                      queue: try HTTPQueueConnection(serverURL: "http://127.0.0.1:9", authKey: key))
            var runs = 0
            while let task = try await fixture.store.pop(consumerID: "walker", now: clock.now()) {
                #expect(task.name == "task_reindex_object_security" && task.priority == 50 && task.ghost)
                try await handler.process(task, context: context)
                _ = try await fixture.store.done(task.taskUID, lease: .none, now: clock.now())
                runs += 1
                try #require(runs <= total / 10 + 2, "the walk must end")
            }
            let calls = recorder.reindexed
            let walked = calls.flatMap { $0 }
            #expect(calls.allSatisfy { $0.count <= 10 })
            #expect(runs == (total + 9) / 10)
            #expect(walked.count == total && Set(walked).count == total, "each object once")
            #expect(walked.last == seeded.client.uid)
            let state = try await fixture.lab.load()
            let subtree = Set(SecurityWalk.order(from: seeded.client.uid, in: state))
            #expect(walked.allSatisfy(subtree.contains))
            #expect(!walked.contains(other.uid))
            // The contact's new user now finds its client's samples, and none of the other client's.
            let rita2 = try #require(state.user(named: "rita2"))
            let visible = try await fixture.lab.search(.sample, visibleTo: rita2)
            #expect(visible.count == 15 + 246)
        }
    }
}

import Consumer
import Foundation
import LIMSCore
import LimsTasks
import Logging
import QueueCore
import Storage
import TestSupport
import Testing
@testable import LimsQueueCLI

/// The generic action task kind on the real store: chunks, continuations, acting as the user, atomic enqueue.
@Suite("LIMS task kinds", .serialized)
struct LimsTasksTests {
    let uids = RandomUIDGenerator()
    let now = Date().timeIntervalSince1970

    struct Lab: Sendable {
        let environment: StorageEnvironment
        let worksheet: Worksheet
        let analyses: [String]
    }

    /// A received sample with Cu and Fe, both on a worksheet with results, and a client user "rita".
    func makeLab(_ directory: TemporaryDirectory, assign: Bool = true) async throws -> Lab {
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let environment = try await StorageEnvironment.open(dataDir: directory.path, database: try await TestDatabase.url(for: directory), logger: logger)
        let uids = self.uids, now = self.now
        let (worksheet, analyses) = try await environment.lab.perform { state -> (Worksheet, [String]) in
            let client = state.createClient(name: "Happy Hills", clientID: "HH", uids: uids, now: now)
            let contact = try state.createContact(in: client.uid, firstname: "Rita", surname: "Mohale", uids: uids, now: now)
            let water = try state.createSampleType(title: "Water", prefix: "H2O", uids: uids, now: now)
            let cu = try state.createAnalysisService(title: "Copper", keyword: "Cu", unit: "mg/L", sortKey: 1, uids: uids, now: now)
            let fe = try state.createAnalysisService(title: "Iron", keyword: "Fe", unit: "mg/L", sortKey: 2, uids: uids, now: now)
            let manager = try state.createUser(userid: "labman", roles: [.labManager], uids: uids, now: now)
            _ = try state.createUser(userid: "rita", roles: [.client], uids: uids, now: now)
            let sample = try state.createSample(clientUID: client.uid, contactUID: contact.uid, sampleTypeUID: water.uid,
                                                serviceUIDs: [cu.uid, fe.uid], uids: uids, now: now)
            _ = WorkflowEngine.doTransition("receive", on: sample.uid, context: TransitionContext(user: manager, uids: uids), state: &state, now: now)
            let worksheet = try state.createWorksheet(analyst: "labman", uids: uids, now: now)
            let context = TransitionContext(user: manager, worksheetUID: worksheet.uid, uids: uids)
            let analyses = state.analyses(ofSample: sample.uid).sorted { $0.keyword < $1.keyword }.map(\.uid)
            for uid in analyses where assign {
                _ = try state.addAnalysis(uid, to: worksheet.uid, context: context, now: now)
                try state.setResult("12", on: uid, context: context)
            }
            return (worksheet, analyses)
        }
        return Lab(environment: environment, worksheet: worksheet, analyses: analyses)
    }

    func context() throws -> TaskContext {
        // The handler talks to the lab directly; the connection is the one a consumer would carry.
        TaskContext(logger: Logger(label: "test"), consumerID: "consumer-1", deadlineSeconds: 120,
                    queue: try HTTPQueueConnection(serverURL: "http://127.0.0.1:9", authKey: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="))
    }

    func submitTask(_ lab: Lab, uids: [String], user: String = "labman", chunk: Int = 1) -> QueueTask {
        QueueTask(name: "task_action_submit", contextUID: lab.worksheet.uid, contextPath: lab.worksheet.path, uids: uids,
                  created: now - 60, minSeconds: 0, priority: 10, chunkSize: chunk, username: user, ghost: false)
    }

    @Test("submit in chunks of 1: first chunk processed, the rest continued with every property and created kept")
    func chunkedSubmit() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let lab = try await makeLab(directory)
        let store = lab.environment.store
        let handler = GenericActionHandler(name: "task_action_submit", repository: lab.environment.lab)
        // Enqueued in the same transaction as a unit of work.
        let task = submitTask(lab, uids: lab.analyses)
        try await lab.environment.lab.perform(enqueuing: { _, _ in ((), [task]) })
        let first = try #require(try await store.pop(consumerID: "consumer-1", now: now))
        #expect(first.taskUID == task.taskUID)
        try await handler.process(first, context: try context())
        _ = try await store.done(first.taskUID, lease: .none, now: now)
        var state = try await lab.environment.lab.load()
        #expect(state.analyses[lab.analyses[0]]?.workflowState == "to_be_verified")
        #expect(state.analyses[lab.analyses[1]]?.workflowState == "assigned")
        #expect(state.worksheets[lab.worksheet.uid]?.workflowState == "open")
        let continuation = try #require(try await store.tasks(status: [.queued], since: nil).first)
        #expect(continuation.uids == [lab.analyses[1]] && continuation.taskUID != task.taskUID)
        #expect(continuation.created == task.created && continuation.priority == 10 && continuation.chunkSize == 1)
        #expect(continuation.username == "labman" && continuation.name == "task_action_submit")
        let second = try #require(try await store.pop(consumerID: "consumer-1", now: now))
        try await handler.process(second, context: try context())
        _ = try await store.done(second.taskUID, lease: .none, now: now)
        state = try await lab.environment.lab.load()
        #expect(lab.analyses.allSatisfy { state.analyses[$0]?.workflowState == "to_be_verified" })
        #expect(state.worksheets[lab.worksheet.uid]?.workflowState == "to_be_verified")
        #expect(try await store.tasks(status: [.queued, .running], since: nil).isEmpty)
        await lab.environment.close()
    }

    @Test("chunk size rules: a failed task's halved chunk governs its continuations over a higher setting (5.4); a lower setting or 0 takes effect at once")
    func chunkSizeRules() async throws {
        let base = QueueTask(name: "task_action_submit", contextUID: String(repeating: "a", count: 32), contextPath: "/x",
                             created: now, chunkSize: 5, username: "labman")
        #expect(base.effectiveChunkSize(setting: 10) == 5)
        #expect(base.effectiveChunkSize(setting: 2) == 2)
        #expect(base.effectiveChunkSize(setting: 0) == 0)
        let halved = base.failed(message: "boom", now: now)
        #expect(halved.chunkSize == 3 && halved.effectiveChunkSize(setting: 5) == 3)

        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let lab = try await makeLab(directory)
        // Setting 5, task chunk 1 (as if halved down): one analysis per run, and the continuation keeps chunk 1.
        let handler = GenericActionHandler(name: "task_action_submit", repository: lab.environment.lab,
                                           chunkSetting: ChunkSizeSetting { 5 })
        let task = submitTask(lab, uids: lab.analyses, chunk: 1)
        try await lab.environment.lab.perform(enqueuing: { _, _ in ((), [task]) })
        let first = try #require(try await lab.environment.store.pop(consumerID: "consumer-1", now: now))
        try await handler.process(first, context: try context())
        let continuation = try #require(try await lab.environment.store.tasks(status: [.queued], since: nil).first)
        #expect(continuation.uids == [lab.analyses[1]] && continuation.chunkSize == 1)
        // Setting 0 (queue resuming): the next run takes everything left.
        let drain = GenericActionHandler(name: "task_action_submit", repository: lab.environment.lab, chunkSetting: ChunkSizeSetting { 0 })
        _ = try await lab.environment.store.done(first.taskUID, lease: .none, now: now)
        let second = try #require(try await lab.environment.store.pop(consumerID: "consumer-1", now: now))
        try await drain.process(second, context: try context())
        #expect(try await lab.environment.store.tasks(status: [.queued], since: nil).isEmpty)
        await lab.environment.close()
    }

    @Test("task_action_<transition> without a handler of its own runs as task_generic_action (receive a sample; API.rst 3)")
    func genericFallback() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let lab = try await makeLab(directory, assign: false)
        let uids = self.uids, now = self.now
        let sample = try await lab.environment.lab.perform { state -> Sample in
            let client = state.clients.values.first!, contact = state.contacts.values.first!
            return try state.createSample(clientUID: client.uid, contactUID: contact.uid, sampleTypeUID: state.sampleTypes.values.first!.uid,
                                          serviceUIDs: [state.analysisServices.values.first!.uid], uids: uids, now: now)
        }
        let registry = HandlerRegistry(LimsTaskKinds.handlers(repository: lab.environment.lab, queue: nil))
        let handler = try #require(registry.handler(for: "task_action_receive"))
        #expect(handler.name == "task_generic_action")
        #expect(registry.handler(for: "task_action_") == nil && registry.handler(for: "task_unknown") == nil)
        let task = QueueTask(name: "task_action_receive", contextUID: sample.uid, contextPath: sample.path, created: now, username: "labman")
        try await handler.process(task, context: try context())
        #expect(try await lab.environment.lab.load().samples[sample.uid]?.reviewState == "sample_received")
        await lab.environment.close()
    }

    @Test("assign analyses: slots normalised and sorted, bad and repeated uids dropped, chunked with slots continued")
    func assignAnalyses() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let lab = try await makeLab(directory, assign: false)
        let (cu, fe) = (lab.analyses[0], lab.analyses[1])
        var task = QueueTask(name: "task_assign_analyses", contextUID: lab.worksheet.uid, contextPath: lab.worksheet.path,
                             uids: [fe, cu, "bogus", cu], created: now - 60, minSeconds: 0, chunkSize: 1, username: "labman",
                             slots: [.string(""), .int(2), .string(""), .string("1")])
        #expect(AssignAnalysesHandler.pairs(of: task).map(\.uid) == [cu, fe])
        #expect(AssignAnalysesHandler.pairs(of: task).map(\.slot) == [1, nil])
        task.status = .running
        let handler = AssignAnalysesHandler(repository: lab.environment.lab)
        try await handler.process(task, context: try context())
        var state = try await lab.environment.lab.load()
        #expect(state.worksheets[lab.worksheet.uid]?.layout.map(\.analysisUID) == [cu])
        #expect(state.worksheets[lab.worksheet.uid]?.layout.first?.position == 1)
        let continuation = try #require(try await lab.environment.store.tasks(status: [.queued], since: nil).first)
        #expect(continuation.uids == [fe] && continuation.slots == [.string("")] && continuation.created == task.created)
        try await handler.process(continuation, context: try context())
        state = try await lab.environment.lab.load()
        let layout = try #require(state.worksheets[lab.worksheet.uid]?.layout)
        #expect(Set(layout.map(\.analysisUID)) == [cu, fe] && Set(layout.map(\.position)) == [1]) // same sample, same slot
        #expect(state.analyses[fe]?.workflowState == "assigned")
        // Re-running a finished assignment (at-least-once delivery) changes nothing and queues nothing more.
        try await handler.process(continuation, context: try context())
        #expect(try await lab.environment.lab.load().worksheets[lab.worksheet.uid]?.layout.count == 2)
        #expect(try await lab.environment.store.tasks(status: [.queued], since: nil).count == 1)
        // An assignment to another worksheet of analyses taken meanwhile assigns nothing: it fails for good, saying
        // why, instead of ending done with an empty worksheet.
        let uids = self.uids, now = self.now
        let other = try await lab.environment.lab.perform { state in
            try state.createWorksheet(analyst: "labman", uids: uids, now: now)
        }
        let late = QueueTask(name: "task_assign_analyses", contextUID: other.uid, contextPath: other.path, uids: [cu, fe],
                             created: now, minSeconds: 0, chunkSize: 10, username: "labman")
        do {
            try await handler.process(late, context: try context())
            Issue.record("an assignment that assigned nothing ended done")
        } catch let error as TaskProcessingError {
            #expect(error.isPermanent && error.description.contains("No analysis could be assigned") && error.description.contains("already on worksheet"),
                    "\(error)")
        }
        #expect(try await lab.environment.lab.load().worksheets[other.uid]?.layout.isEmpty == true)
        await lab.environment.close()
    }

    @Test("security re-index: chunked post-order walk of the client's subtree, ends with the client, then stops")
    func reindexSecurity() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let lab = try await makeLab(directory, assign: false)
        let state = try await lab.environment.lab.load()
        let client = try #require(state.clients.values.first)
        let contact = try #require(state.contacts.values.first)
        let rita = try #require(state.user(named: "rita"))
        let sample = try #require(state.samples.values.first)
        #expect(try await lab.environment.lab.search(.sample, visibleTo: rita).isEmpty)
        // Link (the action) and queue the first task of the walk in the same transaction.
        let now = self.now
        try await lab.environment.lab.perform(enqueuing: { state, reader -> ((), [QueueTask]) in
            try await reader.load([contact.uid], into: &state)
            _ = try state.linkUser("rita", toContact: contact.uid, walk: false) // the walk is the task's
            return ((), [ReindexSecurityHandler.firstTask(for: client, username: "labman", chunkSize: 2, now: now)])
        })
        let handler = ReindexSecurityHandler(repository: lab.environment.lab)
        let store = lab.environment.store
        var runs = 0
        while let task = try await store.pop(consumerID: "consumer-1", now: now + Double(runs)) {
            #expect(task.priority == 50 && task.ghost && task.topUID == client.uid)
            try await handler.process(task, context: try context())
            _ = try await store.done(task.taskUID, lease: .none, now: now + Double(runs))
            runs += 1
            try #require(runs < 20, "the walk must end")
        }
        let walk = SecurityWalk.order(from: client.uid, in: state)
        #expect(walk.last == client.uid && runs == (walk.count + 1) / 2)
        #expect(try await lab.environment.lab.search(.sample, visibleTo: rita) == [sample.uid])
        await lab.environment.close()
    }

    @Test("a task queued by a user who may not act fails with a clear message; nothing changes, nothing is queued")
    func notPermitted() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let lab = try await makeLab(directory)
        let handler = GenericActionHandler(name: "task_action_submit", repository: lab.environment.lab)
        let task = submitTask(lab, uids: lab.analyses, user: "rita")
        await #expect {
            try await handler.process(task, context: try context())
        } throws: { error in
            // Said once, and not retried (a retry cannot succeed).
            guard let error = error as? TaskProcessingError else { return false }
            return error.description.contains("rita may not submit") && error.isPermanent
                && error.description.components(separatedBy: "may not").count == 2
        }
        let state = try await lab.environment.lab.load()
        #expect(lab.analyses.allSatisfy { state.analyses[$0]?.workflowState == "assigned" })
        #expect(try await lab.environment.store.tasks(status: [.queued], since: nil).isEmpty)
        await #expect(throws: TaskProcessingError.self) {
            try await handler.process(submitTask(lab, uids: lab.analyses, user: "nobody"), context: try context())
        }
        await lab.environment.close()
    }

    @Test("objects deleted meanwhile are skipped, not retried")
    func missingSkipped() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let lab = try await makeLab(directory)
        let handler = GenericActionHandler(name: "task_action_submit", repository: lab.environment.lab)
        try await handler.process(submitTask(lab, uids: [TaskUID.make()] + lab.analyses, chunk: 10), context: try context())
        let state = try await lab.environment.lab.load()
        #expect(lab.analyses.allSatisfy { state.analyses[$0]?.workflowState == "to_be_verified" })
        await lab.environment.close()
    }

    @Test("enqueue is atomic with the unit of work: a failing unit of work leaves neither its changes nor its tasks")
    func atomicEnqueue() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let lab = try await makeLab(directory)
        let uids = self.uids, now = self.now
        let task = submitTask(lab, uids: lab.analyses)
        await #expect(throws: TaskProcessingError.self) {
            try await lab.environment.lab.perform(enqueuing: { state, _ -> ((), [QueueTask]) in
                _ = state.createClient(name: "Ghost Client", clientID: "GC", uids: uids, now: now)
                throw TaskProcessingError("abort")
            })
        }
        #expect(try await lab.environment.lab.load().clients.values.contains { $0.name == "Ghost Client" } == false)
        try await lab.environment.lab.perform(enqueuing: { state, _ -> ((), [QueueTask]) in
            _ = state.createClient(name: "Real Client", clientID: "RC", uids: uids, now: now)
            return ((), [task])
        })
        #expect(try await lab.environment.lab.load().clients.values.contains { $0.name == "Real Client" })
        #expect(try await lab.environment.store.task(task.taskUID)?.status == .queued)
        await lab.environment.close()
    }

    /// Issue 13, finding 18: a deactivated user's queued tasks fail with a clear message instead of acting for them.
    @Test("a task queued by a user deactivated since fails for good with a message saying so; nothing changes")
    func deactivatedUserTaskFails() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let lab = try await makeLab(directory)
        try await lab.environment.lab.perform { state in
            let uid = state.user(named: "labman")!.uid
            try state.modify(User.self, uid) { $0.deactivated = 1 }
        }
        let handler = GenericActionHandler(name: "task_action_submit", repository: lab.environment.lab)
        await #expect {
            try await handler.process(submitTask(lab, uids: lab.analyses), context: try context())
        } throws: { error in
            guard let error = error as? TaskProcessingError else { return false }
            return error.isPermanent && error.description.contains("user labman was deactivated")
        }
        let state = try await lab.environment.lab.load()
        #expect(lab.analyses.allSatisfy { state.analyses[$0]?.workflowState == "assigned" })
        await lab.environment.close()
    }
}

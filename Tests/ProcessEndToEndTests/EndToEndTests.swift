import AsyncHTTPClient
import Consumer
import Foundation
import NIOCore
import NIOFoundationCompat
import QueueAuth
import QueueCore
import QueueTesting
import TestSupport
import Testing

/// The main job end to end, in both topologies (one `serve` process; or `server`, `web` and two `consumer`
/// processes on one data dir): the demo lab from SENAITE's workbook, a worksheet from the Hardness template whose
/// routine analyses are assigned through the queue, a queued submit, and a contact linked to a new user whose
/// security walk runs through the queue — all through the LIMS API, processed by real consumers as the users.
@Suite("End to end", .serialized)
struct EndToEndTests {
    let key = Fernet.generateKey()

    struct Client: Sendable {
        let base: String
        let http: HTTPClient
        let basic: String

        /// Calls `/@@API/senaite/v1/<path>` as the user; returns status and JSON object.
        func call(_ path: String, body: JSONValue? = nil) async throws -> (status: Int, json: [String: JSONValue]) {
            var request = HTTPClientRequest(url: "\(base)/@@API/senaite/v1/\(path)")
            request.method = body == nil ? .GET : .POST
            request.headers.add(name: "Authorization", value: "Basic \(basic)")
            if let body {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(bytes: body.jsonBytes))
            }
            let response = try await http.execute(request, timeout: .seconds(30))
            let buffer = try await response.body.collect(upTo: 16 << 20)
            return (Int(response.status.code), (try? JSONValue.parse(buffer.readableBytesView))?.objectValue ?? [:])
        }

        func items(_ answer: (status: Int, json: [String: JSONValue])) -> [[String: JSONValue]] {
            answer.json["items"]?.arrayValue?.compactMap(\.objectValue) ?? []
        }
    }

    /// How the processes are laid out on one data dir.
    enum Topology: String, CaseIterable, Sendable, CustomTestStringConvertible {
        /// `limsqueue serve` (queue server, LIMS and 2 consumers in one process), demo lab made on first start.
        case allInOne
        /// `limsqueue server`, `limsqueue web` and two `limsqueue consumer` processes.
        case split
        var testDescription: String { rawValue }
    }

    /// The running processes of a topology and the LIMS API's base URL.
    struct Running: Sendable {
        let processes: [LimsProcess]
        let limsBase: String

        /// Stops consumers first, then the servers (as an operator would), each with SIGTERM; their exit codes.
        func stop() async -> [Int32?] {
            var codes: [Int32?] = []
            for process in processes.reversed() {
                process.kill(SIGTERM)
                codes.append(await process.waitForExit())
            }
            return codes
        }
    }

    func start(_ topology: Topology, in directory: TemporaryDirectory) async throws -> Running {
        let env = ["LIMSQUEUE_AUTH_KEY": key, "LOG_LEVEL": "info"]
        switch topology {
        case .allInOne:
            let serve = try LimsProcess(["serve", "--port", "0", "--consumers", "2", "--setup", SetupCLITests.workbook, "--demo-samples", "20"]
                                        + (try await TestDatabase.arguments(dataDir: directory.path)),
                                        logDirectory: directory.path, name: "serve", environment: env)
            let port = try await serve.listeningPort()
            return Running(processes: [serve], limsBase: "http://127.0.0.1:\(port)")
        case .split:
            #expect(try await runLimsQueue(["setup", "import", SetupCLITests.workbook, "--bcrypt-cost", "4"], dataDir: directory.path).status == 0)
            #expect(try await runLimsQueue(["setup", "reference-samples"], dataDir: directory.path).status == 0)
            #expect(try await runLimsQueue(["demo", "samples", "--count", "20"], dataDir: directory.path).status == 0)
            let database = try await TestDatabase.arguments(dataDir: directory.path)
            let server = try LimsProcess(["server", "--port", "0"] + database,
                                         logDirectory: directory.path, name: "server", environment: env)
            let serverPort = try await server.listeningPort()
            let web = try LimsProcess(["web", "--port", "0"] + database,
                                      logDirectory: directory.path, name: "web", environment: env)
            let webPort = try await web.listeningPort()
            let consumers = try (1...2).map { index in
                try LimsProcess(["consumer", "--server", "http://127.0.0.1:\(serverPort)", "--consumer-id", "split-consumer-\(index)"]
                                + database,
                                logDirectory: directory.path, name: "consumer-\(index)", environment: env)
            }
            return Running(processes: [server, web] + consumers, limsBase: "http://127.0.0.1:\(webPort)")
        }
    }

    @Test("demo lab day in both topologies: worksheet from the Hardness template and a submit go through the queue; a contact's new user finds its samples",
          arguments: Topology.allCases)
    func labDay(topology: Topology) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let running = try await start(topology, in: directory)
        // No min_seconds booking: the consumers' booking is proven in virtual time (ConsumerTests); here it would
        // only be waited out. A lowered setting also applies to tasks already queued.
        #expect(try await runLimsQueue(["settings", "set", "min_seconds_task", "0"], dataDir: directory.path).status == 0)
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        let api = Client(base: running.limsBase, http: http, basic: Data("labman1:labman1".utf8).base64EncodedString())
        do {
            if topology == .split {
                // The web node serves no queue routes; the server serves no LIMS.
                #expect(try await api.call("queue_server/tasks").status == 404)
            }
            #expect(try await api.call("queue_status").json["status"] == .string("ready"))
            let templates = api.items(try await api.call("WorksheetTemplate"))
            let hardness = try #require(templates.first { ($0["title"]?.stringValue ?? "").localizedCaseInsensitiveContains("hardness") },
                                        "templates: \(templates.map { $0["title"] ?? .null })")
            let created = try await api.call("worksheet/create", body: .object([
                "analyst": .string("analyst1"), "template": hardness["uid"] ?? .null,
            ]))
            #expect(created.status == 200, "\(created.json)")
            let worksheetUID = try #require(api.items(created).first?["uid"]?.stringValue)
            // The lab's first worksheet, numbered without a gap although its template's blank and control made the
            // unit of work run again for their reference group numbers (found by a fresh user: WS-0002).
            #expect(api.items(created).first?["id"] == .string("WS-0001"), "\(created.json)")
            let queuedUIDs = created.json["queued_uids"]?.arrayValue?.compactMap(\.stringValue) ?? []
            #expect(created.json["queued"] == .bool(true), "\(created.json)")
            try #require(queuedUIDs.count >= 2, "the Hardness template selects the demo samples' Ca and Mg analyses")
            // Blank and control slots were filled at once from the reference samples.
            #expect(created.json["template_application"]?.objectValue?["references"]?.arrayValue?.isEmpty == false, "\(created.json)")
            // The consumers assign them (after the 5 s delay).
            try await eventually(90, "the template's routine analyses are assigned") {
                let analyses = api.items(try await api.call(worksheetUID)).first?["Analyses"]?.arrayValue ?? []
                let assigned = analyses.compactMap(\.objectValue).filter { $0["review_state"] == .string("assigned") }
                return Set(assigned.compactMap { $0["uid"]?.stringValue }).isSuperset(of: queuedUIDs)
            }
            let uids = Array(queuedUIDs.prefix(6))
            for uid in uids {
                #expect(try await api.call("update", body: .object(["uid": .string(uid), "Result": .string("7.5")])).status == 200)
            }
            let submit = try await api.call("workflow_action", body: .object([
                "action": .string("submit"), "uids": .array(uids.map(JSONValue.string)), "context_uid": .string(worksheetUID),
            ]))
            #expect(submit.json["queued"] == .bool(true), "\(submit.json)")
            try await eventually(60, "the queued submit is processed") {
                var submitted = 0
                for uid in uids where api.items(try await api.call(uid)).first?["review_state"] == .string("to_be_verified") {
                    submitted += 1
                }
                return submitted == uids.count
            }
            // A blank or control is submitted and retracted like any analysis (found by a fresh user: its retract read
            // outside the unit of work's working set and answered 500).
            let referenceUID = try #require(created.json["template_application"]?.objectValue?["references"]?.arrayValue?.first?.stringValue)
            #expect(try await api.call("update", body: .object(["uid": .string(referenceUID), "Result": .string("0.1")])).status == 200)
            for action in ["submit", "retract"] {
                let answer = try await api.call("workflow_action", body: .object([
                    "action": .string(action), "uids": .array([.string(referenceUID)]),
                ]))
                #expect(answer.status == 200 && answer.json["success"] == .bool(true), "\(action): \(answer.json)")
            }
            #expect(api.items(try await api.call(referenceUID)).first?["review_state"] == .string("retracted"))
                        // A client contact gets a user: the security walk runs through the queue; the user then sees its samples.
            let clients = api.items(try await api.call("Client"))
            let clientUID = try #require(clients.first?["uid"])
            let newContact = try await api.call("create", body: .object([
                "portal_type": .string("Contact"), "Client": clientUID, "Firstname": .string("Eve"), "Surname": .string("Tester"),
            ]))
            #expect(newContact.status == 200, "\(newContact.json)")
            let contact = try #require(api.items(newContact).first)
            let link = try await api.call("contact/link_user", body: .object([
                "contact_uid": contact["uid"] ?? .null, "username": .string("e2e-client"), "password": .string("e2e-password"),
            ]))
            #expect(link.status == 200 && link.json["queued"] == .bool(true), "\(link.json)")
            let clientUser = Client(base: running.limsBase, http: http, basic: Data("e2e-client:e2e-password".utf8).base64EncodedString())
            try await eventually(60, "the client user finds its client's samples") {
                let samples = try await clientUser.call("AnalysisRequest")
                return (samples.json["count"]?.intValue ?? 0) > 0
                    && clientUser.items(samples).allSatisfy { $0["getClientUID"] == contact["getClientUID"] || $0["getClientUID"] == nil }
            }
            #expect(try await api.call("queue_status").json["status"] == .string("ready"))
        } catch {
            try? await http.shutdown()
            _ = await running.stop()
            for process in running.processes { print(process.log.suffix(3000)) }
            throw error
        }
        try await http.shutdown()
        let codes = await running.stop()
        #expect(codes.allSatisfy { $0 == 0 }, "exit codes \(codes)")
    }

    /// A tryout: `demo run --server` waited for every task of the queue, an unrelated one delayed a year too (until its
    /// 600 s timeout). It waits for the tasks of the users who acted in each step.
    @Test("demo run --server against a lab with tasks delayed a year (another user's, the manager's own from before): the day runs through without waiting for them")
    func demoRunIgnoresOtherWork() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let running = try await start(.allInOne, in: directory)
        #expect(try await runLimsQueue(["settings", "set", "min_seconds_task", "0"], dataDir: directory.path).status == 0)
        let queue = try HTTPQueueConnection(serverURL: running.limsBase, authKey: key, userID: QueueAuthToken.consumerUserID)
        let unrelated = TaskFactory.task("task_unrelated", context: "WS-elsewhere", created: Date().timeIntervalSince1970,
                                         username: "someone-else", delay: 300 * 86_400)
        // The manager's own task from before the day, delayed a year, is not waited for either (a tryout's second finding).
        let earlier = TaskFactory.task("task_earlier", context: "WS-earlier", created: Date().timeIntervalSince1970,
                                       username: "labman1", delay: 300 * 86_400)
        _ = try await queue.add([unrelated, earlier])
        let day = try await runLimsQueue(["demo", "run", "--server", running.limsBase, "--timeout", "120"], dataDir: directory.path,
                                   timeoutSeconds: 400)
        let codes = await running.stop()
        #expect(day.status == 0, "\(day.output.suffix(3000))")
        #expect(day.output.contains("tasks done after") && !day.output.contains("did not finish"), "\(day.output.suffix(3000))")
        #expect(codes.allSatisfy { $0 == 0 }, "exit codes \(codes)")
    }
}

import AsyncHTTPClient
import Consumer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LIMSCore
import LimsAPI
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

/// Security of the HTTP API over a live server on loopback (so requests have a peer address), with the queue
/// routes and the LIMS API mounted as `limsqueue serve` mounts them, on the real SQLite store and the seeded lab of
/// ``LimsAPITests`` (labman, analyst1, rita = a user linked to Happy Hills' contact; Klaymore is another client).
@Suite("Security over HTTP", .serialized)
struct SecurityHTTPTests {
    struct Answer: Sendable {
        let status: Int
        let json: [String: JSONValue]
        let headers: HTTPFields
        var message: String { json["message"]?.stringValue ?? "" }
        var items: [[String: JSONValue]] { json["items"]?.arrayValue?.compactMap(\.objectValue) ?? [] }
    }

    struct Client: Sendable {
        let client: any TestClientProtocol
        let lab: SeededLab
        let key: String
        let clock: ManualClock
        let store: any QueueStore
        let repository: any LabRepository

        func call(_ path: String, method: HTTPRequest.Method = .post, body: JSONValue? = nil, rawBody: String? = nil,
                  basic: (String, String)? = nil, cookie: String? = nil, token: String? = nil,
                  headers extra: [String: String] = [:]) async throws -> Answer {
            var headers: HTTPFields = [.contentType: "application/json"]
            if let basic { headers[.authorization] = "Basic " + Data("\(basic.0):\(basic.1)".utf8).base64EncodedString() }
            if let cookie { headers[.cookie] = "__ac=\(cookie)" }
            if let token { headers[HTTPField.Name(QueueAuthToken.headerName)!] = token }
            for (name, value) in extra { headers[HTTPField.Name(name)!] = value }
            let uri = path.hasPrefix("/") ? path : "/@@API/senaite/v1/" + path
            let response = try await client.executeRequest(uri: uri, method: method, headers: headers,
                                                           body: rawBody.map { ByteBuffer(string: $0) } ?? body.map { ByteBuffer(bytes: $0.jsonBytes) })
            let json = (try? JSONValue.parse(response.body.readableBytesView))?.objectValue ?? [:]
            return Answer(status: Int(response.status.code), json: json, headers: response.headers)
        }

        func login(_ user: String, _ password: String, from address: String? = nil) async throws -> Answer {
            try await call("login", body: ["username": .string(user), "password": .string(password)],
                           headers: address.map { ["X-Forwarded-For": $0] } ?? [:])
        }

        /// The session cookie of a successful login.
        func session(_ user: String, _ password: String) async throws -> String {
            let answer = try await login(user, password)
            let value = try #require(answer.headers[values: .setCookie].first { $0.hasPrefix("__ac=") })
            return String(value.dropFirst(5).prefix { $0 != ";" })
        }

        func token(user: String = "queue_consumer", now: Double? = nil, key: String? = nil) throws -> String {
            try QueueAuthToken(key: key ?? self.key).make(userID: user, now: now ?? clock.now())
        }
    }

    /// A live server on a fresh store with the seeded lab; login limits 3 per user and address and 5 per address in
    /// 300 s; `trustedProxies` as `--trusted-proxy`. Default: 127.0.0.1 (the test client), so that tests can speak
    /// from several client addresses with `X-Forwarded-For`.
    func withServer(trustedProxies: Set<String> = ["127.0.0.1"], _ body: @escaping @Sendable (Client) async throws -> Void) async throws {
        try await StoreFixture.with { fixture in
            let key = Fernet.generateKey()
            let clock = fixture.clock
            let lab = try await SeededLab.seed(fixture.lab)
            let authenticator = QueueAuthenticator(key: { key }, clock: clock, userExists: QueueNode.userDirectory(lab: fixture.lab))
            let queue = QueueServerController(store: fixture.store, authenticator: authenticator, clock: clock)
            let limiter = LoginRateLimiter(policy: .init(maxFailuresPerUser: 3, maxFailuresPerAddress: 5, windowSeconds: 300), clock: clock)
            let lims = LimsAPIController(repository: fixture.lab, authKey: { key }, clock: clock,
                                         queue: fixture.store, loginLimiter: limiter, sessions: SQLSessionStore(store: fixture.store))
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            let app = QueueServerApp.build(controller: queue, host: "127.0.0.1", port: 0, logger: logger, trustedProxies: trustedProxies,
                                           addRoutes: { lims.addRoutes(to: $0) })
            try await app.test(.live) { client in
                try await body(Client(client: client, lab: lab, key: key, clock: clock, store: fixture.store,
                                      repository: fixture.lab))
            }
        }
    }

    /// Forged, expired, tampered, wrong-key and replayed `X-Queue-Auth-Token`s are refused 401.
    ///
    /// "Replayed" here means a captured token presented again after its lifetime (10 seconds; the tokens are
    /// bearer tokens without a server-side nonce, as in senaite.queue, so within its lifetime a copy is as good
    /// as the original), and a token minted for one purpose presented for another: a LIMS session cookie (same
    /// auth key, 8-hour lifetime) sent as a queue token.
    @Test("forged, expired, tampered, wrong-key and replayed queue tokens are refused")
    func queueTokens() async throws {
        try await withServer { api in
            let route = "queue_server/tasks"
            let valid = try api.token()
            #expect(try await api.call(route, token: valid).status == 200)
            // Forged: the shape of a Fernet token (version byte, timestamp, IV, ciphertext, HMAC) with random bytes.
            var forgedBytes: [UInt8] = [0x80] + (0..<8).map { _ in 0 } + (0..<(16 + 32 + 32)).map { _ in UInt8.random(in: 0...255) }
            forgedBytes[8] = 1
            let forged = Data(forgedBytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            let expired = try api.token(now: api.clock.now() - 11)
            var characters = Array(valid)
            characters[50] = characters[50] == "A" ? "B" : "A"
            let tampered = String(characters)
            let wrongKey = try api.token(key: Fernet.generateKey())
            for (label, token) in [("forged", forged), ("expired", expired), ("tampered", tampered), ("wrong key", wrongKey),
                                   ("empty", ""), ("garbage", "not-a-token")] {
                let answer = try await api.call(route, token: token)
                #expect(answer.status == 401, "\(label) token answered \(answer.status)")
                #expect(answer.json["success"] == .bool(false) && answer.message.contains(QueueAuthToken.headerName))
            }
            // Replayed after its lifetime: the same valid token, 11 s later.
            api.clock.advance(by: 11)
            #expect(try await api.call(route, token: valid).status == 401)
            // A LIMS session cookie is not a queue token (derived key), nor the other way round.
            let cookie = try await api.session("labman", "labpass")
            #expect(try await api.call(route, token: cookie).status == 401)
            #expect(try await api.call("Client", method: .get, cookie: try api.token(user: "labman")).status == 401)
            // Never leaked into a refusal: the answer names the header, not the token.
            let refused = try await api.call(route, token: tampered)
            #expect(!refused.message.contains(tampered))
        }
    }

    /// Issue 13, finding 3: senaite.queue's PAS plugin requires the token's user to exist; so do we.
    @Test("a queue token naming a user that does not exist, or a deactivated one, is refused 401")
    func queueTokenUserMustExist() async throws {
        try await withServer { api in
            let route = "queue_server/tasks"
            #expect(try await api.call(route, token: try api.token(user: "labman")).status == 200)
            #expect(try await api.call(route, token: try api.token(user: QueueAuthToken.consumerUserID)).status == 200)
            for user in ["ghost-user", "x", "LABMAN", "labman "] {
                let answer = try await api.call(route, token: try api.token(user: user))
                #expect(answer.status == 401, "token for \(user) answered \(answer.status)")
            }
            // A token verified once is remembered, yet a user deactivated since is refused at once.
            let token = try api.token(user: "analyst1")
            #expect(try await api.call(route, token: token).status == 200)
            #expect(try await api.call("users/update", body: ["username": "analyst1", "active": false], basic: ("labman", "labpass")).status == 200)
            #expect(try await api.call(route, token: token).status == 401)
        }
    }

    /// Issue 13, finding 4: the Fernet timestamp bounds a token's life, whatever expiry its plaintext states.
    @Test("a queue token made more than 60 s ago or ahead is refused, whatever expiry it states")
    func queueTokenTimestampBounded() async throws {
        try await withServer { api in
            let route = "queue_server/tasks", fernet = try Fernet(key: api.key)
            let now = api.clock.now()
            func token(expiry: String, stamped: Double) throws -> String {
                try fernet.encrypt(Data("\(expiry):labman".utf8), timestamp: UInt64(stamped))
            }
            let forever = try token(expiry: "1e300", stamped: now)
            #expect(try await api.call(route, token: forever).status == 200)
            let old = try token(expiry: "1e300", stamped: now - 61)
            #expect(try await api.call(route, token: old).status == 401)
            let future = try token(expiry: "1e300", stamped: now + 61)
            #expect(try await api.call(route, token: future).status == 401)
            #expect(try await api.call(route, token: try token(expiry: "1e300", stamped: now + 30)).status == 200)
            // The token that was valid stops being valid 60 s after it was made (also once remembered as verified).
            api.clock.advance(by: 61)
            #expect(try await api.call(route, token: forever).status == 401)
        }
    }

    @Test("failed logins are limited per user and address and per address: 429 with Retry-After, even for the right password, until the window passes")
    func loginRateLimit() async throws {
        try await withServer { api in
            for _ in 0..<3 { #expect(try await api.login("labman", "wrong").status == 401) }
            // The user is blocked at this address: even the right password is refused, and HTTP Basic too.
            let blocked = try await api.login("labman", "labpass")
            #expect(blocked.status == 429 && blocked.json["success"] == .bool(false))
            let retryAfter = try #require(blocked.headers[.retryAfter].flatMap { Int($0) })
            #expect((1...300).contains(retryAfter))
            #expect(try await api.call("Client", method: .get, basic: ("labman", "labpass")).status == 429)
            // Another user from the same address still may log in (address limit 5 not reached: 3 failures so far).
            #expect(try await api.login("analyst1", "anpass").status == 200)
            // Two more failures for existing users reach the address limit: everyone from this address waits.
            #expect(try await api.login("analyst1", "x").status == 401)
            #expect(try await api.call("Client", method: .get, basic: ("rita", "x")).status == 401)
            let addressBlocked = try await api.login("rita", "ritapass")
            #expect(addressBlocked.status == 429 && addressBlocked.headers[.retryAfter] != nil)
            // After the window, everything works again; a success clears the user's count.
            api.clock.advance(by: 301)
            #expect(try await api.login("labman", "labpass").status == 200)
            #expect(try await api.call("Client", method: .get, basic: ("rita", "ritapass")).status == 200)
        }
    }

    @Test("a login whose user name is a long run of combining accents is refused 401 before any lookup, over JSON and HTTP Basic (it took seconds of CPU)")
    func heavyLoginNames() async throws {
        try await withServer { api in
            let heavy = "e" + String(repeating: "\u{301}\u{327}", count: 2_000)
            let json = try await api.login(heavy, "x")
            #expect(json.status == 401)
            let basic = try await api.call("Client", method: .get, basic: (heavy, "x"))
            #expect(basic.status == 401)
            // Nobody is locked out by them.
            let labman = try await api.login("labman", "labpass")
            #expect(labman.status == 200)
        }
    }

    /// Issue 13, finding 2: nobody can lock other people out.
    @Test("failures from one address never lock a user out elsewhere; random names lock out nobody; X-Forwarded-For only from trusted proxies")
    func lockoutCannotBeAbused() async throws {
        try await withServer { api in
            // 5 wrong passwords for labman from one address (the user limit is 3 here): blocked there only.
            for _ in 0..<3 { #expect(try await api.login("labman", "wrong", from: "198.51.100.7").status == 401) }
            #expect(try await api.login("labman", "labpass", from: "198.51.100.7").status == 429)
            #expect(try await api.login("labman", "labpass", from: "203.0.113.20").status == 200)
            #expect(try await api.login("labman", "labpass").status == 200) // the proxy itself, no header
            // A chain of proxies: the rightmost address that is not a trusted proxy is the client.
            #expect(try await api.login("labman", "labpass", from: "198.51.100.7, 127.0.0.1").status == 429)
            #expect(try await api.login("labman", "labpass", from: "198.51.100.7, 203.0.113.20").status == 200)
            // 20 failures with random user names from one address (the address limit is 5 here): known users at that
            // address still log in.
            for index in 0..<20 {
                let name = "random-\(index)-" + UUID().uuidString.prefix(6)
                let answer = try await api.login(name, "x", from: "192.0.2.55")
                #expect(answer.status == 401)
            }
            #expect(try await api.login("analyst1", "anpass", from: "192.0.2.55").status == 200)
            #expect(try await api.call("Client", method: .get, basic: ("rita", "ritapass"),
                                       headers: ["X-Forwarded-For": "192.0.2.55"]).status == 200)
            // Spraying existing users from one address blocks that address, and no other.
            for user in ["labman", "labman", "analyst1", "analyst1", "rita"] {
                #expect(try await api.login(user, "wrong", from: "192.0.2.99").status == 401)
            }
            #expect(try await api.login("rita", "ritapass", from: "192.0.2.99").status == 429)
            #expect(try await api.login("rita", "ritapass", from: "192.0.2.100").status == 200)
        }
        // Without a trusted proxy, X-Forwarded-For is ignored: a client cannot pick the address it is counted under.
        let untrusted: @Sendable (Client) async throws -> Void = { api in
            for address in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
                let answer = try await api.login("labman", "wrong", from: address)
                #expect(answer.status == 401)
            }
            let blocked = try await api.login("labman", "labpass", from: "203.0.113.20")
            #expect(blocked.status == 429)
        }
        try await withServer(trustedProxies: [], untrusted)
    }

    /// Issue 13, finding 5: another client's object is answered exactly as an object that does not exist.
    @Test("workflow_action on a hidden uid answers exactly as on an unknown uid (no review_state)")
    func hiddenUIDAnswersAsUnknown() async throws {
        try await withServer { api in
            let rita = ("rita", "ritapass")
            let hidden = api.lab.klaymoreSample.uid, unknown = String(repeating: "ab", count: 16)
            func answer(_ uid: String, _ action: String) async throws -> (Int, String) {
                let reply = try await api.call("workflow_action", body: ["action": .string(action), "uids": [.string(uid)]], basic: rita)
                let body = JSONValue.object(reply.json.filter { $0.key != "url" })
                return (reply.status, String(decoding: body.jsonBytes, as: UTF8.self).replacingOccurrences(of: uid, with: "<uid>"))
            }
            for action in ["receive", "submit", "reject"] {
                let (hiddenStatus, hiddenBody) = try await answer(hidden, action)
                let (unknownStatus, unknownBody) = try await answer(unknown, action)
                #expect(hiddenStatus == unknownStatus)
                #expect(hiddenBody == unknownBody)
                #expect(!hiddenBody.contains("sample_due"))
            }
        }
    }

    /// A worksheet (analyst: analyst1) holding both analyses of the received Happy Hills sample, with results.
    func worksheetWithResults(_ api: Client) async throws -> (worksheet: String, analyses: [String]) {
        let manager = ("labman", "labpass")
        let created = try await api.call("worksheet/create", body: ["analyst": "analyst1"], basic: manager)
        let worksheet = try #require(created.items.first?["uid"]?.stringValue)
        let sample = try await api.call(api.lab.happySamples[0].uid, method: .get, basic: manager)
        let analyses = try #require(sample.items.first?["Analyses"]?.arrayValue?.compactMap { $0.objectValue?["uid"]?.stringValue })
        let assigned = try await api.call("workflow_action", body: [
            "action": "assign", "uids": .array(analyses.map(JSONValue.string)), "context_uid": .string(worksheet),
        ], basic: manager)
        try #require(assigned.json["success"] == .bool(true))
        for uid in analyses {
            try #require(try await api.call("update", body: ["uid": .string(uid), "Result": "12"], basic: manager).status == 200)
        }
        return (worksheet, analyses)
    }

    /// Runs the next queued task on a consumer of the live server (as `limsqueue serve`'s consumers do).
    func runNextTask(_ api: Client) async throws -> QueueTask {
        let port = try #require(api.client.port)
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            let connection = try HTTPQueueConnection(serverURL: "http://127.0.0.1:\(port)", authKey: api.key, http: http, clock: api.clock)
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            let consumer = QueueConsumer(connection: connection, handlers: QueueNode.handlers(lab: api.repository, queue: api.store),
                                         configuration: .init(consumerID: "security-consumer"), logger: logger, clock: api.clock)
            let task = try #require(try await connection.pop(consumerID: "security-consumer", wait: 0))
            // The min_seconds booking after a success runs on the manual clock, advanced past it.
            await api.clock.advancingSleepers(within: Double(task.minSeconds)) { await consumer.process(task) }
            try await http.shutdown()
            return try #require(try await api.store.task(task.taskUID))
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    /// Issue 13, finding 6: a queued worksheet action is checked per analysis when asked; a permission refusal
    /// inside a task fails it once, for good.
    @Test("queued worksheet actions refuse at once what the user may not do; a permission refusal in a task is not retried")
    func queuedWorksheetActionPermissions() async throws {
        try await withServer { api in
            let (worksheet, analyses) = try await worksheetWithResults(api)
            let uids = JSONValue.array(analyses.map(JSONValue.string))
            // analyst1 may not verify: refused at once, as without a worksheet context, and nothing is queued.
            let verify = try await api.call("workflow_action", body: ["action": "verify", "uids": uids, "context_uid": .string(worksheet)],
                                            basic: ("analyst1", "anpass"))
            #expect(verify.status == 200 && verify.json["success"] == .bool(false) && verify.json["queued"] == nil)
            #expect(verify.items.count == 2 && verify.items.allSatisfy { $0["guard"] == .string(GuardID.permission) })
            #expect(verify.items.first?["message"]?.stringValue?.contains("analyst1 may not verify") == true)
            #expect(try await api.store.tasks(status: Set(TaskStatus.allCases), since: nil).isEmpty)
            // What the user may do is queued.
            let queued = try await api.call("workflow_action", body: ["action": "unassign", "uids": uids, "context_uid": .string(worksheet)],
                                            basic: ("labman", "labpass"))
            #expect(queued.json["queued"] == .bool(true))
            let taskUID = try #require(queued.json["task_uid"]?.stringValue)
            // Before it runs, labman loses the right to manage worksheets (a second manager makes him a lab clerk).
            #expect(try await api.call("users/create", body: ["username": "labman2", "password": "secret-22", "roles": ["LabManager"]],
                                       basic: ("labman", "labpass")).status == 201)
            #expect(try await api.call("users/update", body: ["username": "labman", "roles": ["LabClerk"]],
                                       basic: ("labman2", "secret-22")).status == 200)
            let failed = try await runNextTask(api)
            #expect(failed.taskUID == taskUID)
            #expect(failed.status == .failed, "a permission refusal is not retried")
            #expect(failed.retries == 3, "no retry was spent")
            let message = failed.errorMessage ?? ""
            #expect(message.contains("labman may not unassign"))
            #expect(message.components(separatedBy: "may not").count == 2, "said once: \(message)")
            let state = try await api.repository.load()
            #expect(analyses.allSatisfy { state.analyses[$0]?.worksheetUID == worksheet })
        }
    }

    /// Issue 13, finding 8: results are numbers unless the service allows string results; bounded; 400 naming
    /// the field.
    @Test("results: non-finite numbers, text for numeric services and huge strings are refused 400 naming 'Result'")
    func resultsValidated() async throws {
        try await withServer { api in
            let manager = ("labman", "labpass")
            let sample = try await api.call(api.lab.happySamples[0].uid, method: .get, basic: manager)
            let analyses = (sample.items.first?["Analyses"]?.arrayValue ?? []).compactMap(\.objectValue)
            let copper = analyses.first { $0["keyword"] == "Cu" }
            let cu = try #require(copper?["uid"]?.stringValue)
            func update(_ uid: String, _ result: String) async throws -> Answer {
                try await api.call("update", rawBody: "{\"uid\": \"\(uid)\", \"Result\": \(result)}", basic: manager)
            }
            for bad in ["1e400", "-1e400", "\"inf\"", "\"NaN\"", "\"1e400\"", "\"text\"", "\"12 mg\"", "\"0x1p3\"", "\"1,5\"",
                        "\"\(String(repeating: "7", count: 65))\"", "\"\(String(repeating: "x", count: 1_000_000))\""] {
                let answer = try await update(cu, bad)
                #expect(answer.status == 400 && answer.message.contains("'Result'"), "\(bad.prefix(20)) answered \(answer.status) \(answer.message)")
            }
            let long = try await update(cu, "\"\(String(repeating: "7", count: 65))\"")
            #expect(long.message.contains("too long") && long.message.contains("at most 64"), "\(long.message)")
            let state = try await api.repository.load()
            #expect(state.analysisRecord(cu)?.result == nil, "nothing stored")
            for good in ["12.5", "\"-0.003\"", "\"1e-3\"", "7", "null"] {
                #expect(try await update(cu, good).status == 200, "\(good) refused")
            }
            // A JSON number beyond 64 bits is stored as written (results are text), not rounded through a double.
            #expect(try await update(cu, "12345678901234567890123").status == 200)
            #expect(try await api.repository.load().analysisRecord(cu)?.result == "12345678901234567890123")
            // A service allowing string results takes text, still bounded.
            try await api.repository.perform { state, reader in
                try await reader.load([cu], into: &state)
                let serviceUID = state.analysisRecord(cu)!.serviceUID
                try state.modify(AnalysisService.self, serviceUID) { $0.stringResult = true }
            }
            #expect(try await update(cu, "\"positive\"").status == 200)
            #expect(try await api.repository.load().analysisRecord(cu)?.result == "positive")
            #expect(try await update(cu, "\"\(String(repeating: "x", count: 1001))\"").status == 400)
            #expect(try await update(cu, "1e400").status == 400)
        }
    }

    /// Issue 13, finding 12 (API): `my_tasks` lists the user's own work; retry and dismiss act on their failed tasks only.
    @Test("my_tasks lists the user's own queued, running and failed work; retry and dismiss only their own failed tasks")
    func myTasksRoute() async throws {
        try await withServer { api in
            var failing = QueueTask(name: "task_action_submit", contextUID: TaskUID.make(), contextPath: "/senaite/worksheets/WS-1",
                                    created: api.clock.now(), retries: 0, username: "analyst1")
            failing.minSeconds = 0
            let others = QueueTask(name: "task_action_verify", contextUID: TaskUID.make(), contextPath: "/senaite/worksheets/WS-2",
                                   created: api.clock.now(), username: "labman")
            _ = try await api.store.add([failing, others], now: api.clock.now())
            _ = try #require(try await api.store.pop(consumerID: "consumer-1", now: api.clock.now()))
            _ = try await api.store.fail(failing.taskUID, message: "boom", lease: .none, now: api.clock.now())
            let analyst = ("analyst1", "anpass")
            let mine = try await api.call("my_tasks", method: .get, basic: analyst)
            #expect(mine.status == 200 && mine.items.map { $0["task_uid"] } == [.string(failing.taskUID)])
            #expect(mine.items.first?["status"] == "failed" && mine.items.first?["error_message"] == "boom")
            #expect(try await api.call("my_tasks?status=failed", method: .get, basic: ("labman", "labpass")).items.isEmpty)
            let notMine = try await api.call("my_tasks/dismiss", body: ["task_uid": .string(others.taskUID)], basic: analyst)
            #expect(notMine.status == 404 && notMine.message.contains("'task_uid'"))
            let notFailed = try await api.call("my_tasks/retry", body: ["task_uid": .string(others.taskUID)], basic: ("labman", "labpass"))
            #expect(notFailed.status == 409)
            #expect(try await api.call("my_tasks/retry", body: ["task_uid": .string(failing.taskUID)], basic: analyst).status == 200)
            #expect(try await api.store.task(failing.taskUID)?.status == .queued)
            // Paged: newest first, `limit` from `b_start`, with the total; bad values are 400 naming the field.
            let more = (1...4).map { index in
                QueueTask(name: "task_action_submit", contextUID: TaskUID.make(), contextPath: "/senaite/worksheets/WS-\(index + 2)",
                          created: api.clock.now() + Double(index), username: "analyst1")
            }
            _ = try await api.store.add(more, now: api.clock.now())
            let page = try await api.call("my_tasks?limit=2&b_start=1", method: .get, basic: analyst)
            #expect(page.status == 200 && page.json["total"] == .int(5) && page.json["count"] == .int(2), "\(page.json)")
            #expect(page.items.map { $0["task_uid"] } == [.string(more[2].taskUID), .string(more[1].taskUID)])
            let beyond = try await api.call("my_tasks?limit=500&b_start=9223372036854775807", method: .get, basic: analyst)
            #expect(beyond.status == 200 && beyond.items.isEmpty && beyond.json["total"] == .int(5))
            for bad in ["limit=0", "limit=501", "limit=x", "b_start=-1"] {
                let refused = try await api.call("my_tasks?\(bad)", method: .get, basic: analyst)
                #expect(refused.status == 400 && refused.message.contains("'\(bad.prefix { $0 != "=" })'"), "\(bad) \(refused.json)")
            }
        }
    }

    /// Rita is a user linked to Happy Hills' contact; Klaymore is another client.
    @Test("a client contact cannot read or act on another client's objects, directly or by queueing a task")
    func clientIsolation() async throws {
        try await withServer { api in
            let rita = ("rita", "ritapass"), manager = ("labman", "labpass")
            let foreign = api.lab.klaymoreSample.uid
            let foreignSample = try await api.call(foreign, method: .get, basic: manager)
            let foreignAnalysis = try #require(foreignSample.items.first?["Analyses"]?.arrayValue?.first?.objectValue?["uid"]?.stringValue)
            // Read: listings show only her client's samples; another client's objects are 404 by uid.
            let samples = try await api.call("AnalysisRequest", method: .get, basic: rita)
            #expect(samples.status == 200 && samples.json["count"] == .int(3))
            #expect(samples.items.allSatisfy { $0["getClientUID"] == .string(api.lab.happy.uid) })
            #expect(try await api.call(foreign, method: .get, basic: rita).status == 404)
            #expect(try await api.call(foreignAnalysis, method: .get, basic: rita).status == 404)
            #expect(try await api.call(api.lab.klaymore.uid, method: .get, basic: rita).status == 404)
            #expect(try await api.call("Client", method: .get, basic: rita).items.map { $0["uid"] } == [.string(api.lab.happy.uid)])
            // Act directly: results, transitions and samples for the other client are refused.
            let update = try await api.call("update", body: ["uid": .string(foreignAnalysis), "Result": "1"], basic: rita)
            #expect(update.status == 404)
            let receive = try await api.call("workflow_action", body: ["action": "receive", "uids": [.string(foreign)]], basic: rita)
            #expect(receive.json["success"] == .bool(false) && receive.items.first?["guard"] == .string(GuardID.exists))
            let create = try await api.call("create", body: [
                "portal_type": "AnalysisRequest", "Client": .string(api.lab.klaymore.uid), "Contact": .string(api.lab.ken.uid),
                "SampleType": "Water", "Analyses": ["Cu"],
            ], basic: rita)
            #expect(create.status == 400 && create.message.contains("'Client'"))
            // Act by queueing: a worksheet holding Klaymore's analysis, worksheet actions queued.
            let worksheet = try await api.call("worksheet/create", body: ["analyst": "analyst1"], basic: manager)
            let worksheetUID = try #require(worksheet.items.first?["uid"]?.stringValue)
            let received = try await api.call("workflow_action", body: ["action": "receive", "uids": [.string(foreign)]], basic: manager)
            #expect(received.json["success"] == .bool(true))
            let assigned = try await api.call("workflow_action", body: [
                "action": "assign", "uids": [.string(foreignAnalysis)], "context_uid": .string(worksheetUID),
            ], basic: manager)
            #expect(assigned.json["success"] == .bool(true))
            let queuedAction = try await api.call("workflow_action", body: [
                "action": "unassign", "uids": [.string(foreignAnalysis)], "context_uid": .string(worksheetUID),
            ], basic: rita)
            #expect(queuedAction.status == 400 && queuedAction.json["queued"] == nil)
            #expect(try await api.store.tasks(status: Set(TaskStatus.allCases), since: nil).isEmpty)
            // Her session gives no access to the queue routes (where tasks could be added under any user name).
            let cookie = try await api.session("rita", "ritapass")
            let add = try await api.call("queue_server/add", body: [
                "name": "task_action_submit", "context_uid": .string(worksheetUID), "context_path": "/x", "username": "labman",
            ], token: cookie)
            #expect(add.status == 401)
            #expect(try await api.call("queue_server/add", body: ["name": "noop", "context_uid": "x", "context_path": "/x"],
                                       basic: rita).status == 401)
            #expect(try await api.store.tasks(status: Set(TaskStatus.allCases), since: nil).isEmpty)
        }
    }

    /// The queue settings have no HTTP route (they are changed with `limsqueue settings`, run by an operator on the
    /// server; the web control panel is separate work): what an Analyst can reach is checked here.
    @Test("an Analyst cannot change settings: no access to the queue routes, no LIMS write beyond results")
    func analystCannotChangeSettings() async throws {
        try await withServer { api in
            let analyst = ("analyst1", "anpass")
            let before = try await api.store.settings()
            let cookie = try await api.session("analyst1", "anpass")
            for path in ["queue_server/settings", "queue_server/tasks", "queue_server/add"] {
                #expect(try await api.call(path, body: ["max_retries": 0], basic: analyst).status == 401)
                #expect(try await api.call(path, body: ["max_retries": 0], token: cookie).status == 401)
            }
            // LIMS writes are results only; other objects (a client, the lab) cannot be updated or created.
            let client = try await api.call("update", body: ["uid": .string(api.lab.happy.uid), "Result": "1"], basic: analyst)
            #expect(client.status == 400 || client.status == 404)
            let created = try await api.call("create/Client", body: ["Client": "x", "Contact": "x", "SampleType": "x", "Analyses": ["Cu"]],
                                             basic: analyst)
            #expect(created.status == 400 && created.message.contains("'portal_type'"))
            #expect(try await api.store.settings() == before)
        }
    }

    /// Issue 13, finding 1: a session is ended on the server by logout, by a password change and by deactivating
    /// the user; the old cookie then reads nothing (401), on every route.
    @Test("logout, a password change and a deactivation end sessions on the server")
    func sessionsAreRevocable() async throws {
        try await withServer { api in
            let manager = ("labman", "labpass")
            let read = "AnalysisRequest"
            // Logout: the old cookie no longer reads, even though the browser could keep it.
            let first = try await api.session("analyst1", "anpass")
            #expect(try await api.call(read, method: .get, cookie: first).status == 200)
            #expect(try await api.call("logout", method: .get, cookie: first).status == 200)
            #expect(try await api.call(read, method: .get, cookie: first).status == 401)
            // A password change ends every session of the user, the one that asked included.
            let second = try await api.session("analyst1", "anpass"), third = try await api.session("analyst1", "anpass")
            let wrong = try await api.call("users/change_password", body: ["current_password": "nope", "new_password": "newpass99"],
                                           cookie: second, headers: ["X-Requested-With": "test"])
            #expect(wrong.status == 403 && wrong.message.contains("'current_password'"))
            let short = try await api.call("users/change_password", body: ["current_password": "anpass", "new_password": "short"],
                                           cookie: second, headers: ["X-Requested-With": "test"])
            #expect(short.status == 400 && short.message.contains("'new_password'"))
            #expect(try await api.call(read, method: .get, cookie: third).status == 200)
            let changed = try await api.call("users/change_password", body: ["current_password": "anpass", "new_password": "newpass99"],
                                             cookie: second, headers: ["X-Requested-With": "test"])
            #expect(changed.status == 200)
            #expect(try await api.call(read, method: .get, cookie: second).status == 401)
            #expect(try await api.call(read, method: .get, cookie: third).status == 401)
            #expect(try await api.login("analyst1", "anpass").status == 401)
            // Deactivation by a lab manager ends the sessions, and the password no longer works (cookie or Basic).
            let fourth = try await api.session("analyst1", "newpass99")
            #expect(try await api.call(read, method: .get, cookie: fourth).status == 200)
            let deactivated = try await api.call("users/update", body: ["username": "analyst1", "active": false], basic: manager)
            #expect(deactivated.status == 200 && deactivated.json["ended_sessions"] == .int(1))
            #expect(try await api.call(read, method: .get, cookie: fourth).status == 401)
            #expect(try await api.login("analyst1", "newpass99").status == 401)
            #expect(try await api.call(read, method: .get, basic: ("analyst1", "newpass99")).status == 401)
            // Reactivated, the user logs in again; the manager's own session was never touched.
            let manager2 = try await api.session("labman", "labpass")
            #expect(try await api.call("users/update", body: ["username": "analyst1", "active": true], basic: manager).status == 200)
            api.clock.advance(by: 301) // the three refused logins above reached the test's per-user limit
            #expect(try await api.login("analyst1", "newpass99").status == 200)
            #expect(try await api.call(read, method: .get, cookie: manager2).status == 200)
            // A cookie that was never a session, or is a session's stored id rather than its secret, reads nothing.
            #expect(try await api.call(read, method: .get, cookie: String(repeating: "a", count: 64)).status == 401)
        }
    }

    @Test("CSRF: cookie-authenticated writes need X-Requested-With or a same-origin Origin/Referer; reads, Basic and tokens are unaffected")
    func csrf() async throws {
        try await withServer { api in
            let cookie = try await api.session("labman", "labpass")
            let body: JSONValue = ["action": "receive", "uids": [.string(api.lab.happySamples[1].uid)]]
            let bare = try await api.call("workflow_action", body: body, cookie: cookie)
            #expect(bare.status == 403 && bare.message.contains("Cross-site"))
            let evil = try await api.call("workflow_action", body: body, cookie: cookie, headers: ["Origin": "https://evil.example"])
            #expect(evil.status == 403)
            let evilReferer = try await api.call("workflow_action", body: body, cookie: cookie,
                                                 headers: ["Referer": "http://evil.example/page"])
            #expect(evilReferer.status == 403)
            let nullOrigin = try await api.call("workflow_action", body: body, cookie: cookie, headers: ["Origin": "null"])
            #expect(nullOrigin.status == 403)
            // Nothing happened.
            let sample = try await api.call(api.lab.happySamples[1].uid, method: .get, cookie: cookie)
            #expect(sample.status == 200 && sample.items.first?["review_state"] == .string("sample_due"))
            // Same-site proofs pass.
            let ajax = try await api.call("workflow_action", body: body, cookie: cookie, headers: ["X-Requested-With": "XMLHttpRequest"])
            #expect(ajax.status == 200 && ajax.json["success"] == .bool(true))
            // The test client always sends Host: localhost.
            let sameOrigin = try await api.call("update", body: ["uid": "0", "Result": "1"], cookie: cookie,
                                                headers: ["Origin": "http://localhost:80"])
            #expect(sameOrigin.status == 404)
            let sameReferer = try await api.call("update", body: ["uid": "0", "Result": "1"], cookie: cookie,
                                                 headers: ["Referer": "http://localhost/lims/page"])
            #expect(sameReferer.status == 404)
            let otherPort = try await api.call("update", body: ["uid": "0", "Result": "1"], cookie: cookie,
                                               headers: ["Origin": "http://localhost:9090"])
            #expect(otherPort.status == 403)
            // Basic-auth clients carry no ambient credentials: no proof needed.
            let basic = try await api.call("update", body: ["uid": "0", "Result": "1"], basic: ("labman", "labpass"))
            #expect(basic.status == 404)
        }
    }
}

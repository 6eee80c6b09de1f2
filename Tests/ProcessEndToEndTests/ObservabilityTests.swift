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
import Synchronization
import TestSupport
import Testing
@testable import LimsQueueCLI

/// `/metrics`, `limsqueue status`, the OpenAPI description against the router, and what the logs carry.
@Suite("Observability", .serialized)
struct ObservabilityTests {
    /// The router `limsqueue serve` builds (queue routes + LIMS API) on a fresh store with the seeded lab.
    func withApp(logs: CapturingLogHandlerBox? = nil,
                 _ body: @escaping @Sendable (any TestClientProtocol, String, StoreFixture, SeededLab) async throws -> Void) async throws {
        try await StoreFixture.with { fixture in
            let key = Fernet.generateKey()
            let lab = try await SeededLab.seed(fixture.lab)
            let authenticator = QueueAuthenticator(key: { key }, clock: fixture.clock, userExists: { !$0.isEmpty })
            let queue = QueueServerController(store: fixture.store, authenticator: authenticator, clock: fixture.clock)
            let lims = LimsAPIController(repository: fixture.lab, authKey: { key }, clock: fixture.clock, queue: fixture.store)
            let router = QueueServerApp.router(controller: queue, addRoutes: { lims.addRoutes(to: $0) })
            var logger: Logger
            if let logs {
                logger = Logger(label: "capture") { CapturingLogHandler(box: logs, label: $0) }
                logger.logLevel = .trace
            } else {
                logger = Logger(label: "test")
                logger.logLevel = .critical
            }
            let app = Application(router: router, logger: logger)
            try await app.test(.router) { client in try await body(client, key, fixture, lab) }
        }
    }

    static func call(_ client: any TestClientProtocol, _ path: String, method: HTTPRequest.Method = .post, body: JSONValue? = nil,
                     headers: HTTPFields = [:]) async throws -> (status: Int, text: String, json: [String: JSONValue], headers: HTTPFields) {
        var all: HTTPFields = [.contentType: "application/json"]
        all.append(contentsOf: headers)
        let uri = path.hasPrefix("/") ? path : "/@@API/senaite/v1/queue_server/" + path
        let response = try await client.executeRequest(uri: uri, method: method, headers: all,
                                                       body: body.map { ByteBuffer(bytes: $0.jsonBytes) })
        let text = String(buffer: response.body)
        return (Int(response.status.code), text, (try? JSONValue.parse(text))?.objectValue ?? [:], response.headers)
    }

    static func tokenHeader(_ key: String, _ clock: ManualClock, user: String = "queue_consumer") throws -> HTTPFields {
        [HTTPField.Name(QueueAuthToken.headerName)!: try QueueAuthToken(key: key).make(userID: user, now: clock.now())]
    }

    /// The value of the series `name{labels}` in a Prometheus text page, nil when absent.
    static func sample(_ page: String, _ series: String) -> Double? {
        for line in page.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }

    @Test("/metrics: public Prometheus text with task gauges per name and status, processed/failed totals, wait and run histograms, consumers")
    func metrics() async throws {
        try await withApp { client, key, fixture, _ in
            let clock = fixture.clock
            let auth = try Self.tokenHeader(key, clock)
            for index in 0..<3 {
                let added = try await Self.call(client, "add", body: ["name": "noop", "context_uid": .string("ctx\(index)"),
                                                                      "context_path": .string("/c/\(index)"), "min_seconds": 0], headers: auth)
                #expect(added.status == 200)
            }
            #expect(try await Self.call(client, "add", body: ["name": "sleep", "context_uid": "s", "context_path": "/s", "retries": 0],
                                        headers: auth).status == 200)
            #expect(try await Self.call(client, "add", body: ["name": "walk", "context_uid": "w", "context_path": "/w", "ghost": true,
                                                              "delay": 3600], headers: auth).status == 200)
            clock.advance(by: 2)
            let popped = try await Self.call(client, "pop", body: ["consumer_id": "consumer-a"], headers: auth)
            let first = try #require(popped.json["task_uid"]?.stringValue)
            clock.advance(by: 3)
            let done = try await Self.call(client, "done", body: ["task_uid": .string(first), "consumer_id": "consumer-a", "pop": true], headers: auth)
            #expect(done.status == 200)
            let second = try #require(done.json["next"]?.objectValue?["task_uid"]?.stringValue)
            clock.advance(by: 1)
            #expect(try await Self.call(client, "fail", body: ["task_uid": .string(second), "error_message": "boom"], headers: auth).status == 200)

            let page = try await Self.call(client, "/metrics", method: .get)
            #expect(page.status == 200)
            let text = page.text
            // Gauges from the store: 2 noop queued (one retried after its failure) + 1 sleep queued; none running.
            let noopQueued = Self.sample(text, #"limsqueue_tasks{name="noop",status="queued"}"#)
                ?? Self.sample(text, #"limsqueue_tasks{status="queued",name="noop"}"#)
            #expect(noopQueued == 2)
            #expect(text.contains("# TYPE limsqueue_tasks gauge"))
            #expect(Self.sample(text, #"limsqueue_tasks_processed_total{name="noop"}"#) == 1)
            #expect(Self.sample(text, #"limsqueue_tasks_failed_total{name="noop"}"#) == 1)
            #expect(Self.sample(text, #"limsqueue_tasks_claimed_total{name="noop"}"#) == 2)
            // Wait: first claimed 2 s after creation, the second 5 s after; run: 3 s (done) and 1 s (failed).
            #expect(Self.sample(text, #"limsqueue_task_wait_seconds_count{name="noop"}"#) == 2)
            #expect(Self.sample(text, #"limsqueue_task_wait_seconds_sum{name="noop"}"#) == 7)
            let runDone = Self.sample(text, #"limsqueue_task_run_seconds_sum{name="noop",outcome="done"}"#)
                ?? Self.sample(text, #"limsqueue_task_run_seconds_sum{outcome="done",name="noop"}"#)
            #expect(runDone == 3)
            #expect(Self.sample(text, "limsqueue_consumers") == 1)
            // The system (ghost) task: its own gauge, not among the monitor's tasks.
            #expect(Self.sample(text, #"limsqueue_ghost_tasks{status="queued"}"#) == 1)
            #expect(Self.sample(text, #"limsqueue_ghost_tasks{status="running"}"#) == 0)
            #expect(!text.contains(#"name="walk""#))
            // Counts only: no uids, paths, users or error messages.
            for secret in [first, second, "/c/0", "boom", "consumer-a", "username", key] { #expect(!text.contains(secret), "\(secret) exported") }

            // The snapshot behind the gauges and `limsqueue status`.
            let snapshot = try await fixture.store.statusSnapshot(now: clock.now())
            #expect(snapshot.counts["noop"] == .init(queued: 2, running: 0, failed: 0))
            #expect(snapshot.counts["sleep"] == .init(queued: 1, running: 0, failed: 0))
            #expect(snapshot.activity["noop"]?.outcomes == [.done: 1, .retried: 1])
            #expect(snapshot.activity["noop"]?.run?.max == 3)
            #expect(snapshot.consumers == ["consumer-a"])
            #expect(snapshot.oldestQueuedAge == 6)
        }
    }

    @Test("limsqueue status prints the store's figures as a table and as JSON")
    func statusCommand() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        #expect(try await runLimsQueue(["migrate"], dataDir: directory.path).status == 0)
        let empty = try await runLimsQueue(["status"], dataDir: directory.path)
        #expect(empty.status == 0 && empty.output.contains("queued 0  running 0  failed 0") && empty.output.contains("no tasks"))
        let key = try await runLimsQueue(["key"], dataDir: directory.path).output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!key.isEmpty)
        // Tasks go in through the store the CLI opens (a second process would see the same file).
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        try await StorageEnvironment.with(dataDir: directory.path, database: try await TestDatabase.url(for: directory), logger: logger) { environment in
            let store = environment.store
            let now = Date().timeIntervalSince1970
            let settings = try await store.settings()
            let tasks = try (0..<3).map { index in
                try QueueTask(wire: ["name": "task_assign_analyses", "context_uid": .string("w\(index)"), "context_path": "/ws"],
                              settings: settings, now: now - 30, defaultUsername: "labman")
            }
            _ = try await store.add(tasks, now: now - 30)
            _ = try await store.pop(consumerID: "worker-1", now: now - 25)
            // worker-1 died and came back over 10 s later: its first pop purges the task it held (queued again),
            // the next claims one.
            #expect(try await store.pop(consumerID: "worker-1", now: now - 5) == nil)
            _ = try await store.pop(consumerID: "worker-1", now: now - 4)
            // A system task (a client's security walk): hidden from the counts, shown apart.
            let walk = QueueTask(name: "task_reindex_object_security", contextUID: "client-1", contextPath: "/clients/client-1",
                                 created: now, priority: 50, username: "labman", ghost: true)
            _ = try await store.add([walk], now: now)
        }
        let table = try await runLimsQueue(["status"], dataDir: directory.path)
        #expect(table.status == 0)
        #expect(table.output.contains("queued 2  running 1  failed 0"))
        #expect(table.output.contains("system tasks (ghost: security walks): queued 1  running 0  failed 0"), "\(table.output)")
        #expect(table.output.contains("task_assign_analyses") && table.output.contains("worker-1"))
        let header = try #require(table.output.split(separator: "\n").first { $0.hasPrefix("NAME") })
        let row = try #require(table.output.split(separator: "\n").first { $0.hasPrefix("task_assign_analyses") })
        let column = try #require(header.range(of: "PURGED")).lowerBound.utf16Offset(in: header)
        #expect(row.dropFirst(column).prefix(1) == "1", "\(table.output)")
        let json = try await runLimsQueue(["status", "--json"], dataDir: directory.path)
        let parsed = try #require(try JSONValue.parse(json.output).objectValue)
        #expect(parsed["totals"] == ["queued": 2, "running": 1, "failed": 0])
        #expect(parsed["ghosts"] == ["queued": 1, "running": 0, "failed": 0])
        #expect(parsed["tasks"]?.objectValue?["task_assign_analyses"]?.objectValue?["running"] == .int(1))
        #expect(parsed["consumers"] == ["worker-1"])
    }

    @Test("the OpenAPI description and the router agree: every route described, every described route routed")
    func openAPIMatchesRouter() async throws {
        try await StoreFixture.with { fixture in
            let key = Fernet.generateKey()
            let authenticator = QueueAuthenticator(key: { key }, clock: fixture.clock, userExists: { !$0.isEmpty })
            let queue = QueueServerController(store: fixture.store, authenticator: authenticator, clock: fixture.clock)
            let lims = LimsAPIController(repository: fixture.lab, authKey: { key }, clock: fixture.clock)
            let router = QueueServerApp.router(controller: queue, addRoutes: { lims.addRoutes(to: $0) })
            let routed = Set(router.routes.map { "\($0.method.rawValue.lowercased()) \($0.path.description)" })
            let paths = try #require(OpenAPIDocument.document.objectValue?["paths"]?.objectValue)
            var described: Set<String> = []
            for (path, item) in paths {
                for method in try #require(item.objectValue).keys { described.insert("\(method) \(path)") }
            }
            #expect(routed.count > 60)
            #expect(routed.subtracting(described).sorted() == [], "routes without a description")
            #expect(described.subtracting(routed).sorted() == [], "described routes nobody serves")
            // Every operation has responses, a unique operationId, and its path parameters declared.
            var ids: Set<String> = []
            for (path, item) in paths {
                for (method, operation) in try #require(item.objectValue) {
                    let op = try #require(operation.objectValue)
                    let id = try #require(op["operationId"]?.stringValue)
                    #expect(ids.insert(id).inserted, "duplicate operationId \(id)")
                    #expect(op["responses"]?.objectValue?["200"] != nil, "\(method) \(path) has no 200")
                    let declared = Set((op["parameters"]?.arrayValue ?? []).compactMap { parameter -> String? in
                        guard parameter.objectValue?["in"] == "path" else { return nil }
                        return parameter.objectValue?["name"]?.stringValue
                    })
                    let inPath = Set(path.split(separator: "{").dropFirst().map { String($0.prefix { $0 != "}" }) })
                    #expect(declared == inPath, "\(method) \(path): path parameters \(declared) vs \(inPath)")
                }
            }
        }
    }

    @Test("/openapi.yaml and /openapi.json are served (the description as YAML and JSON) at the root and under the API prefixes, without credentials")
    func openAPIServed() async throws {
        try await withApp { client, _, _, _ in
            for path in ["/openapi.yaml", "/@@API/senaite/v1/openapi.yaml", "/senaite/@@API/senaite/v1/openapi.yaml"] {
                let answer = try await Self.call(client, path, method: .get)
                #expect(answer.status == 200)
                #expect(answer.text.hasPrefix("\"components\":") && answer.text.contains("\"openapi\": \"3.1.0\""))
                #expect(answer.text.contains("\"/@@API/senaite/v1/queue_server/pop\":"))
            }
            // The same description as JSON, for tools that read JSON only (a new user asked for /openapi.json).
            for path in ["/openapi.json", "/@@API/senaite/v1/openapi.json", "/senaite/@@API/senaite/v1/openapi.json"] {
                let answer = try await Self.call(client, path, method: .get)
                #expect(answer.status == 200)
                let parsed = try JSONValue.parse(answer.text)
                #expect(parsed == OpenAPIDocument.document, "\(path)")
            }
        }
    }

    @Test("logs carry the task uid on the server paths handling one task, and never a password, token, cookie or key")
    func logsCarryTaskUIDAndNoSecrets() async throws {
        let logs = CapturingLogHandlerBox()
        try await withApp(logs: logs) { client, key, fixture, _ in
            let clock = fixture.clock
            let auth = try Self.tokenHeader(key, clock)
            let token = try #require(auth[HTTPField.Name(QueueAuthToken.headerName)!])
            // Logins: right and wrong passwords, in the body and as HTTP Basic.
            let good = try await Self.call(client, "/@@API/senaite/v1/login", body: ["username": "labman", "password": "labpass"])
            #expect(good.status == 200)
            let setCookie = try #require(good.headers[values: .setCookie].first { $0.hasPrefix("__ac=") })
            let cookie = String(setCookie.dropFirst(5).prefix { $0 != ";" })
            #expect(cookie.count > 40)
            _ = try await Self.call(client, "/@@API/senaite/v1/Client", method: .get, headers: [.cookie: "__ac=\(cookie)"])
            _ = try await Self.call(client, "/@@API/senaite/v1/login", body: ["username": "labman", "password": "s3cret-guess"])
            let basic = "Basic " + Data("rita:ritapass".utf8).base64EncodedString()
            _ = try await Self.call(client, "/@@API/senaite/v1/Client", method: .get, headers: [.authorization: basic])
            let wrongBasic = "Basic " + Data("rita:wrong-basic-pw".utf8).base64EncodedString()
            _ = try await Self.call(client, "/@@API/senaite/v1/Client", method: .get, headers: [.authorization: wrongBasic])
            // Tokens: valid, tampered; a task added, claimed and failed.
            _ = try await Self.call(client, "tasks", method: .get, headers: [HTTPField.Name(QueueAuthToken.headerName)!: token + "x"])
            let added = try await Self.call(client, "add", body: ["name": "noop", "context_uid": "c", "context_path": "/c"], headers: auth)
            let uid = try #require(added.json["items"]?.arrayValue?.first?.objectValue?["task_uid"]?.stringValue)
            let popped = try await Self.call(client, "pop", body: ["consumer_id": "consumer-z"], headers: auth)
            #expect(popped.json["task_uid"] == .string(uid))
            let failed = try await Self.call(client, "fail", body: ["task_uid": .string(uid), "error_message": "handler exploded"], headers: auth)
            #expect(failed.status == 200)

            let text = logs.text
            #expect(!text.isEmpty)
            // Structured: the fail is logged with the task's uid and name as metadata.
            #expect(logs.lines.withLock { $0 }.contains { $0.contains("task failed") && $0.contains("lims.task.uid=\(uid)") && $0.contains("lims.task.name=noop") })
            for secret in ["labpass", "s3cret-guess", "ritapass", "wrong-basic-pw", token, key, cookie,
                           Data("rita:ritapass".utf8).base64EncodedString()] {
                #expect(!text.contains(secret), "a secret appears in the logs")
            }
        }
    }

    /// Runs the built `limsqueue` with exactly these arguments; standard output and standard error apart.
    static func run(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        var environment = ProcessInfo.processInfo.environment
        environment["LIMSQUEUE_AUTH_KEY"] = nil
        environment["LIMSQUEUE_DATABASE_URL"] = nil
        let finished = try await ChildProcess.run(LimsProcess.binary, arguments, environment: environment, separateErrors: true)
        return (finished.status, finished.output, finished.errors)
    }

    @Test("at trace level the auth key stored by the first start (an SQL bind) is redacted from the logs; --log-format json writes JSON lines")
    func cliLogsRedactSecrets() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        #expect(try await Self.run(["migrate", "--data-dir", directory.path]).status == 0)
        let first = try await Self.run(["key", "--data-dir", directory.path, "--log-level", "trace"])
        let key = first.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(first.status == 0 && key.count == 44)
        #expect(first.stderr.contains("queue_settings"), "SQL is logged at trace level")
        #expect(!first.stderr.contains(key), "the auth key appears in the logs")
        #expect(first.stderr.contains("binds=[redacted]"))

        let json = try await Self.run(["status", "--data-dir", directory.path, "--log-level", "debug", "--log-format", "json"])
        #expect(json.status == 0)
        let lines = json.stderr.split(separator: "\n").filter { !$0.isEmpty }
        #expect(!lines.isEmpty)
        for line in lines {
            let object = try #require(try? JSONValue.parse(String(line)).objectValue, "not a JSON line: \(line)")
            #expect(object["level"]?.stringValue != nil && object["message"]?.stringValue != nil && object["time"] != nil)
        }
        let refused = try await Self.run(["status", "--data-dir", directory.path, "--log-format", "xml"])
        #expect(refused.status != 0 && refused.stderr.contains("--log-format"))
    }

    @Test("a JSON log line carries the task uid and name as fields; sensitive metadata is redacted")
    func jsonLogLines() async throws {
        var handler = JSONLogHandler(label: "limsqueue.serve")
        handler[metadataKey: "lims.task.uid"] = "0123456789abcdef0123456789abcdef"
        let line = handler.render(level: .warning, message: "task failed", metadata: ["lims.task.name": "noop"], source: "Consumer",
                                  now: Date(timeIntervalSince1970: 0))
        let object = try #require(try JSONValue.parse(line).objectValue)
        #expect(object["lims.task.uid"] == "0123456789abcdef0123456789abcdef")
        #expect(object["lims.task.name"] == "noop" && object["level"] == "warning" && object["message"] == "task failed")
        #expect(object["time"] == "1970-01-01T00:00:00.000Z" && object["label"] == "limsqueue.serve")

        let box = CapturingLogHandlerBox()
        var redacting = RedactingLogHandler(base: CapturingLogHandler(box: box, label: "x"))
        redacting[metadataKey: "session_cookie"] = "abc-cookie-value"
        redacting.log(event: LogEvent(level: .info, message: "m", metadata: ["binds": ["hunter2"], "password": "hunter3", "lims.task.uid": "u1"],
                                      source: "s", file: #file, function: #function, line: #line))
        #expect(!box.text.contains("hunter2") && !box.text.contains("hunter3") && !box.text.contains("abc-cookie-value"))
        #expect(box.text.contains("lims.task.uid=u1"))

        // A line logged with an error carries it as the `error` field.
        let written = Mutex<[String]>([])
        handler.write = { line in written.withLock { $0.append(line) } }
        handler.log(event: LogEvent(level: .error, message: "task failed", error: CLIError("disk full"), metadata: nil,
                                    source: "Consumer", file: #file, function: #function, line: #line))
        let first = try #require(written.withLock { $0.first })
        let logged = try #require(try JSONValue.parse(first).objectValue)
        #expect(logged["error"] == "disk full" && logged["message"] == "task failed", "\(logged)")
    }
}

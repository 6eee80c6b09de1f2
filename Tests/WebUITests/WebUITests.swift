import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Consumer
import LimsTasks
import LIMSCore
import LimsAPI
import Logging
import NIOCore
import QueueAuth
import QueueCore
import QueueServer
import QueueTesting
import Storage
import Synchronization
import TestSupport
import Testing
@testable import LimsQueueCLI
@testable import WebUI

/// The web pages on the real SQLite store (router test mode), with the seeded lab of ``LimsAPITests``: sessions,
/// CSRF, roles, the monitor's Requeue/Remove with confirmation, the settings form, worksheets through the queue.
@Suite("Web pages", .serialized)
struct WebUITests {
    /// A browser-like client: keeps the cookies it is given, posts url-encoded forms.
    final class Browser: @unchecked Sendable {
        let client: any TestClientProtocol
        let lab: SeededLab
        let fixture: StoreFixture
        let cookies = Mutex<[String: String]>([:])

        init(client: any TestClientProtocol, lab: SeededLab, fixture: StoreFixture) {
            self.client = client
            self.lab = lab
            self.fixture = fixture
        }

        struct Page {
            let status: Int
            let location: String?
            let html: String
        }

        func request(_ uri: String, method: HTTPRequest.Method = .get, form: [(String, String)]? = nil) async throws -> Page {
            var headers: HTTPFields = [:]
            let jar = cookies.withLock { $0 }
            if !jar.isEmpty { headers[.cookie] = jar.map { "\($0.key)=\($0.value)" }.joined(separator: "; ") }
            var body: ByteBuffer?
            if let form {
                headers[.contentType] = "application/x-www-form-urlencoded"
                let text = form.map { "\(Self.encode($0.0))=\(Self.encode($0.1))" }.joined(separator: "&")
                body = ByteBuffer(string: text)
            }
            let response = try await client.executeRequest(uri: uri, method: method, headers: headers, body: body)
            for value in response.headers[values: .setCookie] {
                let pair = value.prefix { $0 != ";" }
                guard let equals = pair.firstIndex(of: "=") else { continue }
                let name = String(pair[..<equals]), cookieValue = String(pair[pair.index(after: equals)...])
                cookies.withLock { jar in
                    if cookieValue.isEmpty { jar[name] = nil } else { jar[name] = cookieValue }
                }
            }
            return Page(status: Int(response.status.code), location: response.headers[.location],
                        html: String(buffer: response.body))
        }

        func post(_ uri: String, _ form: [(String, String)]) async throws -> Page {
            try await request(uri, method: .post, form: form)
        }

        /// The CSRF token of the first form on `html`.
        static func csrf(_ html: String) -> String? {
            guard let range = html.range(of: #"name="_csrf" value="([0-9a-f]*)""#, options: .regularExpression) else { return nil }
            return String(html[range].dropFirst(#"name="_csrf" value=""#.count).dropLast())
        }

        /// Logs in through the form; returns the page the login redirected to.
        @discardableResult
        func login(_ username: String, _ password: String) async throws -> Page {
            let form = try await request("/login")
            let token = try #require(Self.csrf(form.html))
            return try await post("/login", [("_csrf", token), ("username", username), ("password", password), ("came_from", "/worksheets")])
        }

        static func encode(_ text: String) -> String {
            var allowed = CharacterSet.alphanumerics
            allowed.insert(charactersIn: "-._~")
            return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
        }
    }

    /// Counts probe calls; answers `up`.
    final class ProbeRecorder: Sendable {
        let calls = Mutex<[String]>([])
        let up: Bool
        init(up: Bool) { self.up = up }
        var probe: ServerStatusProbe.Probe {
            { url, _ in
                self.calls.withLock { $0.append(url) }
                return self.up
            }
        }
    }

    /// Runs `body` against the queue routes, the LIMS API and the pages on a fresh SQLite store, sessions in the
    /// database as `limsqueue serve` keeps them; `live` runs a real HTTP server on loopback. Default: router mode.
    func withPages(serverUp: Bool = true, live: Bool = false, _ body: @escaping @Sendable (Browser) async throws -> Void) async throws {
        try await StoreFixture.with { fixture in
            let key = Fernet.generateKey()
            let clock = fixture.clock
            let lab = try await SeededLab.seed(fixture.lab)
            let authenticator = QueueAuthenticator(key: { key }, clock: clock, userExists: { !$0.isEmpty })
            let queue = QueueServerController(store: fixture.store, authenticator: authenticator, clock: clock)
            let lims = LimsAPIController(repository: fixture.lab, authKey: { key }, clock: clock, queue: fixture.store,
                                         sessions: SQLSessionStore(store: fixture.store))
            let recorder = ProbeRecorder(up: serverUp)
            let web = WebUI(repository: fixture.lab, queue: fixture.store, authKey: { key }, clock: clock, lims: lims,
                            authKeyControl: fixture.webAuthKeyControl, probe: recorder.probe)
            let router = QueueServerApp.router(controller: queue, addRoutes: { lims.addRoutes(to: $0); web.addRoutes(to: $0) })
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: logger)
            try await app.test(live ? .live : .router) { client in
                try await body(Browser(client: client, lab: lab, fixture: fixture))
            }
        }
    }

    @Test("pages need a session; the login form sets the shared __ac cookie; wrong passwords 401; forms without the session's CSRF token 403")
    func sessionsAndCSRF() async throws {
        try await withPages { browser in
            let anonymous = try await browser.request("/queue_tasks?filter=failed")
            #expect(anonymous.status == 303 && anonymous.location == "/login?came_from=/queue_tasks%3Ffilter%3Dfailed")

            let form = try await browser.request("/login")
            let token = try #require(Browser.csrf(form.html))
            let forged = try await browser.post("/login", [("_csrf", "00"), ("username", "labman"), ("password", "labpass")])
            #expect(forged.status == 403)
            let wrong = try await browser.post("/login", [("_csrf", token), ("username", "labman"), ("password", "nope")])
            #expect(wrong.status == 401 && wrong.html.contains("wrong user name or password"))
            let unknown = try await browser.post("/login", [("_csrf", token), ("username", "nobody"), ("password", "labpass")])
            #expect(unknown.status == 401)
            let offsite = try await browser.post("/login", [("_csrf", token), ("username", "labman"), ("password", "labpass"),
                                                            ("came_from", "//evil.example/")])
            #expect(offsite.status == 303 && offsite.location == "/")

            // The page session is the JSON API's session.
            let api = try await browser.request("/@@API/senaite/v1/AnalysisRequest")
            #expect(api.status == 200 && api.html.contains("\"count\":4"))

            let settings = try await browser.request("/queue-controlpanel")
            let sessionToken = try #require(Browser.csrf(settings.html))
            #expect(sessionToken != token, "the session's token is bound to the session, not to the login nonce")
            let noToken = try await browser.post("/queue-controlpanel", [("max_retries", "5")])
            let foreignToken = try await browser.post("/queue-controlpanel", [("_csrf", token), ("max_retries", "5")])
            #expect(noToken.status == 403 && foreignToken.status == 403)
            #expect(noToken.html.contains("CSRF"))
            #expect(try await browser.fixture.store.settings().maxRetries == 3)

            let logout = try await browser.post("/logout", [("_csrf", sessionToken)])
            #expect(logout.status == 303 && logout.location?.hasPrefix("/login") == true)
            #expect(try await browser.request("/worksheets").status == 303)
        }
    }

    @Test("the login form shares the JSON API's login rate limit: after 5 failures even the right password is answered 429")
    func loginRateLimit() async throws {
        try await withPages { browser in
            let token = try #require(Browser.csrf(try await browser.request("/login").html))
            for _ in 0..<5 {
                let wrong = try await browser.post("/login", [("_csrf", token), ("username", "labman"), ("password", "nope")])
                #expect(wrong.status == 401)
            }
            let limited = try await browser.post("/login", [("_csrf", token), ("username", "labman"), ("password", "labpass")])
            #expect(limited.status == 429 && limited.html.contains(#"id="login-error">Too many failed logins"#))
            let api = try await browser.client.executeRequest(
                uri: "/@@API/senaite/v1/login", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: #"{"username": "labman", "password": "labpass"}"#))
            #expect(api.status == .tooManyRequests)
            browser.fixture.clock.advance(by: 301)
            #expect(try await browser.post("/login", [("_csrf", token), ("username", "labman"), ("password", "labpass")]).status == 303)
        }
    }

    @Test("roles: the queue pages need Manage queue; worksheets need lab staff; client users see only their samples")
    func roles() async throws {
        try await withPages { browser in
            try await browser.login("analyst1", "anpass")
            let monitor = try await browser.request("/queue_tasks")
            let settings = try await browser.request("/queue-controlpanel")
            #expect(monitor.status == 403 && settings.status == 403)
            #expect(monitor.html.contains("manage_queue"))
            let worksheets = try await browser.request("/worksheets")
            #expect(worksheets.status == 200 && !worksheets.html.contains("Queue monitor"))
            #expect(!worksheets.html.contains("server-status"), "no server banner for users who do not manage the queue")
        }
        try await withPages { browser in
            try await browser.login("rita", "ritapass")
            #expect(try await browser.request("/").location == "/samples")
            #expect(try await browser.request("/worksheets").status == 403)
            let samples = try await browser.request("/samples")
            #expect(samples.status == 200 && !samples.html.contains(#"href="/worksheets""#))
            #expect(samples.html.contains(browser.lab.happySamples[0].id) && !samples.html.contains(browser.lab.klaymoreSample.id))
            #expect(try await browser.request("/samples/\(browser.lab.klaymoreSample.uid)").status == 404)
            // Her own sample's page names her as its contact.
            let page = try await browser.request("/samples/\(browser.lab.happySamples[0].uid)")
            #expect(page.status == 200 && page.html.contains("Rita Mohale"), "\(page.html)")
        }
        try await withPages { browser in
            // A lab manager's view of the same page names the contact too (it showed an empty contact: the contact,
            // a child of the client, is outside the sample's closure and was never read).
            try await browser.login("labman", "labpass")
            let page = try await browser.request("/samples/\(browser.lab.happySamples[0].uid)")
            #expect(page.status == 200 && page.html.contains("Rita Mohale"), "\(page.html)")
        }
    }

    @Test("a page reads the setup sequence once, however many lab reads it makes (each read checked it again before)")
    func oneSetupCheckPerPage() async throws {
        try await withPages { browser in
            try await browser.login("labman", "labpass")
            for path in ["/samples", "/worksheets", "/samples/\(browser.lab.happySamples[0].uid)"] {
                #expect(try await browser.request(path).status == 200, "\(path)")
                let before = browser.fixture.lab.setupSequenceReads
                #expect(try await browser.request(path).status == 200, "\(path)")
                #expect(browser.fixture.lab.setupSequenceReads - before == 1, "\(path)")
            }
        }
    }

    @Test("the banner: ok when the server answers, not configured for an invalid URL, not responding when it does not answer")
    func serverBanner() async throws {
        try await withPages(serverUp: false) { browser in
            try await browser.login("labman", "labpass")
            // The default `server` is empty (every node shares the database): ok.
            #expect(try await browser.request("/worksheets").html.contains(#"data-status="ok""#))
            var settings = try await browser.fixture.store.settings()
            try settings.set("server", to: "http://localhost:8080/senaite")
            try await browser.fixture.store.updateSettings(settings)
            #expect(try await browser.request("/worksheets").html.contains(#"data-status="not_responding""#))
            try settings.set("server", to: "")
            try await browser.fixture.store.updateSettings(settings)
            #expect(try await browser.request("/worksheets").html.contains(#"data-status="ok""#))
        }
        try await withPages(serverUp: true) { browser in
            try await browser.login("labman", "labpass")
            #expect(try await browser.request("/samples").html.contains(#"data-status="ok""#))
        }
        // The probe itself: URL rule, 1 s timeout, one check per server URL and minute.
        let recorder = ProbeRecorder(up: true)
        let probe = ServerStatusProbe(probe: recorder.probe)
        var settings = QueueSettings()
        settings.server = "http://localhost:8080"  // no path: invalid (reference 0)
        #expect(await probe.status(settings: settings, now: 600) == .notConfigured)
        settings.server = "http://localhost:8080/senaite"
        #expect(await probe.status(settings: settings, now: 600) == .ok)
        #expect(await probe.status(settings: settings, now: 659) == .ok)
        #expect(recorder.calls.withLock { $0 } == ["http://localhost:8080/senaite/@@API/senaite/v1/version"])
        _ = await probe.status(settings: settings, now: 660)
        #expect(recorder.calls.withLock { $0.count } == 2)
        #expect(await probe.status(settings: nil, now: 700) == .notResponding)
    }

    @Test("settings: every field with its range; a bad value is refused on its field and nothing is stored; good values are")
    func settingsForm() async throws {
        try await withPages { browser in
            try await browser.login("labman", "labpass")
            let page = try await browser.request("/queue-controlpanel")
            for field in QueueSettings.fields { #expect(page.html.contains(#"name="\#(field.key)""#), "field \(field.key)") }
            #expect(page.html.contains("(0–10)") && page.html.contains("(1–3650)"))
            let token = try #require(Browser.csrf(page.html))
            let bad = try await browser.post("/queue-controlpanel", [
                ("_csrf", token), ("max_retries", "99"), ("history_days", "abc"), ("default", "5"),
            ])
            #expect(bad.status == 400)
            #expect(bad.html.contains(#"id="error-max_retries">Must be in 0...10, got 99"#))
            #expect(bad.html.contains(#"id="error-history_days">Must be a whole number in 1...3650, got "#))
            #expect(bad.html.contains(#"value="99""#), "the form keeps what was typed")
            #expect(try await browser.fixture.store.settings() == QueueSettings(), "nothing stored")

            let good = try await browser.post("/queue-controlpanel", [
                ("_csrf", token), ("max_retries", "2"), ("default", "5"),
                ("top_priority_tasks", "task_action_submit\r\ntask_action_verify\r\n"),
            ])
            #expect(good.status == 303 && good.location == "/queue-controlpanel")
            #expect(try await browser.request("/queue-controlpanel").html.contains("Settings saved."))
            let stored = try await browser.fixture.store.settings()
            #expect(stored.maxRetries == 2 && stored.chunkSize == 5)
            #expect(stored.topPriorityTasks == ["task_action_submit", "task_action_verify"])
        }
    }

    @Test("auth key: regeneration asks first, stores a new key, and says servers must restart")
    func regenerateKey() async throws {
        try await withPages { browser in
            try await browser.login("labman", "labpass")
            let before = try await browser.fixture.store.authKey(generate: Fernet.generateKey)
            let token = try #require(Browser.csrf(try await browser.request("/queue-controlpanel").html))
            let ask = try await browser.post("/queue-controlpanel/auth-key", [("_csrf", token)])
            #expect(ask.status == 200 && ask.html.contains("restart the queue server"))
            #expect(try await browser.fixture.store.authKey(generate: Fernet.generateKey) == before)
            let done = try await browser.post("/queue-controlpanel/auth-key", [("_csrf", token), ("confirm", "yes")])
            #expect(done.status == 303)
            let after = try await browser.fixture.store.authKey(generate: Fernet.generateKey)
            #expect(after != before && (try? Fernet(key: after)) != nil)
            #expect(try await browser.request(done.location ?? "/queue-controlpanel").html.contains(WebUI.fingerprint(after)))
        }
    }

    @Test("monitor: filters, ranks, running rows not selectable; Requeue and Remove ask first, then act")
    func monitor() async throws {
        try await withPages { browser in
            let f = browser.fixture
            let failing = try await f.add(TaskFactory.task("task_failing", context: "WS-0001", created: f.now, retries: 0))
            let popped = try #require(try await f.store.pop(consumerID: "consumer-1", now: f.now))
            #expect(popped.taskUID == failing.taskUID)
            _ = try await f.store.fail(failing.taskUID, message: "boom <b>", lease: .none, now: f.now)
            let running = try await f.add(TaskFactory.task("task_running", context: "WS-0002", created: f.now + 1))
            _ = try #require(try await f.store.pop(consumerID: "consumer-2", now: f.now + 1))
            let queued = try await f.add(TaskFactory.task("task_queued", context: "WS-0003", created: f.now + 2))

            try await browser.login("labman", "labpass")
            let active = try await browser.request("/queue_tasks")
            #expect(active.status == 200)
            #expect(active.html.contains(#"data-task="\#(running.taskUID)""#) && active.html.contains(#"data-task="\#(queued.taskUID)""#))
            #expect(!active.html.contains(#"data-task="\#(failing.taskUID)""#))
            #expect(!active.html.contains(#"value="\#(running.taskUID)""#), "running rows have no checkbox")
            #expect(active.html.contains(#"name="uids" value="\#(queued.taskUID)""#))
            #expect(active.html.contains(#"<td class="mono">10</td>"#), "the task's own priority")
            #expect(active.html.contains(#"<td class="mono">1</td>"#) && active.html.contains(#"<td class="mono">2</td>"#), "queue positions")
            #expect(active.html.contains("consumer-2") && active.html.contains("task_running"))
            #expect(active.html.contains("<svg") && active.html.contains("setInterval"))
            let failed = try await browser.request("/queue_tasks?filter=failed")
            #expect(failed.html.contains(#"data-task="\#(failing.taskUID)""#) && failed.html.contains("boom &lt;b&gt;"))
            #expect(failed.html.contains("task_failing"))

            let token = try #require(Browser.csrf(active.html))
            let ask = try await browser.post("/queue_tasks", [("_csrf", token), ("action", "remove"), ("filter", "active"),
                                                             ("uids", queued.taskUID), ("uids", running.taskUID)])
            #expect(ask.status == 200 && ask.html.contains("Remove 1 task?") && ask.html.contains("1 running task(s) are left"))
            #expect(try await f.store.task(queued.taskUID) != nil, "nothing removed before the confirmation")
            let removed = try await browser.post("/queue_tasks", [("_csrf", token), ("action", "remove"), ("filter", "active"),
                                                                 ("uids", queued.taskUID), ("confirm", "yes")])
            #expect(removed.status == 303 && removed.location == "/queue_tasks?filter=active")
            #expect(try await browser.request("/queue_tasks?filter=active").html.contains("Removed 1 task."))
            #expect(try await f.store.task(queued.taskUID) == nil)

            let requeued = try await browser.post("/queue_tasks", [("_csrf", token), ("action", "requeue"), ("filter", "failed"),
                                                                  ("uids", failing.taskUID), ("confirm", "yes")])
            #expect(requeued.status == 303)
            let task = try #require(try await f.store.task(failing.taskUID))
            #expect(task.status == .queued && task.retries == 3, "retries reset to the setting")
            let refused = try await browser.post("/queue_tasks", [("_csrf", token), ("action", "requeue"),
                                                                 ("uids", running.taskUID), ("confirm", "yes")])
            #expect(try await browser.request(refused.location ?? "/").html.contains("The selected task is running; running tasks are left as they are."))
            #expect(try await f.store.task(running.taskUID)?.status == .running)
            // Uids no longer in the queue: nothing to confirm (was a "Yes, requeue 0" button).
            let gone = try await browser.post("/queue_tasks", [("_csrf", token), ("action", "requeue"), ("uids", TaskUID.make())])
            #expect(gone.status == 303)
            let goneText = try await browser.request(gone.location ?? "/").html
            #expect(goneText.contains("None of the selected tasks is in the queue any more.") && !goneText.contains("Yes, requeue 0"))
            #expect(try await browser.request("/queue_tasks/\(failing.taskUID)").html.contains(failing.taskUID))
            // A task's extra numbers are shown as sent (Foundation's encoder rounded them through a double).
            var numbered = TaskFactory.task("task_generic_action", context: "WS-numbers", created: f.now)
            numbered.extra["params"] = .object(["big": .verbatimNumber("12345678901234567890123"), "huge": .verbatimNumber("1e400")])
            _ = try await f.store.add([numbered], now: f.now)
            let page = try await browser.request("/queue_tasks/\(numbered.taskUID)").html
            #expect(page.contains("12345678901234567890123") && page.contains("1e400") && !page.contains("1.2345678901234568e+22"), "\(page)")
        }
    }

    @Test("worksheets: created from a template through the queue (Queued, not selectable, notice with the count); results and submit")
    func worksheets() async throws {
        try await withPages { browser in
            let lab = browser.lab
            try await browser.login("labman", "labpass")
            let list = try await browser.request("/worksheets")
            let token = try #require(Browser.csrf(list.html))
            let created = try await browser.post("/worksheets", [("_csrf", token), ("action", "add"), ("analyst", "analyst1"),
                                                                ("template", lab.template.uid), ("instrument", "")])
            #expect(created.status == 303)
            let location = try #require(created.location)
            let path = String(location.prefix { $0 != "?" })
            let uid = String(path.dropFirst("/worksheets/".count))
            let page = try await browser.request(path)
            #expect(page.html.contains("analyses are being assigned in background"), "the flash message, from the session")
            #expect(page.html.contains(#"id="queued-notice""#) && page.html.contains("2 analyses are being processed in background."))
            let queuedList = try await browser.request("/worksheets")
            #expect(queuedList.html.contains(#"data-uid="\#(uid)" data-queued="true""#))
            #expect(!queuedList.html.contains(#"value="\#(uid)""#), "a queued worksheet is not selectable")

            // Run the assignment the way a consumer would, then the notice is gone and results can be entered.
            let f = browser.fixture
            f.clock.advance(by: 10)
            let task = try #require(try await f.store.pop(consumerID: "consumer-1", now: f.now))
            #expect(task.name == "task_assign_analyses")
            let context = TaskContext(logger: Logger(label: "test"), consumerID: "consumer-1", deadlineSeconds: 120,
                                      queue: try HTTPQueueConnection(serverURL: "http://127.0.0.1:9", authKey: Fernet.generateKey()))
            try await AssignAnalysesHandler(repository: f.lab).process(task, context: context)
            _ = try await f.store.done(task.taskUID, lease: .none, now: f.now)
            let assigned = try await browser.request(path)
            #expect(!assigned.html.contains(#"id="queued-notice""#))
            let analyses = try await f.lab.load().analyses(onWorksheet: uid).map(\.uid)
            #expect(analyses.count == 2)
            let submit = try await browser.post(path, [("_csrf", token), ("action", "submit"), ("uids", analyses[0]),
                                                       ("result.\(analyses[0])", "12"), ("result.\(analyses[1])", "13")])
            #expect(submit.status == 303)
            #expect(submit.location == path)
            let state = try await f.lab.load()
            #expect(state.analysisRecord(analyses[0])?.result == "12")
            #expect(state.analysisRecord(analyses[1])?.result == nil, "only the selected rows' results are saved by Submit")
            let queuedPage = try await browser.request(path)
            #expect(queuedPage.html.contains("1 result saved. Submit: 1 analysis is being processed"))
            #expect(queuedPage.html.contains("1 analysis is being processed in background."))
            #expect(queuedPage.html.contains(#"data-uid="\#(analyses[0])" data-state="assigned" data-queued="true""#))
            let noSelection = try await browser.post(path, [("_csrf", token), ("action", "verify")])
            #expect(try await browser.request(noSelection.location ?? path).html.contains("Select at least one analysis"))
        }
    }

    @Test("statistics: counts, done per minute, mean and p95 of wait and run per name, consumers, chart buckets")
    func statistics() {
        let now = 10_000.0
        func entry(_ name: String, _ outcome: HistoryEntry.Outcome, created: Double, started: Double, finished: Double,
                   consumer: String = "c1", uid: String = TaskUID.make()) -> HistoryEntry {
            HistoryEntry(taskUID: uid, name: name, contextPath: "/senaite/x", username: "u", consumerID: consumer, outcome: outcome,
                         errorMessage: nil, created: created, started: started, finished: finished)
        }
        var history: [HistoryEntry] = []
        for index in 0..<20 {  // waits 1...20 s, runs 2 s
            let created = now - 1000 + Double(index) * 10
            history.append(entry("a", .done, created: created, started: created + Double(index + 1), finished: created + Double(index + 3)))
        }
        history.append(entry("b", .failed, created: now - 100, started: now - 90, finished: now - 80, consumer: "c2"))
        history.append(entry("b", .retried, created: now - 200, started: now - 190, finished: now - 185, consumer: "c2"))
        history.append(entry("old", .done, created: now - 7300, started: now - 7200, finished: now - 7100))
        var running = TaskFactory.task("b", created: now - 50)
        running.status = .running
        running.consumerID = "c3"
        running.started = now - 20
        var ghost = TaskFactory.task("g", created: now - 30)
        ghost.status = .failed
        ghost.ghost = true
        let queued = TaskFactory.task("q", created: now - 10)
        let stats = QueueStatistics(tasks: [running, ghost, queued], history: history, now: now)
        #expect(stats.queued == 1 && stats.running == 1 && stats.failed == 0 && stats.ghosts == 1)
        #expect(stats.processedInWindow == 20 && stats.failuresInWindow == 2)
        #expect(abs(stats.processedPerMinute - 20.0 / 60) < 1e-9)
        let a = try! #require(stats.perName.first { $0.name == "a" })
        #expect(a.processed == 20 && a.failed == 0 && a.retried == 0)
        #expect(a.waitMean == 10.5 && a.waitP95 == 19 && a.runMean == 2 && a.runP95 == 2)
        let b = try! #require(stats.perName.first { $0.name == "b" })
        #expect(b.failed == 1 && b.retried == 1)
        #expect(stats.perName.map(\.name) == ["a", "b"], "entries before the window are left out")
        #expect(stats.consumers.map(\.id) == ["c1", "c2", "c3"])
        #expect(stats.consumers.last?.current?.name == "b" && stats.consumers[0].current == nil)
        #expect(stats.buckets.count == 30)
        #expect(stats.buckets.map(\.processed).reduce(0, +) == 20 && stats.buckets.map(\.failed).reduce(0, +) == 2)
        #expect(stats.buckets.last?.inQueue == 2, "the running and the queued task; failed ones left the queue")
        let svg = QueueChart.svg(stats.buckets, windowSeconds: stats.windowSeconds)
        #expect(svg.hasPrefix("<svg") && svg.hasSuffix("</svg>"))
        #expect(svg.components(separatedBy: "<polyline").count == 4)
        #expect(svg.contains("processed (20)") && svg.contains("failed (2)") && svg.contains("in queue (2)"))
        #expect(QueueChart.niceCeiling(7) == 10 && QueueChart.niceCeiling(11) == 20 && QueueChart.niceCeiling(1) == 1)
    }

    @Test("came_from: only this site's paths; a tab or backslash anywhere is refused (browsers drop tabs: /\\t/evil is //evil); spaces are escaped")
    func redirectTargets() {
        #expect(WebUI.safeTarget("/samples?q=AP-1") == "/samples?q=AP-1")
        #expect(WebUI.safeTarget("/\t/evil.example") == "/")
        #expect(WebUI.safeTarget("/\n/evil.example") == "/")
        #expect(WebUI.safeTarget("/a\\b") == "/")
        #expect(WebUI.safeTarget("//evil.example") == "/" && WebUI.safeTarget("https://evil.example") == "/" && WebUI.safeTarget(nil) == "/")
        #expect(WebUI.safeTarget("/samples?q=AP 1") == "/samples?q=AP%201")
        #expect(WebUI.safeTarget("/samples?q=a%20b") == "/samples?q=a%20b")
        #expect(WebUI.safeTarget("/samples?q=café") == "/samples?q=caf%C3%A9")
    }

    @Test("samples and worksheets lists: search by id, filters by state, client, analyst and mine, paged in SQL with compact links")
    func listFilters() async throws {
        try await withPages { browser in
            _ = try await browser.login("labman", "labpass")
            let all = try await browser.request("/samples")
            #expect(all.status == 200 && all.html.contains("4 samples."), "\(all.html.prefix(300))")
            // Each row shows its sample's number of analyses (counted in the catalog, not read).
            for sample in browser.lab.happySamples {
                let expected = try await browser.fixture.lab.load().analyses(ofSample: sample.uid).count
                let start = try #require(all.html.range(of: "data-uid=\"\(sample.uid)\""))
                let row = all.html[start.upperBound...].split(separator: "</tr>", maxSplits: 1).first ?? ""
                #expect(expected > 0 && row.contains("<td>\(expected)</td>"), "\(row)")
            }
            let received = try await browser.request("/samples?state=sample_received")
            #expect(received.html.contains("1 samples.") && received.html.contains(browser.lab.happySamples[0].id))
            let klaymore = try await browser.request("/samples?client=\(browser.lab.klaymore.uid)")
            #expect(klaymore.html.contains("1 samples.") && klaymore.html.contains(browser.lab.klaymoreSample.id))
            let searched = try await browser.request("/samples?q=\(browser.lab.happySamples[1].id.lowercased())")
            #expect(searched.html.contains("1 samples.") && searched.html.contains(browser.lab.happySamples[1].id))
            #expect(try await browser.request("/samples?q=nothing-like-it").html.contains("0 samples."))
            // The client sample id is shown and searched, word by word; a word of the id finds its sample too.
            let tagged = browser.lab.happySamples[0]
            try await browser.fixture.lab.perform { state in
                try state.modify(Sample.self, tagged.uid) { $0.clientSampleID = "Brook 7/B" }
            }
            let byClientID = try await browser.request("/samples?q=brook+7")
            #expect(byClientID.html.contains("1 samples.") && byClientID.html.contains("<td>Brook 7/B</td>")
                    && byClientID.html.contains(tagged.id), "\(byClientID.html.suffix(1500))")
            let number = try #require(tagged.id.split(separator: "-").last)
            #expect(try await browser.request("/samples?q=\(number)").html.contains(tagged.id))
            let page = try await browser.request("/samples/\(tagged.uid)")
            #expect(page.html.contains("Client sample id: <b>Brook 7/B</b>"))
            // A GET form sends spaces as '+': searched as spaces (trimmed here), not as plus signs.
            let spaced = try await browser.request("/samples?q=++\(browser.lab.happySamples[1].id.lowercased())+")
            #expect(spaced.html.contains("1 samples.") && spaced.html.contains(browser.lab.happySamples[1].id))
            // A search without a letter or digit searches nothing (as an empty one), never a wildcard; a NUL is
            // refused, naming the parameter.
            #expect(try await browser.request("/samples?q=%25").html.contains("4 samples."))
            #expect(try await browser.request("/samples?q=_").html.contains("4 samples."))
            let nul = try await browser.request("/samples?q=%00")
            #expect(nul.status == 400 && nul.html.contains("'q'"), "\(nul.status) \(nul.html)")
            // A cookie past Unicode's stream-safe limit (seconds of CPU to split and compare): 400 before any page.
            let heavy = "e" + String(repeating: "\u{301}\u{327}", count: 200)
            browser.cookies.withLock { $0["x"] = heavy }
            let heavyCookie = try await browser.request("/samples")
            #expect(heavyCookie.status == 400 && heavyCookie.html.contains("Cookie"), "\(heavyCookie.status)")
            browser.cookies.withLock { $0["x"] = nil }
            #expect(try await browser.request("/samples").status == 200)
            // Worksheets: one for analyst1, one for labman; "mine" and the analyst filter.
            for analyst in ["analyst1", "labman"] {
                let page = try await browser.request("/worksheets")
                let token = try #require(Browser.csrf(page.html))
                _ = try await browser.post("/worksheets", [("_csrf", token), ("action", "add"), ("analyst", analyst)])
            }
            #expect(try await browser.request("/worksheets").html.contains("2 worksheets."))
            #expect(try await browser.request("/worksheets?mine=1").html.contains("1 worksheets."))
            #expect(try await browser.request("/worksheets?analyst=analyst1").html.contains("1 worksheets."))
            #expect(try await browser.request("/worksheets?state=verified").html.contains("0 worksheets."))
            // Sorting by the column headers: by id either way, by date; kept by the filter form; an unknown sort is
            // newest first.
            func order(_ html: String, _ ids: [String]) -> [String] {
                ids.compactMap { id in html.range(of: ">\(id)</a>").map { (id, $0.lowerBound) } }.sorted { $0.1 < $1.1 }.map(\.0)
            }
            let ids = browser.lab.happySamples.map(\.id) + [browser.lab.klaymoreSample.id]
            let byID = try await browser.request("/samples?sort=id&order=asc")
            #expect(order(byID.html, ids) == ids.sorted(), "\(order(byID.html, ids))")
            #expect(byID.html.contains("id=\"sort-id\" title=\"Sort by id, descending\">Sample ▲</a>"), "\(byID.html)")
            #expect(byID.html.contains("<input type=\"hidden\" name=\"sort\" value=\"id\">"))
            let byIDDown = try await browser.request("/samples?sort=id&order=desc&state=sample_received")
            #expect(byIDDown.html.contains("href=\"/samples?state=sample_received&amp;sort=id&amp;order=asc\"")
                    || byIDDown.html.contains("href=\"/samples?state=sample_received&sort=id&order=asc\""), "\(byIDDown.html)")
            #expect(order(try await browser.request("/samples?sort=id&order=desc").html, ids) == ids.sorted().reversed())
            // Values in any case (a tryout's `sort=ID` was newest first, silently).
            #expect(order(try await browser.request("/samples?sort=ID&order=DESC").html, ids) == ids.sorted().reversed())
            let newest = try await browser.request("/samples")
            #expect(newest.html.contains("href=\"/samples?sort=id&amp;order=asc\"") || newest.html.contains("href=\"/samples?sort=id&order=asc\""),
                    "\(newest.html)")
            #expect(newest.html.contains("Created ▼</a>"))
            let oldest = try await browser.request("/samples?sort=created&order=asc")
            #expect(order(oldest.html, ids) == order(newest.html, ids).reversed())
            #expect(order(try await browser.request("/samples?sort=nonsense&order=up").html, ids) == order(newest.html, ids))
            let sheets = try await browser.request("/worksheets?sort=id&order=asc")
            #expect(order(sheets.html, ["WS-0001", "WS-0002"]) == ["WS-0001", "WS-0002"], "\(sheets.html)")
            #expect(order(try await browser.request("/worksheets?sort=id&order=desc").html, ["WS-0001", "WS-0002"]) == ["WS-0002", "WS-0001"])
        }
    }

    @Test("page links are compact: first, last and two around the current page")
    func compactPages() {
        let links = WebUI.pages(total: 2_000 * 50, pageSize: 50, current: 1_000) { "/x?page=\($0)" }
        #expect(links.compactMap { $0["number"] as? Int } == [1, 998, 999, 1_000, 1_001, 1_002, 2_000])
        #expect(WebUI.pages(total: 50, pageSize: 50, current: 1) { "\($0)" }.isEmpty)
        // A lower-bound total (more match than counted): no last page, the links end on a gap.
        let open = WebUI.pages(total: 1_100, pageSize: 50, current: 1, exact: false) { "/x?page=\($0)" }
        #expect(open.compactMap { $0["number"] as? Int } == [1, 2, 3])
        #expect(open.last?["gap"] as? Bool == true)
    }

    /// Issue 13, finding 7: removing a worksheet is managing worksheets; with RestrictWorksheetManagement (the
    /// default) analysts may not, through the page or the API, whatever worksheet it is.
    @Test("an analyst cannot remove an empty worksheet through the web form or the API; a lab manager can")
    func worksheetRemovalFollowsManagementRule() async throws {
        try await withPages(live: true) { browser in
            let state = try await browser.fixture.lab.load()
            let (worksheet, _) = try await browser.fixture.lab.perform { state -> (Worksheet, Int) in
                (try state.createWorksheet(analyst: "analyst1", uids: RandomUIDGenerator(), now: 1_767_225_600), 0)
            }
            #expect(state.settings.restrictWorksheetManagement)
            try await browser.login("analyst1", "anpass")
            let list = try await browser.request("/worksheets")
            #expect(list.status == 200 && list.html.contains(worksheet.id))
            let token = try #require(Browser.csrf(list.html))
            let refused = try await browser.post("/worksheets", [("_csrf", token), ("action", "remove"), ("uids", worksheet.uid)])
            #expect(refused.status == 303)
            let after = try await browser.request(refused.location ?? "/worksheets")
            #expect(after.html.contains("Only lab managers may manage worksheets"))
            #expect(try await browser.fixture.lab.load().worksheets[worksheet.uid]?.reviewState == ReviewState.open)
            // A lab manager may.
            try await browser.post("/logout", [("_csrf", token)])
            try await browser.login("labman", "labpass")
            let managerToken = try #require(Browser.csrf(try await browser.request("/worksheets").html))
            let removed = try await browser.post("/worksheets", [("_csrf", managerToken), ("action", "remove"), ("uids", worksheet.uid)])
            #expect(removed.status == 303)
            let message = try await browser.request(removed.location ?? "/worksheets").html
            #expect(message.contains("Remove: 1 of 1 done."), "\(message.components(separatedBy: "flash").dropFirst(3).first ?? "")")
            let gone = try await browser.fixture.lab.load().worksheets[worksheet.uid]
            #expect(gone == nil || gone?.reviewState == ReviewState.removed, "after_remove deletes the worksheet")
        }
    }

    /// Issue 13, finding 9: the banner's text comes from the session, never from the URL.
    @Test("flash messages live in the session: ?msg= in a link shows nothing; an action's message shows once")
    func flashMessagesInSession() async throws {
        try await withPages(live: true) { browser in
            try await browser.login("labman", "labpass")
            let spoofed = try await browser.request("/worksheets?msg=Your%20password%20expired%2C%20enter%20it%20at%20evil.example&kind=error")
            #expect(spoofed.status == 200 && !spoofed.html.contains("evil.example") && !spoofed.html.contains(#"id="flash""#))
            let login = try await browser.request("/login?msg=Call%20555-EVIL&came_from=/worksheets")
            #expect(!login.html.contains("555-EVIL"))
            // An action's message: not in the redirect's URL, shown on the next page, then gone.
            let token = try #require(Browser.csrf(spoofed.html))
            let nothing = try await browser.post("/worksheets", [("_csrf", token), ("action", "remove")])
            #expect(nothing.status == 303 && nothing.location == "/worksheets")
            let shown = try await browser.request("/worksheets")
            #expect(shown.html.contains("Select at least one worksheet first.") && shown.html.contains(#"class="flash flash-error" id="flash""#))
            #expect(!(try await browser.request("/worksheets").html.contains("Select at least one worksheet first.")))
            // Logging out shows the page's own fixed message; the session is gone.
            let out = try await browser.post("/logout", [("_csrf", token)])
            #expect(out.location == "/login?logged_out=1")
            #expect(try await browser.request(out.location ?? "/login").html.contains("You are logged out."))
        }
    }

    /// Issue 13, finding 14: the monitor with many tasks.
    @Test("monitor with 2,000 tasks: compact paging, select-all, bulk requeue/remove of every listed task, the priority shown, idle consumers seen, legend fits")
    func monitorAtScale() async throws {
        try await withPages(live: true) { browser in
            let f = browser.fixture
            var tasks: [QueueTask] = []
            for index in 0..<2000 {
                tasks.append(TaskFactory.task("task_bulk", context: "WS-\(index)", created: f.now + Double(index), priority: 7, retries: 0))
            }
            _ = try await f.store.add(tasks, now: f.now)
            try await browser.login("labman", "labpass")
            let page = try await browser.request("/queue_tasks?filter=active&page=50")
            #expect(page.status == 200)
            let pager = try #require(page.html.range(of: #"<div class="pager" id="pager">.*?</div>"#, options: .regularExpression).map { String(page.html[$0]) })
            let links = pager.components(separatedBy: "<a href=").count - 1
            #expect(links <= 8, "compact paging: \(links) links")
            #expect(pager.contains(">1<") && pager.contains(">100<") && pager.contains("<b>50</b>") && pager.contains(">48<") && pager.contains(">52<"))
            #expect(pager.contains("…"))
            #expect(page.html.contains(#"id="select-all""#) && page.html.contains(#"id="remove-all""#))
            #expect(page.html.contains(#"<td class="mono">7</td>"#), "the task's priority, not its rank")
            // A page number near Int.max shows the last page (it overflowed the offset and stopped the process).
            let huge = try await browser.request("/queue_tasks?filter=active&page=9223372036854775807")
            #expect(huge.status == 200 && huge.html.contains("<b>100</b>"))
            // Past Int64 as well (it went to page 1).
            let huger = try await browser.request("/queue_tasks?filter=active&page=99999999999999999999999")
            #expect(huger.status == 200 && huger.html.contains("<b>100</b>"))
            // Bulk: remove every listed (active) task after the confirmation.
            let token = try #require(Browser.csrf(page.html))
            let ask = try await browser.post("/queue_tasks", [("_csrf", token), ("scope", "remove-all"), ("filter", "active")])
            #expect(ask.status == 200 && ask.html.contains("Remove 2000 tasks?") && ask.html.contains("and 1950 more"))
            #expect(try await f.store.tasks(status: [.queued], since: nil).count == 2000, "nothing before the confirmation")
            let done = try await browser.post("/queue_tasks", [("_csrf", token), ("scope", "remove-all"), ("filter", "active"), ("confirm", "yes")])
            #expect(done.status == 303)
            #expect(try await f.store.tasks(status: [.queued], since: nil).isEmpty)
            #expect(try await browser.request(done.location ?? "/queue_tasks").html.contains("Removed 2000 tasks."))
            // A bad scope or uid is refused, naming the field.
            let badScope = try await browser.post("/queue_tasks", [("_csrf", token), ("scope", "bogus"), ("filter", "active"), ("confirm", "yes")])
            #expect(badScope.status == 400 && (badScope.html.contains("&#39;scope&#39;") || badScope.html.contains("'scope'")), "\(badScope.html.prefix(400))")
            let badUID = try await browser.post("/queue_tasks", [("_csrf", token), ("action", "remove"), ("uids", "zzz"), ("filter", "active")])
            #expect(badUID.status == 400 && (badUID.html.contains("&#39;uids&#39;") || badUID.html.contains("'uids'")), "\(badUID.html.prefix(400))")
        }
    }

    @Test("an idle consumer that polls shows a recent last seen; the chart legend has room for large totals")
    func idleConsumerAndLegend() {
        let now = 1_767_225_600.0
        let stats = QueueStatistics(tasks: [], history: [], now: now, polls: ["idle-consumer": now - 2, "gone": now - 7200])
        #expect(stats.consumers.map(\.id) == ["idle-consumer"])
        #expect(stats.consumers.first?.lastSeen == now - 2)
        var buckets = stats.buckets
        buckets[0].processed = 1_234_567
        let svg = QueueChart.svg(buckets, windowSeconds: 3600)
        // The legend's text starts at width - right + 40 and needs about 7 px per character at 12 px.
        let room = QueueChart.width - (QueueChart.width - QueueChart.right + 40)
        #expect(Double("processed (1234567)".count) * 7 <= room)
        #expect(svg.contains("processed (1234567)"))
    }

    /// Issue 13, finding 12: the user who asked sees their background work fail, with Retry and Dismiss; a page and
    /// an API route list their own work.
    @Test("a user's failed background work shows on their next page with Retry and Dismiss; my_tasks lists their own work only")
    func ownFailedWorkShown() async throws {
        try await withPages(live: true) { browser in
            let f = browser.fixture
            var mine: [QueueTask] = []
            for index in 0..<2 {
                let task = try await f.add(TaskFactory.task("task_action_submit", context: "WS-00\(index)", created: f.now + Double(index),
                                                            retries: 0, username: "analyst1"))
                _ = try #require(try await f.store.pop(consumerID: "consumer-1", now: f.now + 5))
                _ = try await f.store.fail(task.taskUID, message: "analyst1 may not submit Cu of H2O-000\(index)", lease: .none, now: f.now + 6)
                mine.append(task)
            }
            let queuedOther = try await f.add(TaskFactory.task("task_action_verify", context: "WS-0099", created: f.now, username: "labman"))
            try await browser.login("analyst1", "anpass")
            let page = try await browser.request("/worksheets")
            #expect(page.html.contains(#"id="failed-work""#) && page.html.contains("analyst1 may not submit Cu of H2O-0000"))
            #expect(page.html.contains(#"value="retry""#) && page.html.contains(#"value="dismiss""#))
            let list = try await browser.request("/my_tasks")
            #expect(list.html.contains(mine[0].taskUID) && list.html.contains(mine[1].taskUID) && !list.html.contains(queuedOther.taskUID))
            let token = try #require(Browser.csrf(page.html))
            // Dismiss one, retry the other; another user's task cannot be touched.
            let dismissed = try await browser.post("/my_tasks", [("_csrf", token), ("action", "dismiss"), ("task_uid", mine[0].taskUID), ("back", "/worksheets")])
            #expect(dismissed.status == 303 && dismissed.location == "/worksheets")
            #expect(try await f.store.task(mine[0].taskUID) == nil)
            _ = try await browser.post("/my_tasks", [("_csrf", token), ("action", "retry"), ("task_uid", mine[1].taskUID)])
            #expect(try await f.store.task(mine[1].taskUID)?.status == .queued)
            _ = try await browser.post("/my_tasks", [("_csrf", token), ("action", "dismiss"), ("task_uid", queuedOther.taskUID)])
            #expect(try await f.store.task(queuedOther.taskUID) != nil)
            // No task_uid: the field is named as missing (was "you have no task ''").
            let blank = try await browser.post("/my_tasks", [("_csrf", token), ("action", "dismiss"), ("back", "/my_tasks")])
            let blankText = try await browser.request(blank.location ?? "/").html
            #expect(blankText.contains("task_uid&#39; is required") || blankText.contains("task_uid' is required"), "\(blankText.suffix(600))")
            #expect(!(try await browser.request("/worksheets").html.contains(#"id="failed-work""#)))
            // Many tasks: 50 a page, newest first, with page links.
            let many = (0..<60).map { TaskFactory.task("task_action_submit", context: "WS-1\($0)", created: f.now + 100 + Double($0), username: "analyst1") }
            _ = try await f.store.add(many, now: f.now)
            let first = try await browser.request("/my_tasks")
            #expect(first.html.contains("61 tasks.") && first.html.contains(many[59].taskUID) && !first.html.contains(many[9].taskUID), "\(first.html.suffix(800))")
            let second = try await browser.request("/my_tasks?page=2")
            #expect(second.html.contains(many[9].taskUID) && second.html.contains(mine[1].taskUID) && !second.html.contains(many[10].taskUID))
        }
    }

    /// Issue 13, finding 13: the worksheet pages.
    @Test("pages: Submit with no row selected keeps typed results; Reject asks first; Add analyses page; unknown URLs get an HTML page")
    func worksheetPageUsability() async throws {
        try await withPages(live: true) { browser in
            let f = browser.fixture
            var settings = try await f.store.settings()
            settings.chunkSize = 0 // synchronous: the page's effects are visible at once
            try await f.store.updateSettings(settings)
            try await browser.login("labman", "labpass")
            let token = try #require(Browser.csrf(try await browser.request("/worksheets").html))
            let created = try await browser.post("/worksheets", [("_csrf", token), ("action", "add"), ("analyst", "analyst1")])
            let path = try #require(created.location)
            let uid = String(path.dropFirst("/worksheets/".count))
            // Add analyses page: the received sample's two unassigned analyses, filterable.
            let page = try await browser.request(path)
            #expect(page.html.contains(#"id="add-analyses""#))
            let add = try await browser.request("\(path)/add")
            let state = try await f.lab.load()
            let analyses = state.analyses(ofSample: browser.lab.happySamples[0].uid).map(\.uid)
            #expect(add.status == 200 && analyses.allSatisfy { add.html.contains(#"value="\#($0)""#) })
            let filtered = try await browser.request("\(path)/add?filter=Fe")
            #expect(filtered.html.contains("Iron") && !filtered.html.contains("Copper"))
            let added = try await browser.post("\(path)/add", [("_csrf", token)] + analyses.map { ("uids", $0) })
            #expect(added.status == 303 && added.location == path)
            #expect(try await f.lab.load().analyses(onWorksheet: uid).count == 2)
            // Submit with nothing selected: the typed results are saved, and the page says so.
            let submit = try await browser.post(path, [("_csrf", token), ("action", "submit"),
                                                       ("result.\(analyses[0])", "12"), ("result.\(analyses[1])", "13")])
            let after = try await browser.request(submit.location ?? path)
            #expect(after.html.contains("Select at least one analysis first. 2 typed results were saved."))
            let saved = try await f.lab.load()
            #expect(saved.analysisRecord(analyses[0])?.result == "12" && saved.analysisRecord(analyses[1])?.result == "13")
            // Reject asks first; nothing is rejected before the confirmation.
            let ask = try await browser.post(path, [("_csrf", token), ("action", "reject"), ("uids", analyses[0])])
            #expect(ask.status == 200 && ask.html.contains("cannot be brought back") && ask.html.contains(#"id="confirm-yes""#))
            #expect(try await f.lab.load().analysisRecord(analyses[0])?.reviewState == ReviewState.assigned)
            let rejected = try await browser.post(path, [("_csrf", token), ("action", "reject"), ("uids", analyses[0]), ("confirm", "yes")])
            #expect(rejected.status == 303)
            #expect(try await f.lab.load().analysisRecord(analyses[0])?.reviewState == ReviewState.rejected)
            // Unknown page URLs: an HTML page, not JSON; the JSON API keeps JSON.
            let unknown = try await browser.request("/worksheetz")
            #expect(unknown.status == 404 && unknown.html.contains("<html") && unknown.html.contains("There is no page at /worksheetz"))
            let api = try await browser.request("/@@API/senaite/v1/nothing/here")
            #expect(api.status == 404 && !api.html.contains("<html"))
        }
    }

    /// Issue 13, finding 18 (page): lab managers manage users; every user changes their own password.
    @Test("users page: a lab manager adds a user, sets roles, resets the password and deactivates; others get 403; /password changes one's own")
    func usersPage() async throws {
        try await withPages(live: true) { browser in
            try await browser.login("analyst1", "anpass")
            #expect(try await browser.request("/users").status == 403)
            let form = try await browser.request("/password")
            let token = try #require(Browser.csrf(form.html))
            let wrong = try await browser.post("/password", [("_csrf", token), ("current_password", "nope"), ("new_password", "newpass77"),
                                                            ("confirm_password", "newpass77")])
            #expect(try await browser.request(wrong.location ?? "/password").html.contains("wrong password"))
            let changed = try await browser.post("/password", [("_csrf", token), ("current_password", "anpass"), ("new_password", "newpass77"),
                                                              ("confirm_password", "newpass77")])
            #expect(changed.location == "/login?password_changed=1")
            #expect(try await browser.request("/worksheets").location?.hasPrefix("/login") == true, "logged out everywhere")
            #expect(try await browser.login("analyst1", "newpass77").status == 303)
            try await browser.post("/logout", [("_csrf", try #require(Browser.csrf(try await browser.request("/worksheets").html)))])

            try await browser.login("labman", "labpass")
            let page = try await browser.request("/users")
            #expect(page.status == 200 && page.html.contains(#"data-user="analyst1""#) && page.html.contains(#"data-user="rita""#))
            let managerToken = try #require(Browser.csrf(page.html))
            let added = try await browser.post("/users", [("_csrf", managerToken), ("action", "add"), ("username", "clerk9"),
                                                          ("password", "clerkpass9"), ("roles", "LabClerk"), ("fullname", "Clerk Nine")])
            #expect(try await browser.request(added.location ?? "/users").html.contains("User clerk9 added."))
            let short = try await browser.post("/users", [("_csrf", managerToken), ("action", "add"), ("username", "clerk10"),
                                                          ("password", "x"), ("roles", "LabClerk")])
            #expect(try await browser.request(short.location ?? "/users").html.contains("password&#39;: 8 characters"))
            _ = try await browser.post("/users", [("_csrf", managerToken), ("action", "roles"), ("username", "clerk9"),
                                                  ("roles", "LabClerk"), ("roles", "Sampler")])
            _ = try await browser.post("/users", [("_csrf", managerToken), ("action", "deactivate"), ("username", "clerk9")])
            let state = try await browser.fixture.lab.load()
            let clerk = try #require(state.user(named: "clerk9"))
            #expect(clerk.roles == [.labClerk, .sampler] && !clerk.isActive && clerk.fullname == "Clerk Nine")
            let reset = try await browser.post("/users", [("_csrf", managerToken), ("action", "reset"), ("username", "analyst1"),
                                                          ("password", "resetpass1")])
            #expect(try await browser.request(reset.location ?? "/users").html.contains("Password of analyst1 reset"))
        }
    }
}

import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdBcrypt
import HummingbirdTesting
import LIMSCore
@testable import LimsAPI
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

/// The LIMS JSON API (senaite.jsonapi style) on the real SQLite store, mounted beside the queue routes.
@Suite("LIMS JSON API", .serialized)
struct LimsAPITests {
    /// What the seeded lab holds (``SeededLab``).
    typealias Lab = SeededLab

    typealias Answer = LimsAnswer

    /// A test client of the seeded lab (``LimsTestClient``).
    struct API: LimsTestClient {
        let client: any TestClientProtocol
        let lab: Lab
        /// The slowed repository, when the test asked for one.
        let slow: SlowRepository?
    }

    static let now = SeededLab.now

    /// Seeds the small lab of these tests (``SeededLab/seed(_:)``).
    static func seed(_ repository: any LabRepository) async throws -> Lab {
        try await SeededLab.seed(repository)
    }

    /// Runs `body` against the queue routes plus the LIMS API on a fresh SQLite store (router test mode).
    /// With `slowUnitsOfWork`, the API's units of work pause 100 ms before saving (``SlowRepository``).
    func withAPI(slowUnitsOfWork: Bool = false, queued: Bool = false, _ body: @escaping @Sendable (API) async throws -> Void) async throws {
        try await StoreFixture.with { fixture in
            let key = Fernet.generateKey()
            let clock = fixture.clock
            let store: any LabRepository = fixture.lab
            let lab = try await Self.seed(store)
            let slow = slowUnitsOfWork ? SlowRepository(base: store) : nil
            let repository: any LabRepository = slow ?? store
            let authenticator = QueueAuthenticator(key: { key }, clock: clock, userExists: { !$0.isEmpty })
            let queue = QueueServerController(store: fixture.store, authenticator: authenticator, clock: clock)
            let lims = LimsAPIController(repository: repository, authKey: { key }, clock: clock,
                                         queue: queued ? fixture.store : nil)
            let router = QueueServerApp.router(controller: queue, addRoutes: { lims.addRoutes(to: $0) })
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            let app = Application(router: router, logger: logger)
            try await app.test(.router) { client in
                try await body(API(client: client, lab: lab, slow: slow))
            }
        }
    }

    /// The `__ac` value a response sets, nil when none.
    static func sessionCookie(_ answer: Answer) -> String? {
        for value in answer.headers[values: .setCookie] where value.hasPrefix("__ac=") {
            return String(value.dropFirst(5).prefix { $0 != ";" })
        }
        return nil
    }

    @Test("login sets an HttpOnly cookie that authenticates; Basic works; wrong passwords are 401 without a hint; logout clears")
    func authentication() async throws {
        try await withAPI { api in
            let anonymous = try await api.call("AnalysisRequest", method: .get)
            #expect(anonymous.status == 401 && anonymous.json["success"] == .bool(false))
            #expect(anonymous.message.hasPrefix("Unauthorized - "))

            let login = try await api.call("login", body: .object(["username": .string("labman"), "password": .string("labpass")]))
            #expect(login.status == 200 && login.json["userid"] == .string("labman"))
            let setCookie = try #require(login.headers[values: .setCookie].first { $0.hasPrefix("__ac=") })
            #expect(setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Lax") && setCookie.contains("Path=/"))
            #expect(setCookie.contains("Max-Age=28800"))
            let cookie = try #require(Self.sessionCookie(login))
            let withCookie = try await api.call("AnalysisRequest", method: .get, cookie: cookie)
            #expect(withCookie.status == 200 && withCookie.json["count"] == .int(4))
            #expect(try await api.call("AnalysisRequest", method: .get, cookie: "garbage").status == 401)

            let wrongPassword = try await api.call("login", body: .object(["username": .string("labman"), "password": .string("nope")]))
            let unknownUser = try await api.call("login", body: .object(["username": .string("nobody"), "password": .string("labpass")]))
            #expect(wrongPassword.status == 401 && unknownUser.status == 401)
            #expect(wrongPassword.message == unknownUser.message)
            #expect(Self.sessionCookie(wrongPassword) == nil)

            #expect(try await api.manager("AnalysisRequest", method: .get).status == 200)
            let badBasic = try await api.call("AnalysisRequest", method: .get, basic: ("labman", "wrong"))
            #expect(badBasic.status == 401 && badBasic.message == wrongPassword.message)
            #expect(try await api.call("AnalysisRequest", method: .get, basic: ("labman", "wrong"), cookie: cookie).status == 401)

            let missing = try await api.call("login", body: .object(["username": .string("labman")]))
            #expect(missing.status == 400 && missing.message.contains("'password'"))
            let malformed = try await api.call("login", raw: "{\"username\": ")
            #expect(malformed.status == 400 && malformed.json["success"] == .bool(false))

            let logout = try await api.call("logout", cookie: cookie)
            #expect(logout.status == 200 && Self.sessionCookie(logout) == "")
            #expect(logout.headers[values: .setCookie].contains { $0.contains("Max-Age=0") })
        }
    }

    @Test("login as senaite.jsonapi documents it: __ac_name/__ac_password or username/password, in a form body or the query; bad forms are 400")
    func formLogin() async throws {
        try await withAPI { api in
            let form = "application/x-www-form-urlencoded"
            let plone = try await api.call("login", raw: "__ac_name=labman&__ac_password=labpass", contentType: form)
            #expect(plone.status == 200 && plone.json["userid"] == .string("labman"))
            let cookie = try #require(Self.sessionCookie(plone))
            #expect(try await api.call("AnalysisRequest", method: .get, cookie: cookie).status == 200)
            let named = try await api.call("login", raw: "username=labman&password=labpass", contentType: form + "; charset=UTF-8")
            #expect(named.status == 200 && Self.sessionCookie(named) != nil)
            let query = try await api.call("login?__ac_name=labman&__ac_password=labpass", raw: "", contentType: form)
            #expect(query.status == 200 && query.json["userid"] == .string("labman"))
            let jsonNames = try await api.call("login", body: .object(["__ac_name": .string("labman"), "__ac_password": .string("labpass")]))
            #expect(jsonNames.status == 200)

            let wrong = try await api.call("login", raw: "__ac_name=labman&__ac_password=nope", contentType: form)
            #expect(wrong.status == 401 && Self.sessionCookie(wrong) == nil)
            let missing = try await api.call("login", raw: "__ac_name=labman", contentType: form)
            #expect(missing.status == 400 && missing.message.contains("'password'"))
            let malformed = try await api.call("login", raw: "__ac_name=labman&__ac_password=%zz", contentType: form)
            #expect(malformed.status == 400 && malformed.message.contains("Form field 1"))
            let nul = try await api.call("login", raw: "__ac_name=lab%00man&__ac_password=labpass", contentType: form)
            #expect(nul.status == 400 && nul.message.contains("NUL"))
            // JSON labelled as a form (what `curl -d '{...}'` sends) is read as JSON.
            let mislabeled = try await api.call("login", raw: #" {"username": "labman", "password": "labpass"}"#, contentType: form)
            #expect(mislabeled.status == 200 && mislabeled.json["userid"] == .string("labman"))
            let emptyPassword = try await api.call("login", raw: "__ac_name=labman&__ac_password=", contentType: form)
            #expect(emptyPassword.status == 400 && emptyPassword.message.contains("'__ac_password'"))
            let twice = try await api.call("login", raw: "__ac_name=labman&__ac_name=rita&__ac_password=labpass", contentType: form)
            #expect(twice.status == 400 && twice.message.contains("not a list"))
            let multipart = try await api.call("login", raw: "--x\r\n", contentType: "multipart/form-data; boundary=x")
            #expect(multipart.status == 415 && multipart.message.contains("application/x-www-form-urlencoded"))
            // A public route reads little: a large body is refused before it is parsed.
            let large = try await api.call("login", raw: String(repeating: "a=&", count: 20_000), contentType: form)
            #expect(large.status == 413)
            // bcrypt stops at a NUL: a password with one never signs in, in Basic credentials too.
            #expect(try await api.call("AnalysisRequest", method: .get, basic: ("labman", "labpass\u{0}anything")).status == 401)
            // A form posted from another site's page (login CSRF) is refused; same for logout with the cookie.
            let crossSite = try await api.call("login", raw: "__ac_name=labman&__ac_password=labpass", contentType: form,
                                               headers: ["Origin": "http://evil.example"])
            #expect(crossSite.status == 403 && Self.sessionCookie(crossSite) == nil)
            let crossLogout = try await api.call("logout", cookie: cookie, headers: ["Origin": "http://evil.example"])
            #expect(crossLogout.status == 403)
            #expect(try await api.call("AnalysisRequest", method: .get, cookie: cookie).status == 200)
        }
    }

    @Test("query strings are read as forms, as Zope reads them: '+' is a space, %2B a plus; a bad escape is 400 naming its position")
    func queryAsForm() async throws {
        try await withAPI { api in
            let created = try await api.manager("users/create?username=quser&password=long+pass%2B1&roles=Analyst&fullname=Query+User",
                                                method: .post)
            #expect(created.status == 201, "\(created.message)")
            let users = try await api.manager("users", method: .get)
            let user = users.items.first { $0["userid"] == .string("quser") }
            #expect(user?["fullname"] == .string("Query User"))
            #expect(try await api.call("AnalysisRequest", method: .get, basic: ("quser", "long pass+1")).status == 200)
            let bad = try await api.manager("AnalysisRequest?review_state=%zz", method: .get)
            #expect(bad.status == 400 && bad.message.contains("Query parameter 0"))
        }
    }

    @Test("a listing's resource name is matched in any case, as senaite.jsonapi maps resources to portal types")
    func resourceNamesAnyCase() async throws {
        try await withAPI { api in
            #expect(try await api.manager("AnalysisRequest", method: .get).json["count"] == .int(4))
            // Each spelling lists what its portal type's own name lists; `worksheet` and `contact` are also the first
            // part of literal routes (worksheet/create, contact/link_user).
            for (name, canonicalName) in [("analysisrequest", "AnalysisRequest"), ("ANALYSISREQUEST", "AnalysisRequest"),
                                          ("analysisRequest", "AnalysisRequest"), ("analysis%20request", "AnalysisRequest"),
                                          ("client", "Client"), ("worksheet", "Worksheet"), ("contact", "Contact")] {
                let canonical = try await api.manager(canonicalName, method: .get)
                let answer = try await api.manager(name, method: .get)
                #expect(answer.status == 200 && answer.json["count"] != nil && answer.json["count"] == canonical.json["count"],
                        "\(name): \(answer.status) \(answer.message)")
                #expect(answer.items.map { $0["uid"] } == canonical.items.map { $0["uid"] }, "\(name)")
            }
            let clients = try await api.manager("client", method: .get)
            #expect(clients.items.allSatisfy { $0["portal_type"] == .string("Client") } && !clients.items.isEmpty)
            let unknown = try await api.manager("clientz", method: .get)
            #expect(unknown.status == 404 && unknown.message.contains("neither a portal type nor a uid"))
        }
    }

    @Test("the LIMS catch-all shadows no queue route: version stays public, queue_server keeps its token auth")
    func routePriority() async throws {
        try await withAPI { api in
            let version = try await api.call("version", method: .get)
            #expect(version.status == 200 && version.json["version"] != nil)
            let tasks = try await api.call("queue_server/tasks", method: .get, basic: ("labman", "labpass"))
            #expect(tasks.status == 401 && tasks.message.contains("X-Queue-Auth-Token"))
            let unknown = try await api.manager("NoSuchType", method: .get)
            #expect(unknown.status == 404 && unknown.json["success"] == .bool(false))
            let prefixed = try await api.call("/senaite/@@API/senaite/v1/Client", method: .get, basic: ("labman", "labpass"))
            #expect(prefixed.status == 200 && prefixed.json["count"] == .int(2))
        }
    }

    @Test("listings: filters, sorting, paging, visibility; GET <uid>; bad values are 400 naming the field")
    func listings() async throws {
        try await withAPI { api in
            let lab = api.lab
            let all = try await api.manager("AnalysisRequest", method: .get)
            #expect(all.json["count"] == .int(4) && all.json["page"] == .int(1) && all.json["pages"] == .int(1))
            #expect(all.json["pagesize"] == .int(50) && all.json["next"] == .null && all.json["previous"] == .null)
            let first = try #require(all.items.first)
            for key in ["uid", "id", "path", "portal_type", "review_state", "url", "getClientUID"] { #expect(first[key] != nil, "\(key)") }
            #expect(first["portal_type"] == .string("AnalysisRequest"))

            let paged = try await api.manager("AnalysisRequest?limit=3&sort_on=id&sort_order=descending", method: .get)
            #expect(paged.json["pages"] == .int(2) && paged.items.count == 3)
            #expect(paged.items.first?["id"] == .string("H2O-0004"))
            let next = try #require(paged.json["next"]?.stringValue)
            #expect(next.contains("page=2") && next.contains("limit=3"))
            let second = try await api.manager("AnalysisRequest?limit=3&sort_on=id&sort_order=descending&page=2", method: .get)
            #expect(second.items.map { $0["id"] } == [.string("H2O-0001")] && second.json["previous"] != .null)

            let happy = try await api.manager("AnalysisRequest?getClientUID=\(lab.happy.uid)", method: .get)
            #expect(happy.json["count"] == .int(3))
            let received = try await api.manager("AnalysisRequest?review_state=sample_received", method: .get)
            #expect(received.items.map { $0["uid"] } == [.string(lab.happySamples[0].uid)])
            let copper = try await api.manager("Analysis?getServiceUID=\(lab.cu.uid)", method: .get)
            #expect(copper.json["count"] == .int(4))
            #expect(copper.items.allSatisfy { $0["getServiceUID"] == .string(lab.cu.uid) })

            // A client user sees only its client's samples, and not the other client's by uid.
            let ritas = try await api.rita("AnalysisRequest", method: .get)
            #expect(ritas.json["count"] == .int(3))
            #expect(ritas.items.allSatisfy { $0["getClientUID"] == .string(lab.happy.uid) })
            #expect(try await api.rita(lab.klaymoreSample.uid, method: .get).status == 404)
            let own = try await api.rita(lab.happySamples[0].uid, method: .get)
            #expect(own.status == 200 && own.items.first?["Analyses"]?.arrayValue?.count == 2)

            for (query, field) in [("limit=0", "limit"), ("limit=501", "limit"), ("limit=abc", "limit"), ("page=0", "page"),
                                   ("sort_on=title", "sort_on"), ("sort_order=up", "sort_order"),
                                   ("review_state=%00", "review_state"), ("getClientUID=a%00b", "getClientUID")] {
                let bad = try await api.manager("AnalysisRequest?\(query)", method: .get)
                #expect(bad.status == 400 && bad.message.contains("'\(field)'"), "\(query): \(bad.message)")
            }
            // An empty sort is the default sort, as an empty filter is no filter (a form's blank select boxes).
            let defaults = try await api.manager("AnalysisRequest", method: .get)
            let blank = try await api.manager("AnalysisRequest?review_state=&getClientUID=&sort_on=&sort_order=", method: .get)
            #expect(blank.status == 200 && blank.items.map { $0["uid"] } == defaults.items.map { $0["uid"] }, "\(blank.message)")
            #expect(try await api.manager("AnalysisRequest?sort_order=&sort_on=id", method: .get).status == 200)
            // Characters a query may not hold unencoded, and a stray `%`, come back encoded in the page links (setting
            // them raw on URLComponents stopped the process).
            #expect(LimsAPIController.validQuery("review_state[]=x&a=%zz&b=%41 c&d=é") == "review_state%5B%5D=x&a=%25zz&b=%41%20c&d=%C3%A9")
            #expect(URLComponents(string: "http://h/p?" + LimsAPIController.validQuery("q=[<\"{|}>]^`\\%")) != nil)
            // The largest `b_start` and `page` with a limit of 1: an empty page, never an overflow.
            for query in ["b_start=9223372036854775807&limit=1", "page=9223372036854775807&limit=1"] {
                let far = try await api.manager("AnalysisRequest?\(query)", method: .get)
                #expect(far.status == 200 && far.items.isEmpty, "\(query): \(far.message)")
            }
            // Digits beyond 64 bits are out of range, not "not an integer".
            for query in ["page=99999999999999999999", "b_start=-99999999999999999999"] {
                let huge = try await api.manager("AnalysisRequest?\(query)", method: .get)
                #expect(huge.status == 400 && huge.message.contains("out of range"), "\(query): \(huge.message)")
            }
            // A repeated key is named as such, not as "not an integer".
            let twice = try await api.manager("AnalysisRequest?page=2&page=3", method: .get)
            #expect(twice.status == 400 && twice.message.contains("'page'") && twice.message.contains("more than once"), "\(twice.message)")
            // A long unknown name is quoted by its start only.
            let longName = try await api.manager(String(repeating: "a", count: 5_000), method: .get)
            #expect(longName.status == 404 && longName.message.count < 400, "\(longName.message.count)")
            let farPage = try await api.manager("AnalysisRequest?page=9223372036854775807", method: .get)
            #expect(farPage.status == 200 && farPage.items.isEmpty, "\(farPage.status) \(farPage.message)")
            // senaite.jsonapi's b_start pages by the first item's index, and next/previous keep paging by it; q
            // searches ids.
            let byIndex = try await api.manager("AnalysisRequest?limit=2&b_start=1", method: .get)
            let byPage = try await api.manager("AnalysisRequest?limit=4", method: .get)
            #expect(byIndex.items.compactMap { $0["uid"]?.stringValue } == Array(byPage.items.compactMap { $0["uid"]?.stringValue }[1...2]))
            #expect(byIndex.json["next"]?.stringValue?.contains("b_start=3") == true, "\(byIndex.json)")
            #expect(byIndex.json["previous"]?.stringValue?.contains("b_start=0") == true, "\(byIndex.json)")
            // The last items from an offset that is not a multiple of the page size: no next; far past the end,
            // previous goes back to the last page's start.
            let tail = try await api.manager("AnalysisRequest?limit=3&b_start=2", method: .get)
            #expect(tail.items.count == 2 && tail.json["next"] == .null, "\(tail.json)")
            let beyond = try await api.manager("AnalysisRequest?limit=3&b_start=300", method: .get)
            #expect(beyond.items.isEmpty && beyond.json["previous"]?.stringValue?.contains("b_start=1") == true, "\(beyond.json)")
            let negative = try await api.manager("AnalysisRequest?b_start=-10", method: .get)
            #expect(negative.status == 400 && negative.message.contains("'b_start'"))
            let sampleID = try #require(byPage.items.first?["id"]?.stringValue)
            let searched = try await api.manager("AnalysisRequest?q=\(sampleID.lowercased())", method: .get)
            #expect(searched.json["count"] == .int(1) && searched.items.first?["id"] == .string(sampleID), "\(searched.json)")
            // An empty filter is no filter (senaite.jsonapi), on both databases.
            let everySample = try await api.manager("AnalysisRequest", method: .get)
            for query in ["review_state=", "getClientUID=", "getClientUID=,"] {
                let unfiltered = try await api.manager("AnalysisRequest?\(query)", method: .get)
                #expect(unfiltered.status == 200 && unfiltered.json["count"] == everySample.json["count"], "\(query): \(unfiltered.json)")
            }
            let wrongFilter = try await api.manager("Client?getServiceUID=\(lab.cu.uid)", method: .get)
            #expect(wrongFilter.status == 400 && wrongFilter.message.contains("'getServiceUID'"))
            #expect(try await api.manager(String(repeating: "0", count: 32), method: .get).status == 404)
        }
    }

    @Test("create a sample with analyses by keyword; results via update; submit via workflow_action; self-verification refused")
    func sampleLifecycle() async throws {
        try await withAPI { api in
            let lab = api.lab
            let created = try await api.manager("create", body: .object([
                "portal_type": .string("AnalysisRequest"), "Client": .string(lab.happy.uid), "Contact": .string(lab.rita.uid),
                "SampleType": .string("Water"), "Analyses": .array([.string("Cu"), .string(lab.fe.uid)]), "Priority": .int(1),
            ]))
            #expect(created.status == 200, "\(created.message)")
            let sample = try #require(created.items.first)
            #expect(sample["id"] == .string("H2O-0005") && sample["priority"] == .int(1))
            let analyses = try #require(sample["Analyses"]?.arrayValue?.compactMap { $0.objectValue })
            #expect(Set(analyses.compactMap { $0["id"]?.stringValue }) == ["Cu", "Fe"])
            let sampleUID = try #require(sample["uid"]?.stringValue)
            let analysisUIDs = analyses.compactMap { $0["uid"]?.stringValue }

            // The client user may add samples to its own client only.
            let ritaCreate = try await api.rita("create", body: .object([
                "portal_type": .string("AnalysisRequest"), "Client": .string(lab.happy.uid), "Contact": .string(lab.rita.uid),
                "SampleType": .string(lab.water.uid), "Analyses": .array([.string("Cu")]), "ClientSampleID": .string("  Well B/17 "),
            ]))
            #expect(ritaCreate.status == 200, "\(ritaCreate.message)")
            // The client's own id is kept (trimmed), answered as SENAITE's metadata, and found by the listing's search.
            let ritaSample = try #require(ritaCreate.items.first)
            #expect(ritaSample["getClientSampleID"] == .string("Well B/17") && ritaSample["clientSampleID"] == .string("Well B/17"))
            #expect(sample["getClientSampleID"] == .string(""))
            #expect(created.json["skipped_fields"] == nil && ritaCreate.json["skipped_fields"] == nil)
            // A field this LIMS does not store is named in the answer, not dropped unsaid.
            let remarks = try await api.manager("create", body: .object([
                "portal_type": .string("AnalysisRequest"), "Client": .string(lab.happy.uid), "Contact": .string(lab.rita.uid),
                "SampleType": .string("Water"), "Analyses": .array([.string("Cu")]), "Remarks": .string("keep cold"),
                "DateSampled": .string("2026-12-01"),
            ]))
            #expect(remarks.status == 200 && remarks.json["skipped_fields"] == .array([.string("DateSampled"), .string("Remarks")])
                    && remarks.json["skipped_count"] == .int(2), "\(remarks.json)")
            #expect(LimsAPIController.escapedForLog("x\n2026 critical \u{1B}[31m,\\é") == "x\\u{a}2026\\u{20}critical\\u{20}\\u{1b}\\u{5b}31m\\u{2c}\\\\\\u{e9}")
            #expect(LimsAPIController.escapedForLog("x lims.user=admin") == "x\\u{20}lims.user\\u{3d}admin")
            #expect(LimsAPIController.escapedForLog("Remarks_2-b.c:d/e") == "Remarks_2-b.c:d/e")
            let found = try await api.rita("AnalysisRequest?q=b%2F17", method: .get)
            #expect(found.items.map { $0["uid"] } == [ritaSample["uid"]], "\(found.json)")
            // A search without sort_on is answered newest first; with it, in the order asked.
            let newest = try await api.manager("AnalysisRequest?q=h2o", method: .get)
            let instants = newest.items.compactMap { $0["created"]?.doubleValue }
            #expect(instants.count >= 3 && instants == instants.sorted(by: >), "\(instants)")
            let byID = try await api.manager("AnalysisRequest?q=h2o&sort_on=id", method: .get)
            let ids = byID.items.compactMap { $0["id"]?.stringValue }
            #expect(ids.count == instants.count && ids == ids.sorted(), "\(ids)")

            let receive = try await api.manager("workflow_action", body: .object(["action": .string("receive"), "uids": .array([.string(sampleUID)])]))
            #expect(receive.json["success"] == .bool(true), "\(receive.json)")

            for uid in analysisUIDs {
                let update = try await api.analyst("update", body: .object(["uid": .string(uid), "Result": .double(1.5)]))
                #expect(update.status == 200 && update.items.first?["result"] == .string("1.5"), "\(update.message)")
            }
            let ritaUpdate = try await api.rita("update", body: .object(["uid": .string(analysisUIDs[0]), "Result": .string("9")]))
            #expect(ritaUpdate.status == 403 && ritaUpdate.message.contains("'Result'"))

            let submit = try await api.manager("workflow_action", body: .object(["action": .string("submit"), "uids": .array(analysisUIDs.map(JSONValue.string))]))
            #expect(submit.json["success"] == .bool(true), "\(submit.json)")
            #expect(submit.items.allSatisfy { $0["review_state"] == .string("to_be_verified") })

            let verify = try await api.manager("workflow_action", body: .object([
                "action": .string("verify"), "uids": .array([.string(analysisUIDs[0]), .string(String(repeating: "f", count: 32))]),
            ]))
            #expect(verify.status == 200 && verify.json["success"] == .bool(false))
            #expect(verify.items.map { $0["guard"] } == [.string("analysis.verify"), .string("exists")])
            #expect(verify.items.first?["success"] == .bool(false))

            let closed = try await api.analyst("update", body: .object(["uid": .string(analysisUIDs[0]), "Result": .string("2")]))
            #expect(closed.status == 409 && closed.message.contains("'Result'"), "\(closed.message)")
        }
    }

    @Test("bad input to create, update and workflow_action: 4xx JSON naming the field")
    func writeValidation() async throws {
        try await withAPI { api in
            let lab = api.lab
            func sample(_ overrides: [String: JSONValue], removing: String? = nil) -> JSONValue {
                var body: [String: JSONValue] = [
                    "portal_type": .string("AnalysisRequest"), "Client": .string(lab.happy.uid), "Contact": .string(lab.rita.uid),
                    "SampleType": .string("H2O"), "Analyses": .array([.string("Cu")]),
                ]
                body.merge(overrides) { _, new in new }
                if let removing { body[removing] = nil }
                return .object(body)
            }
            let cases: [(JSONValue, String, Int)] = [
                (sample([:], removing: "Client"), "Client", 400),
                (sample(["Client": .string(String(repeating: "a", count: 32))]), "Client", 400),
                (sample(["Contact": .string(lab.ken.uid)]), "Contact", 400),
                (sample(["SampleType": .string("Soil")]), "SampleType", 400),
                (sample(["Analyses": .array([.string("Zn")])]), "Analyses", 400),
                (sample(["Analyses": .array([])]), "Analyses", 400),
                (sample(["Analyses": .int(3)]), "Analyses", 400),
                (sample(["Analyses": .array([.string("Cu"), .string("Cu")])]), "Analyses", 400),
                (sample(["Priority": .int(9)]), "Priority", 400),
                (sample(["portal_type": .string("Client")]), "portal_type", 400),
                (sample(["Client": .int(5)]), "Client", 400),
                (sample(["ClientSampleID": .int(5)]), "ClientSampleID", 400),
                (sample(["ClientSampleID": .string("two\nlines")]), "ClientSampleID", 400),
                (sample(["ClientSampleID": .string("RB\u{202E}7")]), "ClientSampleID", 400),
                (sample(["ClientSampleID": .string("\u{FEFF}RB-7")]), "ClientSampleID", 400),
                (sample(["ClientSampleID": .string("RB\u{2028}7")]), "ClientSampleID", 400),
            ]
            // A huge value is refused without being echoed back.
            let huge = JSONValue.string(String(repeating: "z", count: 1_000_000))
            let hugeCases: [(JSONValue, String, Int)] = ["Client", "Contact", "SampleType", "portal_type", "ClientSampleID"].map { (sample([$0: huge]), $0, 400) }
                + [(sample(["Analyses": .array([.string("Cu"), huge])]), "Analyses", 400)]
            for (body, field, status) in cases + hugeCases {
                let answer = try await api.manager("create", body: body)
                #expect(answer.status == status && answer.message.contains("'\(field)'"), "\(field): \(answer.status) \(answer.message.prefix(200))")
                #expect(answer.json["success"] == .bool(false))
                #expect(answer.message.utf8.count < 1_000, "\(field): the answer echoes the value")
            }
            let foreign = try await api.rita("create", body: sample(["Client": .string(lab.klaymore.uid), "Contact": .string(lab.ken.uid)]))
            #expect((400...403).contains(foreign.status) && foreign.message.contains("'Client'"))
            let malformed = try await api.call("create", raw: "[1, 2", basic: ("labman", "labpass"))
            #expect(malformed.status == 400 && malformed.message.contains("JSON"))
            let notObject = try await api.call("create", raw: "[1, 2]", basic: ("labman", "labpass"))
            #expect(notObject.status == 400)

            let analysis = lab.happySamples[0].uid
            let updates: [(JSONValue, String, Int)] = [
                (.object(["Result": .string("1")]), "uid", 400),
                (.object(["uid": .string(String(repeating: "b", count: 32)), "Result": .string("1")]), "uid", 404),
                (.object(["uid": .string(analysis), "Result": .string("1")]), "uid", 400),
                (.object(["uid": .string(analysis)]), "Result", 400),
                (.object(["uid": .string(analysis), "Result": .bool(true)]), "Result", 400),
                // Refused, not looked up and echoed back.
                (.object(["uid": .string(String(repeating: "b", count: 100_000)), "Result": .string("1")]), "uid", 400),
            ]
            for (body, field, status) in updates {
                let answer = try await api.manager("update", body: body)
                #expect(answer.status == status && answer.message.contains("'\(field)'"), "\(field): \(answer.status) \(answer.message)")
            }
            let actions: [(JSONValue, String, Int)] = [
                (.object(["uids": .array([.string(analysis)])]), "action", 400),
                (.object(["action": .string("submit")]), "uids", 400),
                (.object(["action": .string(String(repeating: "x", count: 100_000)), "uids": .array([.string(analysis)])]), "action", 400),
                (.object(["action": .string("submit"), "uids": .array([.string(analysis)]),
                          "context_uid": .string(String(repeating: "w", count: 100_000))]), "context_uid", 400),
                (.object(["action": .string("submit"), "uids": .int(1)]), "uids", 400),
                (.object(["action": .string("submit"), "uids": .array((0...5_000).map { .string(String(format: "%032x", $0)) })]), "uids", 400),
                (.object(["action": .string("submit"), "uids": .array([.string(String(repeating: "a", count: 65))])]), "uids", 400),
                (.object(["action": .int(1), "uids": .array([.string(analysis)])]), "action", 400),
                (.object(["action": .string("assign"), "uids": .array([.string(analysis)]), "context_uid": .string("x")]), "context_uid", 400),
                // No transition of any workflow: refused as a whole, naming the field (was 200 with every item refused).
                (.object(["action": .string("frobnicate"), "uids": .array([.string(analysis)])]), "action", 400),
            ]
            for (body, field, status) in actions {
                let answer = try await api.manager("workflow_action", body: body)
                #expect(answer.status == status && answer.message.contains("'\(field)'"), "\(field): \(answer.status) \(answer.message)")
            }
        }
    }

    @Test("worksheets: create from a template, add analyses with slots, apply a template; bad input names the field")
    func worksheets() async throws {
        try await withAPI { api in
            let lab = api.lab
            // Receive the other Happy Hills samples so that their analyses can be assigned.
            let receive = try await api.manager("workflow_action", body: .object([
                "action": .string("receive"), "uids": .array([.string(lab.happySamples[1].uid), .string(lab.happySamples[2].uid)]),
            ]))
            #expect(receive.json["success"] == .bool(true))

            let created = try await api.manager("worksheet/create", body: .object([
                "analyst": .string("analyst1"), "template": .string(lab.template.uid),
            ]))
            #expect(created.status == 200, "\(created.message)")
            let worksheet = try #require(created.items.first)
            let worksheetUID = try #require(worksheet["uid"]?.stringValue)
            let layout = try #require(worksheet["layout"]?.arrayValue?.compactMap { $0.objectValue })
            // Two routine slots: the two lowest sample ids, both analyses each.
            #expect(layout.count == 4)
            #expect(Set(layout.compactMap { $0["position"]?.intValue }) == [1, 2])
            #expect(created.json["template_application"]?.objectValue?["assigned"]?.arrayValue?.count == 4)
            #expect(worksheet["analyst"] == .string("analyst1") && worksheet["templateUID"] == .string(lab.template.uid))

            // The third sample's analyses go to slot 5 by hand.
            let third = try await api.manager("Analysis?review_state=unassigned", method: .get)
            let thirdUIDs = third.items.compactMap { $0["uid"]?.stringValue }
            #expect(thirdUIDs.count == 2)
            let added = try await api.manager("worksheet/add_analyses", body: .object([
                "worksheet_uid": .string(worksheetUID), "uids": .array(thirdUIDs.map(JSONValue.string)), "slots": .array([.int(5), .int(5)]),
            ]))
            #expect(added.json["success"] == .bool(true), "\(added.json)")
            let rows = added.json["worksheet"]?.objectValue?["layout"]?.arrayValue?.compactMap(\.objectValue) ?? []
            #expect(rows.filter { $0["position"] == .int(5) }.count == 2)
            // Adding again is refused per item with its guard.
            let again = try await api.manager("worksheet/add_analyses", body: .object([
                "worksheet_uid": .string(worksheetUID), "uids": .array([.string(thirdUIDs[0])]),
            ]))
            #expect(again.json["success"] == .bool(false) && again.items.first?["guard"] != .null)

            // A new empty worksheet, then the template applied to it: nothing left to assign.
            let empty = try await api.manager("worksheet/create", body: .object(["analyst": .string("labman")]))
            let emptyUID = try #require(empty.items.first?["uid"]?.stringValue)
            let applied = try await api.manager("worksheet/apply_template", body: .object([
                "worksheet_uid": .string(emptyUID), "template_uid": .string(lab.template.uid),
            ]))
            #expect(applied.status == 200 && applied.items.first?["templateUID"] == .string(lab.template.uid))
            #expect(applied.json["template_application"]?.objectValue?["assigned"]?.arrayValue?.isEmpty == true)

            // The analyst may not manage worksheets (restricted to lab managers).
            #expect(try await api.analyst("worksheet/create", body: .object(["analyst": .string("analyst1")])).status == 403)

            let bad: [(String, JSONValue, String, Int)] = [
                ("worksheet/create", .object([:]), "analyst", 400),
                ("worksheet/create", .object(["analyst": .string("rita")]), "analyst", 400),
                ("worksheet/create", .object(["analyst": .int(1)]), "analyst", 400),
                ("worksheet/create", .object(["analyst": .string("analyst1"), "template": .string("nope")]), "template", 400),
                ("worksheet/create", .object(["analyst": .string("analyst1"), "instrument": .string("nope")]), "instrument", 400),
                ("worksheet/add_analyses", .object(["uids": .array([.string(thirdUIDs[0])])]), "worksheet_uid", 400),
                ("worksheet/add_analyses", .object(["worksheet_uid": .string(String(repeating: "c", count: 32)), "uids": .array([.string(thirdUIDs[0])])]), "worksheet_uid", 404),
                ("worksheet/add_analyses", .object(["worksheet_uid": .string(worksheetUID)]), "uids", 400),
                ("worksheet/add_analyses", .object(["worksheet_uid": .string(worksheetUID), "uids": .array([.string(thirdUIDs[0])]), "slots": .array([.int(1), .int(2)])]), "slots", 400),
                ("worksheet/add_analyses", .object(["worksheet_uid": .string(worksheetUID), "uids": .array([.string(thirdUIDs[0])]), "slots": .string("x")]), "slots", 400),
                ("worksheet/apply_template", .object(["worksheet_uid": .string(worksheetUID)]), "template_uid", 400),
                ("worksheet/apply_template", .object(["worksheet_uid": .string(worksheetUID), "template_uid": .string("nope")]), "template_uid", 404),
            ]
            // A huge value is refused without being echoed back (found by a fresh user: 1 MB answers).
            let huge = JSONValue.string(String(repeating: "y", count: 1_000_000))
            let hugeCases: [(String, JSONValue, String, Int)] = [
                ("worksheet/create", .object(["analyst": .string("analyst1"), "template": huge]), "template", 400),
                ("worksheet/create", .object(["analyst": .string("analyst1"), "instrument": huge]), "instrument", 400),
                ("users/update", .object(["username": huge, "active": .bool(true)]), "username", 400),
                ("users/update", .object(["username": .string("analyst1"), "roles": .array([huge])]), "roles", 400),
                ("users/create", .object(["username": .string("newbie"), "password": .string("long-enough"), "roles": .array([huge])]), "roles", 400),
            ]
            for (path, body, field, status) in bad + hugeCases {
                let answer = try await api.manager(path, body: body)
                #expect(answer.status == status && answer.message.contains("'\(field)'"), "\(path) \(field): \(answer.status) \(answer.message.prefix(200))")
                #expect(answer.message.utf8.count < 1_000, "\(path) \(field): the answer echoes the value")
            }
        }
    }

    @Test("worksheet actions are queued when the queue is ready: answered at once, 409 for a second identical one, guards apply")
    func queuedWorksheetActions() async throws {
        try await withAPI(queued: true) { api in
            let created = try await api.manager("worksheet/create", body: .object(["analyst": .string("analyst1")]))
            let worksheetUID = try #require(created.items.first?["uid"]?.stringValue)
            let uids = try await api.manager("Analysis?review_state=unassigned", method: .get).items.compactMap { $0["uid"]?.stringValue }
            // assign is not a queued action here: synchronous.
            let assigned = try await api.manager("workflow_action", body: .object([
                "action": .string("assign"), "uids": .array(uids.map(JSONValue.string)), "context_uid": .string(worksheetUID),
            ]))
            #expect(assigned.json["success"] == .bool(true) && assigned.json["queued"] == nil)
            for uid in uids { _ = try await api.manager("update", body: .object(["uid": .string(uid), "Result": .string("5")])) }
            let submit: JSONValue = .object(["action": .string("submit"), "uids": .array(uids.map(JSONValue.string)), "context_uid": .string(worksheetUID)])
            let queued = try await api.manager("workflow_action", body: submit)
            #expect(queued.status == 200 && queued.json["queued"] == .bool(true))
            let taskUID = try #require(queued.json["task_uid"]?.stringValue)
            let again = try await api.manager("workflow_action", body: submit)
            #expect(again.status == 409 && again.json["task_uid"] == .string(taskUID))
            // Nothing moved yet: the consumer does the work.
            let analyses = try await api.manager("Analysis?review_state=assigned", method: .get)
            #expect(analyses.json["count"] == .int(2))
            // The sample of the queued analyses is guarded while the task waits.
            let sampleUID = try #require(api.lab.happySamples.first?.uid)
            let guarded = try await api.manager("workflow_action", body: .object(["action": .string("submit"), "uids": .array([.string(sampleUID)])]))
            #expect(guarded.json["items"]?.arrayValue?.first?.objectValue?["guard"] == .string(GuardID.queueSample))
        }
    }

    @Test("a queued worksheet action reads the analyses it names, not the worksheet's whole layout")
    func queuedActionReadsWhatItNames() async throws {
        try await withAPI(slowUnitsOfWork: true, queued: true) { api in
            let created = try await api.manager("worksheet/create", body: .object(["analyst": .string("analyst1")]))
            let worksheetUID = try #require(created.items.first?["uid"]?.stringValue)
            let uids = try await api.manager("Analysis?review_state=unassigned", method: .get).items.compactMap { $0["uid"]?.stringValue }
            #expect(uids.count == 2)
            _ = try await api.manager("workflow_action", body: .object([
                "action": .string("assign"), "uids": .array(uids.map(JSONValue.string)), "context_uid": .string(worksheetUID),
            ]))
            for uid in uids { _ = try await api.manager("update", body: .object(["uid": .string(uid), "Result": .string("5")])) }
            let queued = try await api.manager("workflow_action", body: .object([
                "action": .string("submit"), "uids": .array([.string(uids[0])]), "context_uid": .string(worksheetUID),
            ]))
            #expect(queued.json["queued"] == .bool(true), "\(queued.json)")
            let reads = try #require(api.slow?.enqueueReads.withLock { $0 })
            #expect(reads.contains(worksheetUID) && reads.contains(uids[0]), "\(reads)")
            #expect(!reads.contains(uids[1]), "the other analysis of the layout was read: \(reads)")
        }
    }

    @Test("worksheets created from a template at the same moment never queue the same analyses")
    func concurrentTemplateWorksheets() async throws {
        try await withAPI(slowUnitsOfWork: true, queued: true) { api in
            let body: JSONValue = .object(["analyst": .string("analyst1"), "template": .string(api.lab.template.uid)])
            // Each unit of work pauses before saving: without one selection after the other, both read the same
            // candidates before either queues them.
            async let first = api.manager("worksheet/create", body: body)
            async let second = api.manager("worksheet/create", body: body)
            let answers = try await [first, second]
            #expect(answers.allSatisfy { $0.status == 200 }, "\(answers.map(\.json))")
            let queued = answers.flatMap { $0.json["queued_uids"]?.arrayValue?.compactMap(\.stringValue) ?? [] }
            #expect(!queued.isEmpty && Set(queued).count == queued.count, "\(answers.map(\.json))")
        }
    }

    @Test("a queued add_analyses refuses what its task could not assign; two at once never queue one analysis twice")
    func queuedAddAnalysesGuards() async throws {
        try await withAPI(slowUnitsOfWork: true, queued: true) { api in
            var worksheets: [String] = []
            for _ in 0..<3 {
                let created = try await api.manager("worksheet/create", body: .object(["analyst": .string("analyst1")]))
                worksheets.append(try #require(created.items.first?["uid"]?.stringValue))
            }
            let uids = try await api.manager("Analysis?review_state=unassigned", method: .get).items.compactMap { $0["uid"]?.stringValue }
            #expect(uids.count == 2)
            // An analysis already on a worksheet is refused by its guard now, and no task is queued for it.
            let assigned = try await api.manager("workflow_action", body: .object([
                "action": .string("assign"), "uids": .array([.string(uids[0])]), "context_uid": .string(worksheets[0]),
            ]))
            #expect(assigned.json["success"] == .bool(true), "\(assigned.json)")
            let taken = try await api.manager("worksheet/add_analyses", body: .object([
                "worksheet_uid": .string(worksheets[1]), "uids": .array([.string(uids[0])]),
            ]))
            #expect(taken.json["queued"] == .bool(false) && taken.items.first?["guard"] == .string(GuardID.analysisAssign),
                    "\(taken.json)")
            // Both requests read the analysis before either saves (slow units of work, two worksheets, so no
            // in-process line between them): the claims make one of them conflict, run again and see the other's task.
            let second = uids[1], (target1, target2) = (worksheets[1], worksheets[2])
            async let first = api.manager("worksheet/add_analyses", body: .object([
                "worksheet_uid": .string(target1), "uids": .array([.string(second)]),
            ]))
            async let other = api.manager("worksheet/add_analyses", body: .object([
                "worksheet_uid": .string(target2), "uids": .array([.string(second)]),
            ]))
            let answers = try await [first, other]
            #expect(answers.filter { $0.json["queued"] == .bool(true) }.count == 1, "\(answers.map(\.json))")
            let refused = answers.flatMap { answer in answer.items.filter { $0["success"] == .bool(false) } }
            #expect(refused.count == 1 && refused.first?["guard"] == .string(GuardID.queueWorksheet), "\(answers.map(\.json))")
        }
    }

    @Test("concurrent workflow_action requests on one worksheet both take effect, one after the other")
    func concurrentAssign() async throws {
        try await withAPI(slowUnitsOfWork: true) { api in
            let empty = try await api.manager("worksheet/create", body: .object(["analyst": .string("analyst1")]))
            let worksheetUID = try #require(empty.items.first?["uid"]?.stringValue)
            let analyses = try await api.manager("Analysis?review_state=unassigned", method: .get)
            let uids = analyses.items.compactMap { $0["uid"]?.stringValue }
            #expect(uids.count == 2) // the received sample's Cu and Fe
            async let first = api.manager("workflow_action", body: .object([
                "action": .string("assign"), "uids": .array([.string(uids[0])]), "context_uid": .string(worksheetUID),
            ]))
            async let second = api.manager("workflow_action", body: .object([
                "action": .string("assign"), "uids": .array([.string(uids[1])]), "context_uid": .string(worksheetUID),
            ]))
            let answers = try await [first, second]
            #expect(answers.allSatisfy { $0.json["success"] == .bool(true) }, "\(answers.map(\.json))")
            let worksheet = try await api.manager(worksheetUID, method: .get)
            let layout = worksheet.items.first?["layout"]?.arrayValue ?? []
            #expect(layout.count == 2)
            #expect(Set(layout.compactMap { $0.objectValue?["analysis_uid"]?.stringValue }) == Set(uids))
            // worksheet/create once, then both assigns once each: in one process the units of work on one worksheet
            // wait for each other (LabActions.worksheetLine) instead of colliding and running again. Between
            // processes the versions still decide (LabStoreTests: one conflicts and is retried).
            #expect(api.slow?.attempts.withLock { $0 } == 3)
            // A concurrent result entry and a submit of the other analysis both take effect too.
            api.slow?.attempts.withLock { $0 = 0 }
            _ = try await api.manager("update", body: .object(["uid": .string(uids[1]), "Result": .string("3")]))
            async let update = api.analyst("update", body: .object(["uid": .string(uids[0]), "Result": .string("7")]))
            async let submit = api.manager("workflow_action", body: .object(["action": .string("submit"), "uids": .array([.string(uids[1])])]))
            let (updated, submitted) = try await (update, submit)
            #expect(updated.status == 200 && submitted.json["success"] == .bool(true), "\(updated.json) \(submitted.json)")
            let states = try await api.manager(worksheetUID, method: .get).items.first?["Analyses"]?.arrayValue ?? []
            let byUID = Dictionary(uniqueKeysWithValues: states.compactMap(\.objectValue).compactMap { item in
                item["uid"]?.stringValue.map { ($0, item) }
            })
            #expect(byUID[uids[0]]?["result"] == .string("7"))
            #expect(byUID[uids[1]]?["review_state"] == .string("to_be_verified"))

        }
    }
}

/// A repository whose units of work pause 100 ms after their body ran (before saving) and count their attempts,
/// so that two concurrent requests overlap and the later one must be retried.
final class SlowRepository: LabRepository, WrappingRepository {
    let base: any LabRepository
    /// Bodies run so far (first attempts plus retries).
    let attempts = Mutex<Int>(0)
    /// The uids of the objects the last unit of work that enqueued held when its body returned.
    let enqueueReads = Mutex<Set<String>>([])

    init(base: any LabRepository) { self.base = base }

    func perform<T: Sendable>(_ body: @Sendable (inout LabState, any LabReader) async throws -> T) async throws -> T {
        try await base.perform { state, reader in
            self.attempts.withLock { $0 += 1 }
            let result = try await body(&state, reader)
            try await Task.sleep(for: .milliseconds(100))
            return result
        }
    }

    func reindexSecurity(_ uids: [String]) async throws { try await base.reindexSecurity(uids) }

    func perform<T: Sendable>(enqueuing body: @Sendable (inout LabState, any LabReader) async throws -> (T, [QueueTask])) async throws -> T {
        try await base.perform(enqueuing: { state, reader in
            self.attempts.withLock { $0 += 1 }
            let result = try await body(&state, reader)
            let held = Set(state.loadedObjects.map(\.uid))
            self.enqueueReads.withLock { $0 = held }
            try await Task.sleep(for: .milliseconds(100))
            return result
        })
    }
}

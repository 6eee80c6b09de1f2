import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import QueueCore
import Storage

/// `limsqueue demo run`: a lab day driven through the HTTP API, as the demo lab's users.
///
/// Steps: worksheets from the Hardness template (one per analyst), a worksheet with the remaining analyses
/// assigned by hand, results entered by each worksheet's analyst, submit, verification by another user, one
/// retraction, and a new client contact linked to a new user. The heavy steps go through the queue; the run waits
/// for it after each step and ends with per task kind figures and the line `failed: N`.
struct DemoRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Drive a lab day through the HTTP API as the demo lab's users and print what the queue did.",
        discussion: """
            Without --server it starts the all-in-one server itself on --data-dir (free loopback port), loading the demo \
            setup into an empty lab and creating the reference and demo samples that are missing, and stops it at the end. \
            The demo workbook's users log in with their user name as password (labman1, analyst1, ...). Exits 1 when a \
            task failed.
            """
    )

    @OptionGroup var common: CommonOptions
    @OptionGroup var firstStart: FirstStartOptions

    @Option(name: .long, help: "Received samples with unassigned analyses the day starts with (missing ones are created; local server only).")
    var samples: Int = 20

    @Option(name: .long, help: "A running server's URL (e.g. http://127.0.0.1:8080); default: start one on --data-dir.")
    var server: String?

    @Option(name: .long, help: "The lab manager driving the day, USER or USER:PASSWORD (password defaults to the user name).")
    var manager: String = "labman1"

    @Option(name: .long, help: "Seconds to wait for the queue after each step.")
    var timeout: Double = 600

    func validate() throws {
        guard (1...5_000).contains(samples) else { throw ValidationError("--samples must be in 1...5000") }
        if let server, !(server.hasPrefix("http://") || server.hasPrefix("https://")) {
            throw ValidationError("--server must be an http(s) URL")
        }
    }

    func run() async throws {
        var logger = common.logger("limsqueue.demo")
        if server == nil, common.logLevel == "info" { logger.logLevel = .warning }
        let credentials = Self.credentials(manager)
        let day = DemoDay(manager: credentials, timeout: timeout)
        let failed: Int
        if let server {
            failed = try await day.run(base: server)
        } else {
            failed = try await StorageEnvironment.with(dataDir: common.dataDir, database: common.databaseURL, durability: common.durabilityLevel, logger: logger) { environment in
                try await LabSetup.firstStart(firstStart, environment: environment, logger: logger)
                try await DemoDay.prepare(environment: environment, samples: samples)
                return try await DemoDay.withLocalServer(environment: environment, logger: logger) { base in
                    try await day.run(base: base)
                }
            }
        }
        if failed > 0 { throw ExitCode(1) }
    }

    /// `USER` or `USER:PASSWORD` → (user, password); the password defaults to the user name (the demo workbook's rule).
    static func credentials(_ text: String) -> (String, String) {
        guard let colon = text.firstIndex(of: ":") else { return (text, text) }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }
}

/// The lab day itself (``DemoRunCommand``), over HTTP only, so it runs against any server.
struct DemoDay: Sendable {
    let manager: (String, String)
    let timeout: Double

    /// Makes sure the lab has reference samples and `samples` received samples with unassigned analyses.
    static func prepare(environment: StorageEnvironment, samples: Int) async throws {
        let references = try await LabSetup.createReferenceSamples(in: environment, validDays: 365)
        if !references.isEmpty { print("reference samples created: \(references.count)") }
        let waiting = try await environment.lab.samplesAwaitingAssignment()
        if waiting < samples {
            let existing = try await environment.lab.count(.sample)
            let ids = try await DemoLab.createSamples(count: samples - waiting, seed: UInt64(existing + 1), in: environment,
                                                      progress: ProgressBar())
            print("demo samples created: \(ids.count)")
        }
    }

    /// Runs `body` with the all-in-one server listening on a free loopback port, then stops it.
    /// - Parameter consumers: in-process consumers; default: the `max_consumers` setting.
    static func withLocalServer<T: Sendable>(environment: StorageEnvironment, logger: Logger, consumers count: Int? = nil,
                                             _ body: @Sendable (String) async throws -> T) async throws -> T {
        let ready = ReadySignal()
        let consumers: Int
        if let count { consumers = count } else { consumers = try await environment.store.settings().maxConsumers }
        let listen = try ListenOptions.parse(["--host", "127.0.0.1", "--port", "0"])
        let stopper = NodeStopper()
        let server = Task {
            try await QueueNode.run(environment: environment, listen: listen, consumers: consumers, logger: logger,
                                    onListening: { ready.set($0) }, stopper: stopper)
        }
        guard let port = await ready.wait() else {
            server.cancel()
            throw CLIError("the local server did not start")
        }
        if logger.logLevel <= .notice { print("local server on http://127.0.0.1:\(port) with \(consumers) consumers") }
        do {
            let result = try await body("http://127.0.0.1:\(port)")
            await stopper.stop()
            _ = try? await server.value
            return result
        } catch {
            await stopper.stop()
            _ = try? await server.value
            throw error
        }
    }

    /// Drives the day against `base`; prints progress and the summary. Returns the number of failed tasks.
    func run(base: String) async throws -> Int {
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            let failed = try await drive(LimsHTTPClient(base: base, http: http))
            try await http.shutdown()
            return failed
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    func step(_ text: String) { print("• \(text)") }

    /// Waits until the tasks the step's `users` queued have run (their own queued and running tasks, but `existing`:
    /// those they had before the day began, such as one delayed a year; other work in the queue is not waited for).
    func waitForQueue(_ api: LimsHTTPClient, users: [(String, String)], ignoring existing: Set<String>) async throws {
        let start = Date()
        try await api.waitForOwnTasks(of: users, ignoring: existing, fallback: manager, timeout: timeout) { queued, running in
            if queued + running > 0 { print("    queue: \(queued) queued, \(running) running") }
        }
        print("    tasks done after \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
    }

    func drive(_ api: LimsHTTPClient) async throws -> Int {
        let started = Date().timeIntervalSince1970
        let status = try await api.expect("queue_status", as: manager)
        step("queue status: \(status.json["status"]?.stringValue ?? "?") (lab manager \(manager.0))")
        let users = try await api.expect("User?limit=500", as: manager).items
        func roles(_ user: [String: JSONValue]) -> [String] { user["roles"]?.arrayValue?.compactMap(\.stringValue) ?? [] }
        // The workbook's demo users first (analyst1, labman1: lower-case letters and a number; they sign in with their
        // name as password): a tryout's lab with users of its own made the day sign in as them, fail, and trip the
        // login limit.
        func demoFirst(_ names: [String]) -> [String] {
            names.map { (rank: $0.range(of: "^[a-z]+[0-9]+$", options: .regularExpression) == nil ? 1 : 0, name: $0) }
                .sorted { ($0.rank, $0.name) < ($1.rank, $1.name) }.map(\.name)
        }
        let analysts = demoFirst(users.filter { roles($0).contains("Analyst") }.compactMap { $0["userid"]?.stringValue })
        guard !analysts.isEmpty else { throw CLIError("the lab has no user with role Analyst") }
        let verifiers = demoFirst(users.filter { roles($0).contains("Verifier") || roles($0).contains("LabManager") }
            .compactMap { $0["userid"]?.stringValue })
        // The work of the users the day acts as (the first two analysts and verifiers) from before it: not waited for.
        let actors = (Array(analysts.prefix(2)) + Array(verifiers.prefix(2))).filter { $0 != manager.0 }.map { ($0, $0) }
        let existing = try await api.ownTaskUIDs(of: [manager] + actors)

        // 1. Worksheets from the Hardness template, one per analyst (at most two).
        let templates = try await api.expect("WorksheetTemplate", as: manager).items
        guard let template = templates.first(where: { ($0["title"]?.stringValue ?? "").localizedCaseInsensitiveContains("hardness") })
            ?? templates.first else { throw CLIError("the lab has no worksheet template") }
        let templateTitle = template["title"]?.stringValue ?? "?"
        var worksheets: [(uid: String, id: String, analyst: String)] = []
        for analyst in analysts.prefix(2) {
            let created = try await api.expect("worksheet/create", body: .object(["analyst": .string(analyst), "template": template["uid"] ?? .null]),
                                               as: manager)
            let item = created.items.first ?? [:]
            let id = item["id"]?.stringValue ?? "?"
            worksheets.append((item["uid"]?.stringValue ?? "", id, analyst))
            let queued = created.json["queued_uids"]?.arrayValue?.count ?? 0
            let references = created.json["template_application"]?.objectValue?["references"]?.arrayValue?.count ?? 0
            step("\(id) for \(analyst) from template \(templateTitle): \(queued) analyses queued, \(references) reference analyses added")
        }
        // 2. The remaining analyses assigned by hand to a third worksheet.
        let unassigned = try await api.expect("Analysis?review_state=unassigned&limit=40", as: manager).items
            .compactMap { $0["uid"]?.stringValue }
        if !unassigned.isEmpty {
            let analyst = analysts[0]
            let created = try await api.expect("worksheet/create", body: .object(["analyst": .string(analyst)]), as: manager)
            let item = created.items.first ?? [:]
            let uid = item["uid"]?.stringValue ?? "", id = item["id"]?.stringValue ?? "?"
            let added = try await api.expect("worksheet/add_analyses", body: .object([
                "worksheet_uid": .string(uid), "uids": .array(unassigned.map(JSONValue.string)),
            ]), as: manager)
            worksheets.append((uid, id, analyst))
            step("\(id) for \(analyst): \(unassigned.count) analyses assigned by hand (\(added.json["queued"] == .bool(true) ? "queued" : "at once"))")
        }
        try await waitForQueue(api, users: [manager], ignoring: existing)

        // 3. Results entered by each worksheet's analyst, then submitted (queued).
        var submittedBy: [String: String] = [:]
        for worksheet in worksheets {
            let analyst = (worksheet.analyst, worksheet.analyst)
            let detail = try await api.expect(worksheet.uid, as: manager).items.first ?? [:]
            let routine = (detail["Analyses"]?.arrayValue ?? []).compactMap(\.objectValue)
                .filter { $0["review_state"] == .string("assigned") }.compactMap { $0["uid"]?.stringValue }
            for (index, uid) in routine.enumerated() {
                _ = try await api.expect("update", body: .object(["uid": .string(uid), "Result": .string(String(format: "%.2f", 5 + Double(index % 7) * 0.37))]),
                                         as: analyst)
            }
            let submit = try await api.call("workflow_action", body: .object([
                "action": .string("submit"), "uids": .array(routine.map(JSONValue.string)), "context_uid": .string(worksheet.uid),
            ]), as: analyst)
            for uid in routine { submittedBy[uid] = worksheet.analyst }
            step("\(worksheet.id): \(routine.count) results entered and submitted by \(worksheet.analyst) (HTTP \(submit.status)\(submit.json["queued"] == .bool(true) ? ", queued" : ""))")
        }
        try await waitForQueue(api, users: worksheets.map { ($0.analyst, $0.analyst) }, ignoring: existing)

        // 4. Verification by another user, one retraction.
        var retracted = false
        var verifiedBy: [(String, String)] = []
        for worksheet in worksheets {
            let detail = try await api.expect(worksheet.uid, as: manager).items.first ?? [:]
            var waiting = (detail["Analyses"]?.arrayValue ?? []).compactMap(\.objectValue)
                .filter { $0["review_state"] == .string("to_be_verified") }.compactMap { $0["uid"]?.stringValue }
            guard !waiting.isEmpty else { continue }
            if !retracted {
                let uid = waiting.removeLast()
                let retract = try await api.expect("workflow_action", body: .object([
                    "action": .string("retract"), "uids": .array([.string(uid)]),
                ]), as: manager)
                retracted = retract.json["success"] == .bool(true)
                step("\(worksheet.id): one analysis retracted by \(manager.0) (a retest takes its place)")
            }
            guard let verifierName = verifiers.first(where: { $0 != worksheet.analyst }) else { continue }
            let verifier = (verifierName, verifierName == manager.0 ? manager.1 : verifierName)
            verifiedBy.append(verifier)
            let verify = try await api.call("workflow_action", body: .object([
                "action": .string("verify"), "uids": .array(waiting.map(JSONValue.string)), "context_uid": .string(worksheet.uid),
            ]), as: verifier)
            step("\(worksheet.id): \(waiting.count) analyses verified by \(verifierName) (HTTP \(verify.status)\(verify.json["queued"] == .bool(true) ? ", queued" : ""))")
        }
        try await waitForQueue(api, users: [manager] + verifiedBy, ignoring: existing)

        // 5. A new client contact gets a user: the client's security is re-indexed through the queue.
        let clients = try await api.expect("Client", as: manager).items
        if let client = clients.first {
            let suffix = String(Int(started) % 100_000)
            let contact = try await api.expect("create", body: .object([
                "portal_type": .string("Contact"), "Client": client["uid"] ?? .null,
                "Firstname": .string("Demo"), "Surname": .string("Contact \(suffix)"),
            ]), as: manager).items.first ?? [:]
            let username = "demo-client-\(suffix)"
            let link = try await api.expect("contact/link_user", body: .object([
                "contact_uid": contact["uid"] ?? .null, "username": .string(username), "password": .string("\(username)-pw"),
            ]), as: manager)
            step("contact of \(client["name"]?.stringValue ?? client["id"]?.stringValue ?? "client") linked to new user \(username)\(link.json["queued"] == .bool(true) ? " (security re-index queued)" : "")")
            try await waitForQueue(api, users: [manager], ignoring: existing)
            let visible = try await api.expect("AnalysisRequest?limit=1", as: (username, "\(username)-pw")).json["count"]?.intValue ?? 0
            step("\(username) now sees \(visible) samples of its client")
        }
        return try await summary(api, since: started)
    }

    /// Prints per task kind figures since `since` and `failed: N`; returns N (tasks that failed for good).
    func summary(_ api: LimsHTTPClient, since: Double) async throws -> Int {
        let stats = try await api.expect("queue_statistics?since=\(since)", as: manager)
        let kinds = stats.json["kinds"]?.objectValue ?? [:]
        print("")
        print("task kind                        processed  failed  retried  wait mean/p95 (s)  run mean/p95 (s)")
        var failed = 0
        for name in kinds.keys.sorted() {
            let kind = kinds[name]?.objectValue ?? [:]
            func number(_ key: String) -> Double { kind[key]?.doubleValue ?? Double(kind[key]?.intValue ?? 0) }
            failed += kind["failed"]?.intValue ?? 0
            print(name.padding(toLength: 32, withPad: " ", startingAt: 0)
                  + String(format: " %9d %7d %8d   %6.2f / %6.2f    %6.2f / %6.2f",
                           kind["processed"]?.intValue ?? 0, kind["failed"]?.intValue ?? 0, kind["retried"]?.intValue ?? 0,
                           number("wait_mean"), number("wait_p95"), number("run_mean"), number("run_p95")))
        }
        print("failed: \(failed)")
        return failed
    }
}

/// The demo's lines go straight to standard output (file descriptor 1), unbuffered: `demo run > file` shows its
/// progress as it goes, not when the run ends (C's stdout is block-buffered when it is not a terminal).
/// Source: issue 13, finding 16.
private func print(_ text: String = "") {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}

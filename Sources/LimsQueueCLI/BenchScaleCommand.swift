import ArgumentParser
import AsyncHTTPClient
import Foundation
import HummingbirdBcrypt
import LabActions
import LIMSCore
import LimsAPI
import Logging
import NIOCore
import QueueCore
import SetupWorkbook
import Storage

/// `limsqueue bench scale`: the cost of each LIMS action as the lab grows.
///
/// For each size it builds a lab (SENAITE's demo workbook, reference samples, N received demo samples), starts
/// `limsqueue serve` on it as a separate process (so its start time and memory are its own), and drives it over
/// HTTP as the demo users: listings, one sample, sample creation, result entry, a queued worksheet submit, a
/// worksheet from the Hardness template, linking a contact to a user, and the web lists. It prints the median
/// and p95 of each figure per size and the growth exponent between the smallest and the largest size
/// (log(t_large / t_small) / log(n_large / n_small); 0 means flat, 1 linear).
struct BenchScaleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scale",
        abstract: "Each LIMS action's cost on labs of several sizes, and its growth exponent."
    )

    @Option(name: .long, help: "Lab sizes in samples, comma-separated.") var samples: String = "2000,20000,200000"
    @Option(name: .long, help: "Repetitions of each quick action per size.") var repeats: Int = 30
    @Option(name: .long, help: "Repetitions of each queued action (worksheet submit, template, contact link) per size.")
    var queuedRepeats: Int = 3
    @Option(name: .long, help: "SENAITE setup workbook. Default: SENAITE_SETUP_XLSX, else ../shared/data/senaite-setup-test.xlsx.")
    var setup: String?
    @Option(name: .long, help: "PostgreSQL URL of an existing database; each size gets its own database named after it with a suffix. Default: fresh SQLite files.")
    var database: String?
    @Option(name: .long, help: "Directory for the SQLite labs (kept when --keep). Default: a temporary directory.")
    var directory: String?
    @Flag(name: .long, help: "Keep the labs after the run (SQLite files in --directory; PostgreSQL databases lq_scale_<size>_<id>).") var keep = false
    @Flag(name: .long, help: "Reuse a lab of that size kept in --directory by an earlier run instead of building it (SQLite).")
    var reuse = false
    @Option(name: .long, help: "Seconds the contact link's walk is followed to measure its rate (objects re-indexed per second).")
    var walkSeconds: Double = 60

    var sizes: [Int] { samples.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    func validate() throws {
        guard !sizes.isEmpty, sizes.allSatisfy({ (1...2_000_000).contains($0) }) else {
            throw ValidationError("--samples: comma-separated sizes in 1...2000000")
        }
        guard (1...1000).contains(repeats), (1...50).contains(queuedRepeats) else {
            throw ValidationError("--repeats 1...1000, --queued-repeats 1...50")
        }
    }

    func run() async throws {
        LogSetup.bootstrapOnce()
        var logger = Logger(label: "limsqueue.bench")
        logger.logLevel = .error
        var options = try FirstStartOptions.parse([])
        options.setup = setup
        guard let workbook = options.workbookPath else {
            throw CLIError("no setup workbook: pass --setup FILE.xlsx or set SENAITE_SETUP_XLSX")
        }
        let root = directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("limsqueue-bench-scale-\(TaskUID.make().prefix(8))").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { if !keep { try? FileManager.default.removeItem(atPath: root) } }
        let cleanup = BenchInterruptCleanup(logger: logger)
        if !keep { cleanup.remember(directory: root) }
        cleanup.install()
        print("bench scale: \(database == nil ? "SQLite" : "PostgreSQL"), sizes \(sizes.map(String.init).joined(separator: ", ")) samples")
        fflush(nil)
        var results: [(size: Int, figures: ScaleFigures)] = []
        for size in sizes {
            let bench = ScaleBench(size: size, workbook: workbook, root: root, database: database, repeats: repeats,
                                   queuedRepeats: queuedRepeats, reuse: reuse, keep: keep, walkSeconds: walkSeconds, cleanup: cleanup,
                                   logger: logger)
            let figures = try await bench.run()
            results.append((size, figures))
            figures.print(size: size)
        }
        if let first = results.first, let last = results.last, last.size > first.size {
            print("growth exponent \(first.size) -> \(last.size) samples (median; 0 = flat, 1 = linear):")
            for (name, small) in first.figures.rows {
                guard let large = last.figures.rows.first(where: { $0.0 == name })?.1, small.median > 0, large.median > 0 else { continue }
                let exponent = log(large.median / small.median) / log(Double(last.size) / Double(first.size))
                print(String(format: "    %-44@ %6.2f", name as NSString, exponent))
            }
        }
    }
}

/// Median and p95 of one figure (seconds, or MB for memory rows).
struct ScaleFigure: Sendable {
    let median: Double
    let p95: Double
    let unit: String

    init(_ samples: [Double], unit: String = "ms") {
        let sorted = samples.sorted()
        median = TaskKindStatistics.percentile(sorted, 0.5)
        p95 = TaskKindStatistics.percentile(sorted, 0.95)
        self.unit = unit
    }
}

/// The figures of one lab size, in print order.
struct ScaleFigures: Sendable {
    var rows: [(String, ScaleFigure)] = []
    var buildRate = 0.0

    mutating func add(_ name: String, _ samples: [Double], unit: String = "ms") {
        rows.append((name, ScaleFigure(samples, unit: unit)))
    }

    func print(size: Int) {
        Swift.print(buildRate > 0 ? String(format: "  %d samples (demo samples built at %.0f samples/s)", size, buildRate)
                    : "  \(size) samples (the lab of an earlier run, --reuse)")
        defer { fflush(nil) }
        for (name, figure) in rows {
            let scale = figure.unit == "ms" ? 1000.0 : 1.0
            Swift.print(String(format: "    %-44@ median %9.1f %@   p95 %9.1f %@", name as NSString, figure.median * scale,
                               figure.unit as NSString, figure.p95 * scale, figure.unit as NSString))
        }
    }
}

/// One lab size of `bench scale`.
struct ScaleBench: Sendable {
    let size: Int
    let workbook: String
    let root: String
    let database: String?
    let repeats: Int
    let queuedRepeats: Int
    let reuse: Bool
    /// Keep the lab (its PostgreSQL database) after the run.
    let keep: Bool
    let walkSeconds: Double
    /// What an interrupt undoes (the server child, the database).
    let cleanup: BenchInterruptCleanup
    let logger: Logger

    /// What the driver needs from the built lab.
    struct Fixture: Sendable {
        var clientUID = "", contactUID = "", sampleTypePrefix = ""
        /// The name of the client of `contactUID`: its samples are a share of the lab at any size.
        var clientName = ""
        var serviceKeywords: [String] = []
        var templateUID = ""
        var unassigned: [String] = []
        var clientUIDs: [String] = []
    }

    func run() async throws -> ScaleFigures {
        guard let database else { return try await run(url: nil) }
        // One database per size, dropped afterwards unless kept (a 200,000-sample lab holds gigabytes).
        let name = "lq_scale_\(size)_\(TaskUID.make().prefix(6))"
        try await StorageEnvironment.createDatabase(named: name, serverURL: database, logger: logger)
        if !keep { cleanup.remember(database: name, serverURL: database) }
        defer { cleanup.forget(database: name) }
        do {
            let figures = try await run(url: StorageEnvironment.replacingDatabase(in: database, with: name))
            if !keep { try await StorageEnvironment.dropDatabase(named: name, serverURL: database, logger: logger) }
            return figures
        } catch {
            if !keep { try? await StorageEnvironment.dropDatabase(named: name, serverURL: database, logger: logger) }
            throw error
        }
    }

    /// ``run()`` on the lab at `url` (PostgreSQL), else on SQLite in this size's directory.
    func run(url: String?) async throws -> ScaleFigures {
        let dataDir = root + "/lab-\(size)"
        var figures = ScaleFigures()
        let needed = 30 + repeats * 2 + queuedRepeats * 40 + 100
        let kept = reuse && database == nil && FileManager.default.fileExists(atPath: dataDir + "/limsqueue.sqlite")
        let fixture = try await StorageEnvironment.with(dataDir: dataDir, database: url, logger: logger) { environment -> Fixture in
            if kept {
                try await Self.dropWalks(in: environment, logger: logger)
                return try await Self.fixture(environment, unassigned: needed)
            }
            let book = try XLSXWorkbook(contentsOf: URL(fileURLWithPath: workbook))
            _ = try await LabSetup.importWorkbook(book, into: environment, bcryptCost: 10, progress: ProgressBar(enabled: false))
            _ = try await LabSetup.createReferenceSamples(in: environment, validDays: 365)
            var settings = try await environment.store.settings()
            settings.minSeconds = 0
            settings.maxConsumers = 2
            try await environment.store.updateSettings(settings)
            let start = ContinuousClock.now
            _ = try await DemoLab.createSamples(count: size, seed: 7, in: environment, progress: ProgressBar())
            figures.buildRate = Double(size) / LimsBench.seconds(start.duration(to: .now))
            return try await Self.fixture(environment, unassigned: needed)
        }
        let server = try ServeProcess(dataDir: dataDir, database: url)
        let registration = cleanup.remember(server.process)
        defer {
            server.stop()
            cleanup.forget(process: registration)
        }
        let base = try await server.waitUntilReady()
        figures.add("serve: start until answering", [server.startSeconds], unit: "ms")
        figures.add("serve: RSS after start (MB)", [server.residentMB().current], unit: "MB")
        let http = HTTPClient(eventLoopGroupProvider: .singleton,
                              configuration: .init(connectionPool: .init(idleTimeout: .seconds(30))))
        do {
            try await drive(LimsHTTPClient(base: base, http: http), fixture: fixture, server: server, figures: &figures)
            try await http.shutdown()
        } catch {
            try? await http.shutdown()
            throw error
        }
        figures.add("serve: RSS peak (MB)", [server.residentMB().peak], unit: "MB")
        server.stop()
        try await StorageEnvironment.with(dataDir: dataDir, database: url, logger: logger) { environment in
            try await Self.dropWalks(in: environment, logger: logger)
        }
        return figures
    }

    /// Deletes the security walks the contact-link step leaves in the queue (it follows a walk for --walk-seconds,
    /// and a client's whole walk takes far longer on a large lab). Left there, the next `--reuse` run's serve
    /// resumes them beside everything it measures: on a 20,000-sample lab reused three times, the template
    /// answer went from 31 to 68 ms with no change in its own work.
    static func dropWalks(in environment: StorageEnvironment, logger: Logger) async throws {
        let now = Date().timeIntervalSince1970
        var dropped = 0
        for task in try await environment.store.tasks(status: [.queued, .running, .failed], since: nil)
        where task.name == LimsTaskKind.reindexObjectSecurity {
            _ = try? await environment.store.delete(task.taskUID, now: now)
            dropped += 1
        }
        if dropped > 0 { logger.info("bench scale: dropped \(dropped) security walk task(s) left by the contact-link step") }
    }

    /// Reads what the driver needs: a contact and its client, a sample type, services, the Hardness template, and
    /// unassigned analyses of received samples (catalog queries, as the lab manager).
    static func fixture(_ environment: StorageEnvironment, unassigned count: Int) async throws -> Fixture {
        let lab = environment.lab
        guard let manager = try await lab.user(named: "labman1") else { throw CLIError("the demo lab has no labman1") }
        let contacts = try await lab.catalog(CatalogQuery(portalType: .contact, limit: 1), visibleTo: manager).uids
        var fixture = try await lab.read { state, reader -> Fixture in
            try await reader.load(contacts, into: &state)
            var fixture = Fixture()
            guard let contact = contacts.first.flatMap({ state.contacts.peek($0) }) else { throw CLIError("the demo lab has no contact") }
            fixture.contactUID = contact.uid
            fixture.clientUID = contact.clientUID
            fixture.clientName = state.clients.peek(contact.clientUID)?.name ?? ""
            fixture.sampleTypePrefix = state.sampleTypes.values.map(\.prefix).sorted().first ?? ""
            fixture.serviceKeywords = Array(state.analysisServices.values.map(\.keyword).sorted().prefix(3))
            fixture.templateUID = state.worksheetTemplates.values.first { $0.title.lowercased().contains("hardness") }?.uid
                ?? state.worksheetTemplates.values.map(\.uid).sorted().first ?? ""
            return fixture
        }
        fixture.clientUIDs = try await lab.catalog(CatalogQuery(portalType: .client, limit: 1000), visibleTo: manager).uids
        fixture.unassigned = try await lab.catalog(CatalogQuery(portalType: .analysis, reviewStates: ["unassigned"], sortOn: .created,
                                                                descending: true, limit: count), visibleTo: manager).uids
        return fixture
    }

    /// Seconds `body` takes.
    static func time(_ body: () async throws -> Void) async rethrows -> Double {
        let start = ContinuousClock.now
        try await body()
        return LimsBench.seconds(start.duration(to: .now))
    }

    func drive(_ api: LimsHTTPClient, fixture: Fixture, server: ServeProcess, figures: inout ScaleFigures) async throws {
        let manager = ("labman1", "labman1"), analyst = ("analyst1", "analyst1")
        _ = try await api.expect("queue_status", as: manager) // the credential cache is warm from here on
        var pool = fixture.unassigned
        var times: [Double] = []
        var sampleUIDs: [String] = []
        for index in 0..<repeats {
            times.append(try await Self.time {
                let page = try await api.expect("AnalysisRequest?limit=50&page=\(1 + index % 10)", as: manager)
                sampleUIDs += page.items.compactMap { $0["uid"]?.stringValue }
            })
        }
        figures.add("page of 50 samples", times)
        times = []
        for _ in 0..<repeats {
            times.append(try await Self.time {
                _ = try await api.expect("AnalysisRequest?limit=50&review_state=sample_received&sort_on=created&sort_order=descending", as: manager)
            })
        }
        figures.add("page of 50 samples, by state, by date", times)
        times = []
        for index in 0..<repeats {
            let uid = sampleUIDs[(index * 7) % max(1, sampleUIDs.count)]
            times.append(try await Self.time { _ = try await api.expect(uid, as: manager) })
        }
        figures.add("one sample with its analyses", times)
        times = []
        for _ in 0..<repeats {
            times.append(try await Self.time {
                _ = try await api.expect("create", body: .object([
                    "portal_type": "AnalysisRequest", "Client": .string(fixture.clientUID), "Contact": .string(fixture.contactUID),
                    "SampleType": .string(fixture.sampleTypePrefix), "Analyses": .array(fixture.serviceKeywords.map(JSONValue.string)),
                ]), as: manager)
            })
        }
        figures.add("create a sample", times)
        times = []
        for index in 0..<repeats {
            let uid = pool.removeLast()
            times.append(try await Self.time {
                _ = try await api.expect("update", body: .object(["uid": .string(uid), "Result": .string("\(10 + index)")]), as: manager)
            })
        }
        figures.add("enter one result", times)

        // Worksheet submit: 20 analyses assigned and given results first (not timed), then one queued submit.
        var answers: [Double] = [], processed: [Double] = []
        for _ in 0..<queuedRepeats {
            let worksheet = try await api.expect("worksheet/create", body: .object(["analyst": "analyst1"]), as: manager)
            let worksheetUID = worksheet.items.first?["uid"]?.stringValue ?? ""
            let mine = Array(pool.suffix(20))
            pool.removeLast(min(20, pool.count))
            _ = try await api.expect("worksheet/add_analyses", body: .object([
                "worksheet_uid": .string(worksheetUID), "uids": .array(mine.map(JSONValue.string)),
            ]), as: manager)
            try await waitFor(api, worksheetUID, as: manager) { analyses in analyses.count >= mine.count }
            for (index, uid) in mine.enumerated() {
                _ = try await api.expect("update", body: .object(["uid": .string(uid), "Result": .string("\(20 + index)")]), as: analyst)
            }
            let start = ContinuousClock.now
            _ = try await api.expect("workflow_action", body: .object([
                "action": "submit", "uids": .array(mine.map(JSONValue.string)), "context_uid": .string(worksheetUID),
            ]), as: analyst)
            answers.append(LimsBench.seconds(start.duration(to: .now)))
            try await waitFor(api, worksheetUID, as: manager) { analyses in
                analyses.filter { $0["review_state"]?.stringValue == "to_be_verified" }.count >= mine.count
            }
            processed.append(LimsBench.seconds(start.duration(to: .now)))
        }
        figures.add("submit a worksheet's 20 analyses: answer", answers)
        figures.add("submit a worksheet's 20 analyses: processed", processed)

        // Worksheet from the Hardness template (its queued assignment waits senaite.queue's 5 s delay).
        answers = []
        processed = []
        for _ in 0..<queuedRepeats {
            let start = ContinuousClock.now
            let worksheet = try await api.expect("worksheet/create", body: .object([
                "analyst": "analyst1", "template": .string(fixture.templateUID),
            ]), as: manager)
            answers.append(LimsBench.seconds(start.duration(to: .now)))
            let worksheetUID = worksheet.items.first?["uid"]?.stringValue ?? ""
            try await waitUntilNotQueued(api, worksheetUID, as: manager)
            processed.append(LimsBench.seconds(start.duration(to: .now)) - LabActionsDelay.template)
        }
        figures.add("worksheet from template: answer", answers)
        figures.add("worksheet from template: processed (less 5 s delay)", processed)

        // The web lists, signed in with the session cookie.
        let cookie = try await api.sessionCookie(as: manager)
        // The search: one sample's id, a term a few samples match at any size (where `LIKE` read every id).
        let searched = "\(fixture.sampleTypePrefix)-0001".addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        // And a client's name (its samples, found through the client's index rows).
        let clientSearched = fixture.clientName.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        for (name, path) in [("web: worksheets list", "/worksheets"), ("web: samples list", "/samples"),
                             ("web: samples list, search of an id", "/samples?q=\(searched)"),
                             ("web: samples list, search of a client's name", "/samples?q=\(clientSearched)")] {
            times = []
            for _ in 0..<repeats {
                times.append(try await Self.time { try await api.page(path, cookie: cookie) })
            }
            figures.add(name, times)
        }
        // A new contact linked to a new user: the answer, and the walk over its client's subtree followed for
        // --walk-seconds (its total time grows with the client by nature: every object is re-indexed; what must not
        // grow is the answer and the rate).
        let clientUID = fixture.clientUIDs.first ?? fixture.clientUID
        let contact = try await api.expect("create", body: .object([
            "portal_type": "Contact", "Client": .string(clientUID), "Firstname": "Bench", "Surname": "Contact",
        ]), as: manager)
        let contactUID = contact.items.first?["uid"]?.stringValue ?? ""
        let before = try await api.expect("queue_statistics?since=0", as: manager)
        let processedBefore = before.json["kinds"]?.objectValue?[LimsTaskKind.reindexObjectSecurity]?.objectValue?["processed"]?.intValue ?? 0
        let start = ContinuousClock.now
        _ = try await api.expect("contact/link_user", body: .object([
            "contact_uid": .string(contactUID), "username": .string("bench\(TaskUID.make().prefix(8))"), "password": "bench-password",
        ]), as: manager)
        figures.add("link a contact to a user: answer", [LimsBench.seconds(start.duration(to: .now))])
        // What the answer spends hashing the new login's password, by design (a fixed cost, whatever the lab).
        var hashes: [Double] = []
        for _ in 0..<3 {
            let begin = ContinuousClock.now
            _ = Bcrypt.hash("bench-password", cost: LimsAPIController.bcryptCost)
            hashes.append(LimsBench.seconds(begin.duration(to: .now)))
        }
        figures.add("link: of which bcrypt of the new password", hashes)
        var walked = 0, elapsed = 0.0, polls = 0
        while elapsed < walkSeconds {
            try await Task.sleep(for: .milliseconds(500))
            // A `since` of its own per poll (all history either way): the per-name figures of one `since` are
            // shared for 2 seconds, and this counts chunks as they end.
            polls += 1
            let stats = try await api.expect("queue_statistics?since=-\(polls)", as: manager)
            let processed = stats.json["kinds"]?.objectValue?[LimsTaskKind.reindexObjectSecurity]?.objectValue?["processed"]?.intValue ?? 0
            walked = processed - processedBefore
            elapsed = LimsBench.seconds(start.duration(to: .now))
            if (stats.json["queued"]?.intValue ?? 0) + (stats.json["running"]?.intValue ?? 0) == 0 { break }
        }
        figures.add("link: walk, ms per chunk of 10 objects", [elapsed / Double(max(1, walked))])
    }

    /// Polls the worksheet until `done` holds for its analyses (at most 600 s).
    func waitFor(_ api: LimsHTTPClient, _ worksheetUID: String, as user: (String, String),
                 _ done: ([[String: JSONValue]]) -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(600)
        while ContinuousClock.now < deadline {
            let answer = try await api.expect(worksheetUID, as: user)
            let analyses = answer.items.first?["Analyses"]?.arrayValue?.compactMap(\.objectValue) ?? []
            if done(analyses) { return }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw CLIError("worksheet \(worksheetUID) did not reach the expected state within 600 s")
    }

    /// Polls the worksheet until it is no longer queued (its assignment processed; at most 600 s).
    func waitUntilNotQueued(_ api: LimsHTTPClient, _ worksheetUID: String, as user: (String, String)) async throws {
        let deadline = ContinuousClock.now + .seconds(600)
        try await Task.sleep(for: .milliseconds(100))
        while ContinuousClock.now < deadline {
            let answer = try await api.expect(worksheetUID, as: user)
            if answer.items.first?["is_queued"] == .bool(false) { return }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw CLIError("worksheet \(worksheetUID) stayed queued for 600 s")
    }
}

/// senaite.queue's delay before a template's queued assignment may run (seconds).
enum LabActionsDelay {
    static let template = 5.0
}

/// `limsqueue serve` on a built lab as a child process: start time, memory (VmRSS and VmHWM from /proc).
final class ServeProcess: @unchecked Sendable {
    let process = Process()
    let port: Int
    let started = ContinuousClock.now
    var startSeconds = 0.0

    /// Starts `serve` on a free loopback port with 2 consumers.
    init(dataDir: String, database: String?) throws {
        port = try Self.freePort()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0].hasPrefix("/")
            ? CommandLine.arguments[0] : FileManager.default.currentDirectoryPath + "/" + CommandLine.arguments[0])
        var arguments = ["serve", "--data-dir", dataDir, "--host", "127.0.0.1", "--port", String(port), "--consumers", "2",
                         "--no-setup", "--log-level", "error"]
        if let database { arguments += ["--database", database] }
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        try process.run()
    }

    /// Polls the server until it answers (at most 120 s); records the start time. - Returns: its base URL.
    func waitUntilReady() async throws -> String {
        let base = "http://127.0.0.1:\(port)"
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            guard process.isRunning else {
                try? await http.shutdown()
                throw CLIError("serve exited with status \(process.terminationStatus)")
            }
            if let response = try? await http.execute(HTTPClientRequest(url: base + "/login"), timeout: .seconds(1)),
               response.status.code < 500 {
                startSeconds = LimsBench.seconds(started.duration(to: .now))
                try? await http.shutdown()
                return base
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        try? await http.shutdown()
        throw CLIError("serve did not answer within 120 s")
    }

    /// Resident memory now and at its peak, in MB (Linux /proc).
    func residentMB() -> (current: Double, peak: Double) {
        guard let text = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8) else { return (0, 0) }
        func field(_ name: String) -> Double {
            guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return 0 }
            return (Double(line.split(separator: " ").dropFirst().first ?? "") ?? 0) / 1024
        }
        return (field("VmRSS"), field("VmHWM"))
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw CLIError("no socket") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw CLIError("no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

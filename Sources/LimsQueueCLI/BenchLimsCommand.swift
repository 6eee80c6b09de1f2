import ArgumentParser
import AsyncHTTPClient
import Foundation
import HummingbirdBcrypt
import LIMSCore
import Logging
import QueueCore
import Storage
import Synchronization

/// `limsqueue bench lims`: LIMS actions through the HTTP API with the all-in-one server on a fresh lab.
///
/// (a) "assign N analyses to one worksheet": time to the answer and until all are on the worksheet, with the queue
///     on (chunk 20, no booking) and off (synchronous).
/// (b) U concurrent users doing worksheet actions (results and submit on shared worksheets), queue on and off:
///     conflicts surfaced to users (HTTP 409), failed requests (other non-2xx or transport errors), request latency
///     p50/p95, and the time until everything is submitted.
struct BenchLimsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lims",
        abstract: "Worksheet assignment and concurrent worksheet actions through the HTTP API, queue on and off."
    )

    @Option(name: .long, help: "Analyses assigned to one worksheet in (a).") var analyses: Int = 500
    @Option(name: .long, help: "Concurrent users in (b).") var users: Int = 50
    @Option(name: .long, help: "Analyses each user submits in (b).") var perUser: Int = 4
    @Option(name: .long, help: "Users sharing one worksheet in (b).") var perWorksheet: Int = 5
    @Option(name: .long, help: "Consumers of the server.") var consumers: Int = 4
    @Option(name: .long, help: "PostgreSQL URL of an existing database; each run creates and drops its own database named after it with a suffix. Default: fresh SQLite files.")
    var database: String?

    func validate() throws {
        guard (1...5_000).contains(analyses) else { throw ValidationError("--analyses must be in 1...5000") }
        guard (1...500).contains(users), (1...50).contains(perUser), (1...50).contains(perWorksheet) else {
            throw ValidationError("--users 1...500, --per-user 1...50, --per-worksheet 1...50")
        }
        guard (1...64).contains(consumers) else { throw ValidationError("--consumers must be in 1...64") }
    }

    func run() async throws {
        LogSetup.bootstrapOnce()
        var logger = Logger(label: "limsqueue.bench")
        logger.logLevel = .error
        // Ctrl-C or SIGTERM mid-run drops the database of the lab in use and removes its files (as `bench scale`).
        let cleanup = BenchInterruptCleanup(logger: logger)
        cleanup.install()
        let bench = LimsBench(consumers: consumers, database: database, logger: logger, cleanup: cleanup)
        print("(a) assign \(analyses) analyses to one worksheet (\(database == nil ? "SQLite" : "PostgreSQL"), \(consumers) consumers)")
        for queued in [true, false] {
            let figures = try await bench.assign(analyses, queued: queued)
            print(String(format: "    queue %@: answer %.1f ms, all assigned after %.2f s (%d tasks)",
                         queued ? "on  (chunk 20, min_seconds 0)" : "off (synchronous)          ",
                         figures.answer * 1000, figures.done, figures.tasks))
        }
        print("(b) \(users) concurrent users, \(perUser) results + 1 submit each, \(perWorksheet) users per worksheet")
        for queued in [true, false] {
            let figures = try await bench.concurrentUsers(users, perUser: perUser, perWorksheet: perWorksheet, queued: queued)
            print(String(format: "    queue %@: %d requests, conflicts to users %d, failed %d, latency p50 %.1f ms p95 %.1f ms, all submitted after %.2f s (%d/%d)",
                         queued ? "on " : "off", figures.requests, figures.conflicts, figures.failed, figures.p50 * 1000, figures.p95 * 1000,
                         figures.done, figures.submitted, users * perUser))
            print(String(format: "      results p50 %.1f ms p95 %.1f ms; worksheet submits p50 %.1f ms p95 %.1f ms",
                         figures.results.p50 * 1000, figures.results.p95 * 1000, figures.submits.p50 * 1000, figures.submits.p95 * 1000))
            if !figures.taskFailures.isEmpty {
                print("      task attempts not done: \(figures.taskFailures.count); first: \(figures.taskFailures.prefix(3).joined(separator: " | "))")
            }
        }
    }
}

/// The benchmark's lab and measurements.
struct LimsBench: Sendable {
    let consumers: Int
    let database: String?
    let logger: Logger
    /// What an interrupt undoes: the lab's database and directory while they exist.
    var cleanup: BenchInterruptCleanup? = nil

    /// A fresh lab (temporary SQLite file or a new PostgreSQL database) with `samples` received samples of one
    /// service, a lab manager `labman` and `analysts` analysts `analyst-<n>` (password = user name, bcrypt cost 4),
    /// served by the all-in-one server while `body` runs.
    func withLab<T: Sendable>(samples: Int, analysts: Int, chunkSize: Int,
                              _ body: @Sendable (LimsHTTPClient, StorageEnvironment) async throws -> T) async throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("limsqueue-bench-lims-\(TaskUID.make().prefix(8))").path
        cleanup?.remember(directory: directory)
        defer {
            try? FileManager.default.removeItem(atPath: directory)
            cleanup?.forget(directory: directory)
        }
        guard let database else { return try await withLab(samples: samples, analysts: analysts, chunkSize: chunkSize,
                                                             directory: directory, url: nil, body) }
        // A database of its own per lab, dropped afterwards, also when the run fails (each run left its four behind
        // until a tryout counted 500 of them on the server).
        let name = "lq_bench_\(TaskUID.make().prefix(10))"
        try await StorageEnvironment.createDatabase(named: name, serverURL: database, logger: logger)
        cleanup?.remember(database: name, serverURL: database)
        defer { cleanup?.forget(database: name) }
        do {
            let result = try await withLab(samples: samples, analysts: analysts, chunkSize: chunkSize, directory: directory,
                                           url: StorageEnvironment.replacingDatabase(in: database, with: name), body)
            try await StorageEnvironment.dropDatabase(named: name, serverURL: database, logger: logger)
            return result
        } catch {
            try? await StorageEnvironment.dropDatabase(named: name, serverURL: database, logger: logger)
            throw error
        }
    }

    /// ``withLab(samples:analysts:chunkSize:_:)`` on the SQLite files in `directory` or the database at `url`.
    private func withLab<T: Sendable>(samples: Int, analysts: Int, chunkSize: Int, directory: String, url: String?,
                                      _ body: @Sendable (LimsHTTPClient, StorageEnvironment) async throws -> T) async throws -> T {
        try await StorageEnvironment.with(dataDir: directory, database: url, logger: logger) { environment in
            var settings = try await environment.store.settings()
            settings.chunkSize = chunkSize
            settings.minSeconds = 0
            settings.maxConsumers = max(settings.maxConsumers, consumers)
            try await environment.store.updateSettings(settings)
            let hash = Bcrypt.hash("labman", cost: 4)
            let analystHashes = (0..<analysts).map { Bcrypt.hash("analyst-\($0)", cost: 4) }
            let now = SystemWallClock().now(), uids = TimeOrderedUIDGenerator()
            try await environment.lab.perform(wholeLab: { state in
                let client = state.createClient(name: "Bench client", clientID: "BC", uids: uids, now: now)
                let contact = try state.createContact(in: client.uid, firstname: "Bench", surname: "Contact", uids: uids, now: now)
                let type = try state.createSampleType(title: "Water", prefix: "W", uids: uids, now: now)
                let service = try state.createAnalysisService(title: "Copper", keyword: "Cu", sortKey: 1, uids: uids, now: now)
                let manager = try state.createUser(userid: "labman", passwordHash: hash, roles: [.labManager], uids: uids, now: now)
                for (index, analystHash) in analystHashes.enumerated() {
                    _ = try state.createUser(userid: "analyst-\(index)", passwordHash: analystHash, roles: [.analyst], uids: uids, now: now)
                }
                let context = TransitionContext(user: manager, uids: uids)
                for index in 0..<samples {
                    let sample = try state.createSample(clientUID: client.uid, contactUID: contact.uid, sampleTypeUID: type.uid,
                                                        serviceUIDs: [service.uid], uids: uids, now: now + Double(index) / 1000)
                    _ = WorkflowEngine.doTransition("receive", on: sample.uid, context: context, state: &state, now: now)
                }
            })
            try await environment.lab.reindexSecurity(try await environment.lab.load().allObjects.map(\.uid))
            let count = consumers
            return try await DemoDay.withLocalServer(environment: environment, logger: logger, consumers: count) { base in
                let http = HTTPClient(eventLoopGroupProvider: .singleton,
                                      configuration: .init(connectionPool: .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 600)))
                do {
                    let result = try await body(LimsHTTPClient(base: base, http: http), environment)
                    try await http.shutdown()
                    return result
                } catch {
                    try? await http.shutdown()
                    throw error
                }
            }
        }
    }

    /// (a): answer time and completion time (seconds) of one `worksheet/add_analyses` with `count` analyses.
    func assign(_ count: Int, queued: Bool) async throws -> (answer: Double, done: Double, tasks: Int) {
        try await withLab(samples: count, analysts: 1, chunkSize: queued ? 20 : 0) { api, environment in
            let manager = ("labman", "labman")
            let worksheet = try await api.expect("worksheet/create", body: .object(["analyst": .string("analyst-0")]), as: manager)
            let worksheetUID = worksheet.items.first?["uid"]?.stringValue ?? ""
            let uids = try await Self.unassigned(environment)
            let start = ContinuousClock.now
            _ = try await api.expect("worksheet/add_analyses", body: .object([
                "worksheet_uid": .string(worksheetUID), "uids": .array(uids.map(JSONValue.string)),
            ]), as: manager)
            let answered = start.duration(to: .now)
            while true {
                let layout = try await environment.lab.read { state, reader in
                    try await reader.load([worksheetUID], into: &state)
                    return state.worksheets.peek(worksheetUID)?.layout.count ?? 0
                }
                if layout >= uids.count { break }
                if start.duration(to: .now) > .seconds(600) { throw CLIError("assignment did not finish within 600 s") }
                try await Task.sleep(for: .milliseconds(5))
            }
            let done = start.duration(to: .now)
            while try await !environment.store.tasks(status: [.queued, .running], since: nil).isEmpty {
                try await Task.sleep(for: .milliseconds(5)) // the last done report lands just after the last change
            }
            let tasks = try await environment.store.history(since: 0, limit: 100_000).filter { $0.name == "task_assign_analyses" }.count
            return (Self.seconds(answered), Self.seconds(done), tasks)
        }
    }

    /// Figures of (b).
    struct UserFigures: Sendable {
        var requests = 0, conflicts = 0, failed = 0, submitted = 0
        var p50 = 0.0, p95 = 0.0, done = 0.0
        /// p50 and p95 (seconds) of the result entries alone and of the worksheet submits alone.
        var results = (p50: 0.0, p95: 0.0), submits = (p50: 0.0, p95: 0.0)
        /// Task attempts that failed or were retried, with their messages.
        var taskFailures: [String] = []
    }

    /// (b): `users` analysts at once; each enters `perUser` results on a worksheet shared by `perWorksheet` users
    /// and submits them from the worksheet (queued when `queued`).
    func concurrentUsers(_ users: Int, perUser: Int, perWorksheet: Int, queued: Bool) async throws -> UserFigures {
        try await withLab(samples: users * perUser, analysts: users, chunkSize: queued ? 10 : 0) { api, environment in
            let manager = ("labman", "labman")
            // Worksheets built synchronously by the manager before the clock starts.
            var settings = try await environment.store.settings()
            let chunk = settings.chunkSize
            settings.chunkSize = 0
            try await environment.store.updateSettings(settings)
            let pool = try await Self.unassigned(environment).sorted()
            var plan: [(user: Int, worksheet: String, uids: [String])] = []
            var worksheetUID = ""
            for user in 0..<users {
                if user % perWorksheet == 0 {
                    let created = try await api.expect("worksheet/create", body: .object(["analyst": .string("analyst-\(user)")]), as: manager)
                    worksheetUID = created.items.first?["uid"]?.stringValue ?? ""
                }
                let mine = Array(pool[(user * perUser)..<((user + 1) * perUser)])
                _ = try await api.expect("worksheet/add_analyses", body: .object([
                    "worksheet_uid": .string(worksheetUID), "uids": .array(mine.map(JSONValue.string)),
                ]), as: manager)
                plan.append((user, worksheetUID, mine))
            }
            settings.chunkSize = chunk
            try await environment.store.updateSettings(settings)

            let tally = Tally()
            let start = ContinuousClock.now
            let entries = plan
            await withTaskGroup(of: Void.self) { group in
                for entry in entries {
                    group.addTask {
                        let me = ("analyst-\(entry.user)", "analyst-\(entry.user)")
                        func send(_ path: String, _ body: JSONValue) async {
                            let begin = ContinuousClock.now
                            let status = (try? await api.call(path, body: body, as: me).status) ?? 0
                            let elapsed = Self.seconds(begin.duration(to: .now))
                            tally.latencies.withLock { $0.append(elapsed) }
                            if path == "update" {
                                tally.results.withLock { $0.append(elapsed) }
                            } else {
                                tally.submits.withLock { $0.append(elapsed) }
                            }
                            tally.counts.withLock { value in
                                value.requests += 1
                                if status == 409 { value.conflicts += 1 } else if !(200..<300).contains(status) { value.failed += 1 }
                            }
                        }
                        for (index, uid) in entry.uids.enumerated() {
                            await send("update", .object(["uid": .string(uid), "Result": .string("\(10 + index)")]))
                        }
                        await send("workflow_action", .object([
                            "action": .string("submit"), "uids": .array(entry.uids.map(JSONValue.string)), "context_uid": .string(entry.worksheet),
                        ]))
                    }
                }
            }
            let all = Set(plan.flatMap(\.uids))
            var submitted = 0
            // Waits for the queue to run dry, then reads the analyses once: reading all of them every 10 ms took a
            // good part of the CPU the consumers were being measured on.
            while start.duration(to: .now) < .seconds(600) {
                if try await !environment.store.hasActiveTasks() { break }
                try await Task.sleep(for: .milliseconds(10))
            }
            // The last unit of work commits before its done report, so this read sees everything it did.
            submitted = try await Self.count(all, in: "to_be_verified", environment)
            var figures = UserFigures()
            figures.done = Self.seconds(start.duration(to: .now))
            let sorted = tally.latencies.withLock { $0 }
            figures.p50 = TaskKindStatistics.percentile(sorted, 0.5)
            figures.p95 = TaskKindStatistics.percentile(sorted, 0.95)
            let results = tally.results.withLock { $0 }, submits = tally.submits.withLock { $0 }
            figures.results = (TaskKindStatistics.percentile(results, 0.5), TaskKindStatistics.percentile(results, 0.95))
            figures.submits = (TaskKindStatistics.percentile(submits, 0.5), TaskKindStatistics.percentile(submits, 0.95))
            let totals = tally.counts.withLock { $0 }
            figures.requests = totals.requests
            figures.conflicts = totals.conflicts
            figures.failed = totals.failed
            figures.submitted = submitted
            figures.taskFailures = try await environment.store.history(since: 0, limit: 100_000)
                .filter { $0.outcome != .done }.map { "\($0.name) \($0.outcome.rawValue): \($0.errorMessage ?? "")" }
            return figures
        }
    }

    /// Request latencies (seconds) and answer counts of (b), shared by the users' tasks.
    final class Tally: Sendable {
        let latencies = Mutex<[Double]>([])
        let results = Mutex<[Double]>([])
        let submits = Mutex<[Double]>([])
        let counts = Mutex<(requests: Int, conflicts: Int, failed: Int)>((0, 0, 0))
    }

    /// Uids of the lab's unassigned routine analyses (catalog query, as the lab manager).
    static func unassigned(_ environment: StorageEnvironment) async throws -> [String] {
        guard let manager = try await environment.lab.user(named: "labman") else { throw CLIError("no labman") }
        return try await environment.lab.catalog(CatalogQuery(portalType: .analysis, reviewStates: ["unassigned"], limit: 100_000),
                                                 visibleTo: manager).uids
    }

    /// How many of `uids` are in `reviewState` (a working set of them).
    static func count(_ uids: Set<String>, in reviewState: String, _ environment: StorageEnvironment) async throws -> Int {
        let list = Array(uids)
        return try await environment.lab.read { state, reader in
            try await reader.load(list, into: &state)
            return list.filter { state.analyses.peek($0)?.reviewState == reviewState }.count
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

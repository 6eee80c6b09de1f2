import ArgumentParser
import AsyncHTTPClient
import Consumer
import Foundation
import Logging
import QueueAuth
import QueueCore
import QueueServer
import ServiceLifecycle
import Storage
import Synchronization

/// `limsqueue bench ...`: benchmarks that print figures (never timed tests).
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks that print figures.",
        subcommands: [BenchQueueCommand.self, BenchStoreCommand.self, BenchLimsCommand.self, BenchScaleCommand.self]
    )
}

/// `limsqueue bench queue`: end-to-end no-op tasks over HTTP with in-process consumers on a fresh database.
struct BenchQueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "End-to-end no-op tasks/s over HTTP and pickup latency (add -> handler start).",
        discussion: """
            Phase 1 (idle pickup): tasks are added one at a time, 10 ms apart, to idle consumers; pickup latency is \
            the time from sending `add` to the handler's start. Phase 2 (throughput): --tasks tasks are added in \
            batches of 500 while the consumers drain them; tasks/s = tasks / (first add -> last done). Phase 3 \
            (pickup under load): 4 producers add tasks one at a time, back to back, while the consumers run them; \
            pickup as in phase 1. Consumers take one task per pop (senaite.queue's protocol) or, with --batched, \
            claim up to --concurrency tasks per request and report completions in batches. --matrix runs 1, 4 and \
            16 consumers, one task per pop and batched, each on a fresh database, and prints a table.
            """
    )

    @Option(name: .long, help: "Tasks of the throughput phase.") var tasks: Int = 20_000
    @Option(name: .long, help: "PostgreSQL URL of a database to benchmark instead of a fresh SQLite file: a database of its own (its queue tables are emptied first; one that holds a lab's tasks or history is refused). Its settings are put back afterwards.") var database: String?
    @Option(name: .long, help: "Consumers.") var consumers: Int = 4
    @Flag(name: .long, help: "Batched consumers: each claims up to --concurrency tasks per request and reports in batches.") var batched = false
    @Option(name: .long, help: "Tasks each batched consumer runs at once. Default: 64 / consumers, at most 16.") var concurrency: Int?
    @Flag(name: .long, help: "Run 1, 4 and 16 consumers, one task per pop and batched, and print a table.") var matrix = false
    @Option(name: .long, help: "Tasks of each latency phase (idle, and under load).") var latencyTasks: Int = 200
    @Option(name: .long, help: "A new data directory (kept afterwards); default: a fresh temporary one (deleted afterwards). A directory that already holds a database is refused: the bench would run its no-op tasks beside that lab's.") var dataDir: String?
    @Option(name: .long, help: "Commit durability: normal or full (see `limsqueue serve --help`). Default: normal on SQLite, the server's setting on PostgreSQL.")
    var durability: String?

    func validate() throws {
        guard tasks > 0, tasks <= 1_000_000 else { throw ValidationError("--tasks must be in 1...1000000") }
        guard (1...64).contains(consumers) else { throw ValidationError("--consumers must be in 1...64") }
        if let durability, Durability(rawValue: durability) == nil { throw ValidationError("--durability must be normal or full") }
        guard (0...10_000).contains(latencyTasks) else { throw ValidationError("--latency-tasks must be in 0...10000") }
        if let concurrency, !(1...64).contains(concurrency) { throw ValidationError("--concurrency must be in 1...64") }
        if let dataDir, FileManager.default.fileExists(atPath: StorageEnvironment.sqlitePath(dataDir: dataDir)) {
            throw ValidationError("--data-dir \(dataDir) already holds a database: bench queue needs a new directory (its consumers "
                                  + "run only no-op tasks and would fail that queue's tasks)")
        }
    }

    /// What one run measured.
    struct Figures {
        var tasksPerSecond: Double
        var idleP50: Double, idleP99: Double
        var loadP50: Double, loadP99: Double
    }

    /// Tasks each batched consumer runs at once: --concurrency, else 64 / consumers (the `max_consumers` range
    /// ends at 64), at most 16.
    func concurrency(for consumers: Int) -> Int {
        concurrency ?? max(1, min(16, 64 / consumers))
    }

    func run() async throws {
        LogSetup.bootstrapOnce()
        var logger = Logger(label: "limsqueue.bench")
        logger.logLevel = .warning
        let temporary = dataDir == nil
        let directory = dataDir ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("limsqueue-bench-\(TaskUID.make().prefix(8))").path
        defer { if temporary { try? FileManager.default.removeItem(atPath: directory) } }
        // Ctrl-C or SIGTERM: the settings put back, the no-op tasks of a PostgreSQL run removed, the temporary
        // directory too (a tryout's interrupted run left max_consumers raised for good and 34,000 tasks queued).
        let cleanup = BenchInterruptCleanup(logger: logger)
        cleanup.install()
        if temporary { cleanup.remember(directory: directory) }
        let level = durability.map { "durability \($0)" } ?? (database == nil ? "durability normal (default)" : "the server's synchronous_commit")
        print("limsqueue bench queue: \(database == nil ? "SQLite (WAL)" : "PostgreSQL"), \(level), machine: \(ProcessInfo.processInfo.activeProcessorCount) cores")
        guard matrix else {
            _ = try await measure(consumers: consumers, batched: batched, directory: directory, cleanup: cleanup, logger: logger, verbose: true)
            return
        }
        var rows: [String] = []
        for count in [1, 4, 16] {
            for batch in [false, true] {
                let run = "\(directory)/run-\(count)-\(batch ? "batched" : "single")"
                let figures = try await measure(consumers: count, batched: batch, directory: run, cleanup: cleanup, logger: logger, verbose: false)
                let mode = batch ? "batched x\(concurrency(for: count))" : "one per pop"
                rows.append(String(format: "| %2d | %-12@ | %8.0f | %6.2f / %6.2f | %6.2f / %6.2f |", count, mode as NSString,
                                   figures.tasksPerSecond, figures.idleP50, figures.idleP99, figures.loadP50, figures.loadP99))
                print(rows.last!)
            }
        }
        print("\n| consumers | mode | tasks/s | pickup idle p50 / p99 ms | pickup under load p50 / p99 ms |")
        print("|---|---|---|---|---|")
        for row in rows { print(row) }
    }

    /// One run on a fresh database (SQLite: a data directory of its own; PostgreSQL: the queue tables emptied).
    func measure(consumers: Int, batched: Bool, directory: String, cleanup: BenchInterruptCleanup, logger: Logger,
                 verbose: Bool) async throws -> Figures {
        let perConsumer = batched ? concurrency(for: consumers) : 1
        return try await StorageEnvironment.with(dataDir: directory, database: database,
                                                 durability: durability.flatMap(Durability.init(rawValue:)), logger: logger) { environment in
            let store = environment.store
            if database != nil {
                // Emptying a lab's queue and history, and running no-op consumers beside its servers (which fail its
                // tasks), would lose its work: only a database the bench has to itself is emptied. A lab with an
                // empty queue and history still has its objects (a tryout's bench ran beside such a lab's server).
                let labEmpty = try await environment.lab.isEmptyLab()
                if try await store.holdsTasks(otherThan: [Self.taskName]) || !labEmpty {
                    throw CLIError("--database \(environment.path) holds a lab's objects, tasks or history: bench queue "
                                   + "empties the queue tables of the database it runs on and its consumers fail every task but "
                                   + "its own; give it a database of its own")
                }
                try await store.deleteAllTasks()
            }
            var settings = try await store.settings()
            let original = settings.maxConsumers
            settings.maxConsumers = min(64, max(original, consumers * perConsumer))
            let raised = settings.maxConsumers
            try await store.updateSettings(settings)
            let undo = cleanup.remember { [database] in
                try? await Self.restoreMaxConsumers(store, original: original, raised: raised)
                if database != nil { try? await store.deleteAllTasks() }
            }
            defer { cleanup.forget(undo: undo) }
            let outcome: Result<Figures, any Error>
            do {
                outcome = .success(try await runPhases(consumers: consumers, batched: batched, perConsumer: perConsumer,
                                                       settings: settings, environment: environment, logger: logger, verbose: verbose))
            } catch {
                outcome = .failure(error)
            }
            try await Self.restoreMaxConsumers(store, original: original, raised: raised)
            return try outcome.get()
        }
    }

    /// Puts `max_consumers` back to `original` after a run raised it to `raised`; leaves it (and every other
    /// setting) alone when someone changed it meanwhile (a tryout's `settings set history_days 30` during a run
    /// was undone by a restore of every setting).
    static func restoreMaxConsumers(_ store: SQLQueueStore, original: Int, raised: Int) async throws {
        guard original != raised else { return }
        var current = try await store.settings()
        guard current.maxConsumers == raised else { return }
        current.maxConsumers = original
        try await store.updateSettings(current)
    }

    /// The name of the bench's no-op tasks.
    static let taskName = "noop"

    /// One run's consumers, server and phases on an emptied database with `settings` in force.
    private func runPhases(consumers: Int, batched: Bool, perConsumer: Int, settings: QueueSettings, environment: StorageEnvironment,
                           logger: Logger, verbose: Bool) async throws -> Figures {
        let starts = Mutex<[String: Double]>([:])
        let clock = SystemWallClock()
        let controller = try await QueueNode.controller(environment: environment, clock: clock)
        let key = try await environment.authKey()
        let ready = ReadySignal()
        let pool = ConsumerPool(count: consumers, key: key, ready: ready, handlers: QueueNode.handlers(), logger: logger,
                                batched: batched, concurrency: perConsumer,
                                onStart: { task in
                                    let now = clock.now()
                                    starts.withLock { $0[task.taskUID] = now }
                                })
        let app = QueueServerApp.build(controller: controller, host: "127.0.0.1", port: 0, logger: logger,
                                       onRunning: { ready.set($0) })
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: app), .init(service: pool)]
        if let listener = try ChangeListener.make(for: environment, logger: logger) { services.insert(.init(service: listener), at: 0) }
        if let checkpoints = CheckpointService.make(for: environment, clock: clock, logger: logger) { services.insert(.init(service: checkpoints), at: 0) }
        let group = ServiceGroup(configuration: .init(services: services, logger: logger))
        return try await withThrowingTaskGroup(of: Figures?.self) { tasks in
            tasks.addTask { try await group.run(); return nil }
            guard let port = await ready.wait() else { return Figures(tasksPerSecond: 0, idleP50: 0, idleP99: 0, loadP50: 0, loadP99: 0) }
            // The client configuration `limsqueue consumer` and `serve --consumers` use, with a connection per
            // consumer and producer.
            let http = HTTPClient(eventLoopGroupProvider: .singleton,
                                  configuration: HTTPQueueConnection.clientConfiguration(connectionsPerHost: consumers * 2 + 8))
            defer { Task { try? await http.shutdown() } }
            let client = try HTTPQueueConnection(serverURL: "http://127.0.0.1:\(port)", authKey: key,
                                                 userID: QueueAuthToken.consumerUserID, http: http)
            let mode = batched ? "batched, \(perConsumer) tasks per consumer" : "one task per pop"
            print("\(consumers) consumer(s), \(mode), max_consumers \(settings.maxConsumers), HTTP on 127.0.0.1:\(port)")
            func latencies(_ added: [String: Double]) -> [Double] {
                starts.withLock { starts in added.compactMap { uid, at in starts[uid].map { ($0 - at) * 1000 } } }.sorted()
            }

            // Phase 1: pickup latency on idle consumers.
            var idle: [Double] = []
            if latencyTasks > 0 {
                try await Task.sleep(nanoseconds: 300_000_000)
                var added: [String: Double] = [:]
                for index in 0..<latencyTasks {
                    let task = Self.benchTask(index, phase: "latency")
                    added[task.taskUID] = clock.now()
                    _ = try await client.add([task])
                    try await Task.sleep(nanoseconds: 10_000_000)
                }
                try await drain(environment.store)
                idle = latencies(added)
                print(String(format: "pickup latency, idle (add -> handler start, %d tasks one by one, 10 ms apart): p50 %.2f ms, p99 %.2f ms, max %.2f ms",
                             idle.count, percentile(idle, 0.5), percentile(idle, 0.99), idle.last ?? 0))
            }

            // Phase 2: throughput.
            let begin = clock.now()
            var batchAdded: [String: Double] = [:]
            var index = 0
            while index < self.tasks {
                let count = min(500, self.tasks - index)
                let batch = (index..<(index + count)).map { Self.benchTask($0, phase: "throughput") }
                let at = clock.now()
                for task in batch { batchAdded[task.taskUID] = at }
                _ = try await client.add(batch)
                index += count
            }
            let addedAt = clock.now()
            try await drain(environment.store)
            // The last done as the store recorded it: exact whatever the drain's polling interval.
            let end = try await environment.store.history(since: begin, limit: 1).first?.finished ?? clock.now()
            let waits = latencies(batchAdded)
            let rate = Double(self.tasks) / (end - begin)
            print(String(format: "throughput: %d no-op tasks end to end in %.2f s = %.0f tasks/s (enqueue in batches of 500 over HTTP took %.2f s)",
                         self.tasks, end - begin, rate, addedAt - begin))
            if verbose {
                print(String(format: "queue wait in the throughput phase (add -> start, includes the backlog): p50 %.0f ms, p99 %.0f ms",
                             percentile(waits, 0.5), percentile(waits, 0.99)))
                let history = try await environment.store.history(since: begin, limit: self.tasks + 10)
                print("history: \(history.filter { $0.outcome == .done }.count) done, \(history.filter { $0.outcome != .done }.count) other outcomes")
            }

            // Phase 3: pickup latency under load (4 producers adding one task at a time, back to back).
            var load: [Double] = []
            if latencyTasks > 0 {
                let producers = 4
                let perProducer = max(1, latencyTasks / producers)
                let added = AddTimes()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for producer in 0..<producers {
                        group.addTask {
                            for index in 0..<perProducer {
                                let task = Self.benchTask(producer * perProducer + index, phase: "load")
                                added.record(task.taskUID, at: clock.now())
                                _ = try await client.add([task])
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                try await drain(environment.store)
                load = latencies(added.all)
                print(String(format: "pickup latency, under load (%d producers adding one task at a time, %d tasks): p50 %.2f ms, p99 %.2f ms, max %.2f ms",
                             producers, load.count, percentile(load, 0.5), percentile(load, 0.99), load.last ?? 0))
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return Figures(tasksPerSecond: rate, idleP50: percentile(idle, 0.5), idleP99: percentile(idle, 0.99),
                           loadP50: percentile(load, 0.5), loadP99: percentile(load, 0.99))
        }
    }

    static func benchTask(_ index: Int, phase: String) -> QueueTask {
        QueueTask(name: Self.taskName, contextUID: TaskUID.make(), contextPath: "/senaite/bench/\(phase)-\(index)",
                  created: SystemWallClock().now(), minSeconds: 0, retries: 0, username: "bench")
    }

    /// Waits until no task is queued or running (checked every 25 ms, by two index seeks: a whole-queue count
    /// here would take a core away from the consumers it measures). On PostgreSQL each check took 0.86 ms of the
    /// server (the status index full of the churned tasks' dead entries): every 5 ms it was a tenth of the
    /// database's work during the throughput phase, whose end is now read from the history instead.
    func drain(_ store: SQLQueueStore) async throws {
        while try await store.hasActiveTasks() {
            try await Task.sleep(nanoseconds: 25_000_000)
        }
    }

    func percentile(_ sorted: [Double], _ p: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.down)))]
    }
}

/// Add times of tasks by uid, shared by concurrent producers.
final class AddTimes: Sendable {
    private let times = Mutex<[String: Double]>([:])

    /// Records that `uid` was sent at `at` (epoch seconds).
    func record(_ uid: String, at: Double) { times.withLock { $0[uid] = at } }

    /// Every recorded add time.
    var all: [String: Double] { times.withLock { $0 } }
}

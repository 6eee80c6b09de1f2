import ArgumentParser
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
        subcommands: [BenchQueueCommand.self, BenchStoreCommand.self, BenchLimsCommand.self]
    )
}

/// `limsqueue bench queue`: end-to-end no-op tasks over HTTP with in-process consumers on a fresh database.
struct BenchQueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "End-to-end no-op tasks/s over HTTP and pickup latency (add -> handler start).",
        discussion: """
            Phase 1 (latency): tasks are added one at a time, 10 ms apart, to idle consumers; pickup latency is the \
            time from sending `add` to the handler's start. Phase 2 (throughput): --tasks tasks are added in batches \
            of 500 while the consumers drain them; tasks/s = tasks / (first add -> last done).
            """
    )

    @Option(name: .long, help: "Tasks of the throughput phase.") var tasks: Int = 20_000
    @Option(name: .long, help: "PostgreSQL URL of an empty database to benchmark instead of a fresh SQLite file.") var database: String?
    @Option(name: .long, help: "Consumers (each runs one task at a time).") var consumers: Int = 4
    @Option(name: .long, help: "Tasks of the latency phase.") var latencyTasks: Int = 200
    @Option(name: .long, help: "Data directory; default: a fresh temporary one (deleted afterwards).") var dataDir: String?

    func validate() throws {
        guard tasks > 0, tasks <= 1_000_000 else { throw ValidationError("--tasks must be in 1...1000000") }
        guard (1...64).contains(consumers) else { throw ValidationError("--consumers must be in 1...64") }
        guard (0...10_000).contains(latencyTasks) else { throw ValidationError("--latency-tasks must be in 0...10000") }
    }

    func run() async throws {
        LogSetup.bootstrapOnce()
        var logger = Logger(label: "limsqueue.bench")
        logger.logLevel = .warning
        let temporary = dataDir == nil
        let directory = dataDir ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("limsqueue-bench-\(TaskUID.make().prefix(8))").path
        defer { if temporary { try? FileManager.default.removeItem(atPath: directory) } }

        let starts = Mutex<[String: Double]>([:])
        let clock = SystemWallClock()
        try await StorageEnvironment.with(dataDir: directory, database: database, logger: logger) { environment in
            var settings = try await environment.store.settings()
            settings.maxConsumers = max(settings.maxConsumers, consumers)
            try await environment.store.updateSettings(settings)
            let controller = try await QueueNode.controller(environment: environment, clock: clock)
            let key = try await environment.authKey()
            let ready = ReadySignal()
            let pool = ConsumerPool(count: consumers, key: key, ready: ready, handlers: QueueNode.handlers(), logger: logger,
                                    onStart: { task in
                                        let now = clock.now()
                                        starts.withLock { $0[task.taskUID] = now }
                                    })
            let app = QueueServerApp.build(controller: controller, host: "127.0.0.1", port: 0, logger: logger,
                                           onRunning: { ready.set($0) })
            var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: app), .init(service: pool)]
            if let listener = try ChangeListener.make(for: environment, logger: logger) { services.insert(.init(service: listener), at: 0) }
            let group = ServiceGroup(configuration: .init(services: services, logger: logger))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                guard let port = await ready.wait() else { return }
                let client = try HTTPQueueConnection(serverURL: "http://127.0.0.1:\(port)", authKey: key, userID: QueueAuthToken.consumerUserID)
                print("limsqueue bench queue: \(database == nil ? "SQLite (WAL)" : "PostgreSQL") at \(environment.path), \(consumers) consumer(s), HTTP on 127.0.0.1:\(port)")
                print("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores")

                // Phase 1: pickup latency on idle consumers.
                var added: [String: Double] = [:]
                if latencyTasks > 0 {
                    try await Task.sleep(nanoseconds: 300_000_000)
                    for index in 0..<latencyTasks {
                        let task = benchTask(index, phase: "latency")
                        added[task.taskUID] = clock.now()
                        _ = try await client.add([task])
                        try await Task.sleep(nanoseconds: 10_000_000)
                    }
                    try await drain(environment.store)
                    let latencies = starts.withLock { starts in
                        added.compactMap { uid, at in starts[uid].map { ($0 - at) * 1000 } }
                    }.sorted()
                    print(String(format: "pickup latency (add -> handler start, %d tasks one by one): p50 %.2f ms, p99 %.2f ms, max %.2f ms",
                                 latencies.count, percentile(latencies, 0.5), percentile(latencies, 0.99), latencies.last ?? 0))
                }

                // Phase 2: throughput.
                let begin = clock.now()
                var batchAdded: [String: Double] = [:]
                var index = 0
                while index < self.tasks {
                    let count = min(500, self.tasks - index)
                    let batch = (index..<(index + count)).map { benchTask($0, phase: "throughput") }
                    let at = clock.now()
                    for task in batch { batchAdded[task.taskUID] = at }
                    _ = try await client.add(batch)
                    index += count
                }
                let addedAt = clock.now()
                try await drain(environment.store)
                let end = clock.now()
                let waits = starts.withLock { starts in
                    batchAdded.compactMap { uid, at in starts[uid].map { ($0 - at) * 1000 } }
                }.sorted()
                print(String(format: "enqueue: %d tasks in batches of 500 over HTTP in %.2f s (%.0f tasks/s, while consumers ran)",
                             self.tasks, addedAt - begin, Double(self.tasks) / max(addedAt - begin, 1e-9)))
                print(String(format: "throughput: %d no-op tasks end to end in %.2f s = %.0f tasks/s (%d consumers)",
                             self.tasks, end - begin, Double(self.tasks) / (end - begin), consumers))
                print(String(format: "queue wait under load (add -> start): p50 %.0f ms, p99 %.0f ms",
                             percentile(waits, 0.5), percentile(waits, 0.99)))
                let history = try await environment.store.history(since: begin, limit: self.tasks + 10)
                print("history: \(history.filter { $0.outcome == .done }.count) done, \(history.filter { $0.outcome != .done }.count) other outcomes")
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
        }
    }

    func benchTask(_ index: Int, phase: String) -> QueueTask {
        QueueTask(name: "noop", contextUID: TaskUID.make(), contextPath: "/senaite/bench/\(phase)-\(index)",
                  created: SystemWallClock().now(), minSeconds: 0, retries: 0, username: "bench")
    }

    /// Waits until no task is queued or running (checked every 5 ms).
    func drain(_ store: SQLQueueStore) async throws {
        while true {
            let counts = try await store.counts()
            if (counts[.queued] ?? 0) + (counts[.running] ?? 0) == 0 { return }
            try await Task.sleep(nanoseconds: 5_000_000)
        }
    }

    func percentile(_ sorted: [Double], _ p: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.down)))]
    }
}

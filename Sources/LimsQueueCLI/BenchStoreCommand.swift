import ArgumentParser
import Foundation
import Logging
import QueueCore
import SQLKit
import Storage

/// `limsqueue bench store`: the store alone (no HTTP): add, then pop + done in one loop. With `--delayed-ahead` or
/// `--blocked-ahead` the loop's tasks queue behind tasks it may not claim (delayed an hour, or of a serialization key
/// a running task holds), which a claim must not walk one by one.
struct BenchStoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Store operations per second without HTTP: batched add, then pop + done by one caller."
    )

    @Option(name: .long, help: "Tasks.") var tasks: Int = 5_000
    @Option(name: .long, help: "PostgreSQL URL of a database of its own to benchmark instead of a fresh SQLite file (one that holds a lab's objects, tasks or history is refused; its queue tables are emptied before and after).") var database: String?

    /// The names of the bench's own tasks (any other in the database is a lab's).
    static let taskNames = ["noop", "noop-delayed", "noop-keyed"]
    @Option(name: .long, help: "Tasks delayed an hour, ahead of the loop's tasks in queue order (priority 0).") var delayedAhead: Int = 0
    @Option(name: .long, help: "Tasks of one name and path key, ahead of the loop's tasks in queue order (priority 0), while a task of that key runs.") var blockedAhead: Int = 0

    func validate() throws {
        guard (1...1_000_000).contains(tasks) else { throw ValidationError("--tasks must be in 1...1000000") }
        guard (0...1_000_000).contains(delayedAhead) else { throw ValidationError("--delayed-ahead must be in 0...1000000") }
        guard (0...1_000_000).contains(blockedAhead) else { throw ValidationError("--blocked-ahead must be in 0...1000000") }
    }

    func run() async throws {
        LogSetup.bootstrapOnce()
        var logger = Logger(label: "limsqueue.bench")
        logger.logLevel = ProcessInfo.processInfo.environment["BENCH_LOG"] == "1" ? .debug : .warning
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("limsqueue-bench-\(TaskUID.make().prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let clock = SystemWallClock()
        if let database {
            print("limsqueue bench store: PostgreSQL \(PostgresURL.redacted(database))")
        } else {
            print("limsqueue bench store: SQLite (WAL) \(StorageEnvironment.sqlitePath(dataDir: directory)) (a fresh file, deleted afterwards)")
        }
        try await StorageEnvironment.with(dataDir: directory, database: database, logger: logger) { environment in
            let store = environment.store
            if database != nil {
                // Its pop + done loop would claim and finish a lab's queued tasks without running them (a tryout's
                // real task was gone after a run): only a database of its own, emptied of its own earlier runs.
                let labEmpty = try await environment.lab.isEmptyLab()
                if try await store.holdsTasks(otherThan: Self.taskNames) || !labEmpty {
                    throw CLIError("--database \(environment.path) holds a lab's objects, tasks or history: bench store "
                                   + "claims and finishes every task it finds; give it a database of its own")
                }
                try await store.deleteAllTasks()
            }
            if let sql = environment.databases.database(logger: logger, on: environment.eventLoopGroup.any()) as? any SQLDatabase {
                let begin = clock.now()
                for _ in 0..<1000 { try await sql.raw("SELECT 1").run() }
                print(String(format: "statement overhead (SELECT 1 through the pool): %.0f us", (clock.now() - begin) * 1000))
                // On one connection held throughout, as the store's single writer runs its transactions.
                try await sql.withSession { session in
                    let held = clock.now()
                    for _ in 0..<1000 { try await session.raw("SELECT 1").run() }
                    print(String(format: "statement overhead (SELECT 1 on one held connection): %.0f us", (clock.now() - held) * 1000))
                }
            }
            let batch = (0..<tasks).map { index in
                QueueTask(name: "noop", contextUID: TaskUID.make(), contextPath: "/senaite/bench/store-\(index)",
                          created: clock.now(), minSeconds: 0, retries: 0, username: "bench")
            }
            var ahead: [QueueTask] = (0..<delayedAhead).map { index in
                QueueTask(name: "noop-delayed", contextUID: TaskUID.make(), contextPath: "/senaite/bench/delayed-\(index)",
                          created: clock.now(), minSeconds: 0, priority: 0, retries: 0, username: "bench", delay: 3600)
            }
            if blockedAhead > 0 {
                // One task of the key runs (another consumer's) while the rest of its key waits ahead of the loop's.
                let key = "/senaite/clients/client-bench/"
                _ = try await store.add([QueueTask(name: "noop-keyed", contextUID: TaskUID.make(), contextPath: key + "S-running",
                                                   created: clock.now(), minSeconds: 0, priority: 0, retries: 0, username: "bench")],
                                        now: clock.now())
                guard try await store.pop(consumerID: "bench-holder", now: clock.now()) != nil else {
                    throw ValidationError("the key's first task could not be claimed: the queue is not empty")
                }
                ahead += (0..<blockedAhead).map { index in
                    QueueTask(name: "noop-keyed", contextUID: TaskUID.make(), contextPath: key + "S-\(index)",
                              created: clock.now(), minSeconds: 0, priority: 0, retries: 0, username: "bench")
                }
            }
            for chunk in stride(from: 0, to: ahead.count, by: 500) {
                _ = try await store.add(Array(ahead[chunk..<min(chunk + 500, ahead.count)]), now: clock.now())
            }
            var start = clock.now()
            for chunk in stride(from: 0, to: tasks, by: 500) {
                _ = try await store.add(Array(batch[chunk..<min(chunk + 500, tasks)]), now: clock.now())
            }
            let addSeconds = clock.now() - start
            start = clock.now()
            var popSeconds = 0.0, doneSeconds = 0.0

            while true {
                let before = clock.now()
                guard let task = try await store.pop(consumerID: "bench-consumer", now: clock.now()) else { break }
                let middle = clock.now()
                _ = try await store.done(task.taskUID, lease: LeaseClaim(consumerID: task.consumerID, leaseToken: task.leaseToken), now: clock.now())
                popSeconds += middle - before
                doneSeconds += clock.now() - middle

            }
            let loopSeconds = clock.now() - start
            if !ahead.isEmpty { print("ahead of them: \(delayedAhead) delayed tasks, \(blockedAhead) blocked tasks") }
            print(String(format: "add: %d tasks in batches of up to 500: %.0f tasks/s", tasks, Double(tasks) / addSeconds))
            print(String(format: "pop + done: %.0f tasks/s (pop %.0f us, done %.0f us per task)", Double(tasks) / loopSeconds,
                         popSeconds / Double(tasks) * 1e6, doneSeconds / Double(tasks) * 1e6))
            if database != nil { try await store.deleteAllTasks() }
        }
    }
}

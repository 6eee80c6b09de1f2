import AsyncHTTPClient
import Consumer
import FluentKit
import Foundation
import Logging
import NIOCore
import QueueAuth
import QueueCore
import QueueTesting
import SQLKit
import Storage
import TestSupport
import Testing
@testable import LimsQueueCLI

/// Separate `limsqueue` processes on one database (SQLite data directory, or with
/// `LIMSQUEUE_TEST_BACKEND=postgres` a PostgreSQL database per test): kills, restarts, serialization across
/// consumers, several server instances with consumer failover.
@Suite("Processes", .serialized)
struct ProcessTests {
    let key = Fernet.generateKey()
    var environment: [String: String] { ["LIMSQUEUE_AUTH_KEY": key, "LOG_LEVEL": "info"] }

    func openStore(_ directory: String) async throws -> StorageEnvironment {
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        return try await StorageEnvironment.open(dataDir: directory, database: try await TestDatabase.url(forDataDir: directory),
                                                 logger: logger, migrate: false)
    }

    func sleepTask(context: String, seconds: Double, retrySeconds: Double? = nil, maxSeconds: Int = 120,
                   name: String = "sleep") -> QueueTask {
        var extra: [String: JSONValue] = ["seconds": .double(seconds)]
        if let retrySeconds { extra["retry_seconds"] = .double(retrySeconds) }
        return QueueTask(name: name, contextUID: TaskUID.make(), contextPath: "/senaite/worksheets/\(context)",
                         created: Date().timeIntervalSince1970, minSeconds: 0, maxSeconds: maxSeconds, retries: 3,
                         username: "labman", extra: extra)
    }

    /// `limsqueue_consumers` from the server's `GET /metrics`: consumers running a task, or polling it lately.
    func consumersSeen(_ url: String) async throws -> Int? {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url + "/metrics"), timeout: .seconds(10))
        let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        let line = text.split(separator: "\n").first { $0.hasPrefix("limsqueue_consumers ") }
        return line.flatMap { Double($0.split(separator: " ").last ?? "") }.map { Int($0) }
    }

    /// A `limsqueue server` process on the test's database (port picked at start) and its URL once it listens.
    func startServer(in directory: String, name: String) async throws -> (process: LimsProcess, url: String) {
        let server = try LimsProcess(["server", "--port", "0"] + (try await TestDatabase.arguments(dataDir: directory)),
                                     logDirectory: directory, name: name, environment: environment)
        return (server, "http://127.0.0.1:\(try await server.listeningPort())")
    }

    /// Moves a running task's claim `seconds` into the past, as if that much time had passed since it was claimed:
    /// the separate server process reads the system clock, so its lease is expired by moving the claim instead of
    /// waiting for it.
    func moveClaimBack(_ uid: String, by seconds: Double, in environment: StorageEnvironment) async throws {
        let sql = try #require(environment.store.database as? any SQLDatabase)
        try await sql.raw("""
            UPDATE queue_tasks SET started = started - \(bind: seconds), lease_expires = lease_expires - \(bind: seconds)
            WHERE task_uid = \(bind: uid) AND status = 'running'
            """).run()
    }

    @Test("a consumer killed with SIGKILL mid-task: the task runs again once its lease has passed, not before; nothing is lost")
    func consumerKilled() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let (server, url) = try await startServer(in: directory.path, name: "server")
        let store = try await openStore(directory.path)
        let first = try LimsProcess(["consumer", "--server", url, "--consumer-id", "consumer-a"],
                                    logDirectory: directory.path, name: "consumer-a", environment: environment)
        let client = try HTTPQueueConnection(serverURL: url, authKey: key, userID: QueueAuthToken.consumerUserID)
        // Lease 30 s (the smallest max_seconds); the first run would sleep 2 minutes, a retry 0.1 s.
        let task = sleepTask(context: "WS-1", seconds: 120, retrySeconds: 0.1, maxSeconds: 30)
        _ = try await client.add([task])
        try await eventually(30, "consumer-a runs the task") {
            let stored = try await store.store.task(task.taskUID)
            return stored?.status == .running && stored?.consumerID == "consumer-a"
        }
        first.kill(SIGKILL)
        _ = await first.waitForExit()
        let held = try #require(try await store.store.task(task.taskUID))
        let second = try LimsProcess(["consumer", "--server", url, "--consumer-id", "consumer-b"],
                                     logDirectory: directory.path, name: "consumer-b", environment: environment)
        // consumer-b asks for work (the server has seen both consumers) and does not get the task: its lease holds.
        try await eventually(30, "consumer-b polls the server") { try await consumersSeen(url) == 2 }
        let stillHeld = try #require(try await store.store.task(task.taskUID))
        #expect(stillHeld.status == .running && stillHeld.consumerID == "consumer-a" && stillHeld.leaseToken == held.leaseToken)
        // The lease (30 s) passes without waiting for it: the claim moves 31 s back.
        try await moveClaimBack(task.taskUID, by: 31, in: store)
        try await eventually(45, "the task is done by consumer-b") { try await store.store.task(task.taskUID) == nil }
        let attempts = try await store.store.history(since: 0, limit: 10).filter { $0.taskUID == task.taskUID }.reversed()
        #expect(attempts.map(\.outcome) == [.timeout, .done])
        #expect(attempts.map(\.consumerID) == ["consumer-a", "consumer-b"])
        second.kill(SIGTERM)
        server.kill(SIGTERM)
        #expect(await second.waitForExit() == 0)
        #expect(await server.waitForExit() == 0)
        await store.close()
    }

    @Test("SIGTERM ends the long-polls a server without consumers holds: they answer no task and the process exits, not waiting out their wait")
    func sigtermEndsLongPolls() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let (server, url) = try await startServer(in: directory.path, name: "server")
        let client = try HTTPQueueConnection(serverURL: url, authKey: key)
        let polls = (1...3).map { index in
            Task { try await client.post("pop", .object(["consumer_id": .string("consumer-\(index)"), "wait": .int(25)]), timeout: 60) }
        }
        try await Task.sleep(nanoseconds: 1_000_000_000)
        let stopped = Date()
        server.kill(SIGTERM)
        for poll in polls { #expect(try await poll.value.isEmpty) }
        #expect(await server.waitForExit() == 0)
        // Before the fix each long-poll answered at the end of its 25 s wait, and the process exited after them.
        #expect(Date().timeIntervalSince(stopped) < 15)
    }

    @Test("tasks survive a server killed with SIGKILL and a graceful restart")
    func serverRestart() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var (server, url) = try await startServer(in: directory.path, name: "server-1")
        var client = try HTTPQueueConnection(serverURL: url, authKey: key)
        let tasks = (1...3).map { sleepTask(context: "WS-\($0)", seconds: 0) }
        _ = try await client.add(tasks)
        server.kill(SIGKILL)
        _ = await server.waitForExit()
        (server, url) = try await startServer(in: directory.path, name: "server-2")
        client = try HTTPQueueConnection(serverURL: url, authKey: key)
        let listed = try await client.post("tasks", .object([:]))
        #expect(Set(listed["items"]?.arrayValue?.compactMap { $0.objectValue?["task_uid"]?.stringValue } ?? []) == Set(tasks.map(\.taskUID)))
        server.kill(SIGTERM)
        #expect(await server.waitForExit() == 0)
    }

    @Test("two consumer processes never run two tasks of one name on one context at once; every task runs once")
    func serialization() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let (server, url) = try await startServer(in: directory.path, name: "server")
        let consumers = try (1...2).map { index in
            try LimsProcess(["consumer", "--server", url, "--consumer-id", "consumer-\(index)"],
                            logDirectory: directory.path, name: "consumer-\(index)", environment: environment)
        }
        let client = try HTTPQueueConnection(serverURL: url, authKey: key, userID: QueueAuthToken.consumerUserID)
        var tasks: [QueueTask] = []
        for round in 0..<6 {
            for context in ["WS-1", "WS-2"] {
                tasks.append(sleepTask(context: context, seconds: 0.05 + 0.01 * Double(round % 3)))
                tasks.append(sleepTask(context: context, seconds: 0, name: "noop"))
            }
        }
        _ = try await client.add(tasks)
        let store = try await openStore(directory.path)
        try await eventually(60, "all tasks done") {
            try await store.store.tasks(status: [.queued, .running, .failed], since: nil).isEmpty
        }
        let history = try await store.store.history(since: 0, limit: 1000)
        #expect(history.filter { $0.outcome == .done }.count == tasks.count)
        #expect(Set(history.map(\.taskUID)) == Set(tasks.map(\.taskUID)))
        #expect(Set(history.compactMap(\.consumerID)) == ["consumer-1", "consumer-2"])
        let byKey = Dictionary(grouping: history) { "\($0.name)|\($0.contextPath)" }
        for (key, runs) in byKey {
            let sorted = runs.sorted { ($0.started ?? 0) < ($1.started ?? 0) }
            for (earlier, later) in zip(sorted, sorted.dropFirst()) {
                #expect((later.started ?? 0) >= earlier.finished, "overlap on \(key)")
            }
        }
        for consumer in consumers { consumer.kill(SIGTERM) }
        server.kill(SIGTERM)
        for consumer in consumers { #expect(await consumer.waitForExit() == 0) }
        #expect(await server.waitForExit() == 0)
        await store.close()
    }

    @Test("two servers on one database, a consumer given both: SIGKILL the one it uses mid-run, every task still ends done")
    func serverFailover() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        // One after the other: the first start migrates the database.
        var servers: [LimsProcess] = []
        var urls: [String] = []
        for index in 1...2 {
            let (server, url) = try await startServer(in: directory.path, name: "server-\(index)")
            servers.append(server)
            urls.append(url)
        }
        let consumer = try LimsProcess(["consumer", "--server", urls[0], "--server", urls[1], "--consumer-id", "consumer-f"],
                                       logDirectory: directory.path, name: "consumer", environment: environment)
        let store = try await openStore(directory.path)
        let client = try HTTPQueueConnection(serverURL: urls[1], authKey: key, userID: QueueAuthToken.consumerUserID)
        var tasks: [QueueTask] = []
        for index in 0..<30 {
            tasks.append(sleepTask(context: "WS-\(index % 5)", seconds: 0.1))
        }
        _ = try await client.add(tasks)
        try await eventually(60, "some tasks done through the first server") {
            try await store.store.history(since: 0, limit: 100).filter { $0.outcome == .done }.count >= 5
        }
        servers[0].kill(SIGKILL)
        _ = await servers[0].waitForExit()
        try await eventually(90, "every task done through the second server") {
            try await store.store.tasks(status: [.queued, .running, .failed], since: nil).isEmpty
        }
        let history = try await store.store.history(since: 0, limit: 1000)
        let done = history.filter { $0.outcome == .done }
        #expect(Set(done.map(\.taskUID)) == Set(tasks.map(\.taskUID)), "every task ends done")
        #expect(done.count == tasks.count, "no task done twice")
        try await consumer.waitForLog("queue server failover")
        consumer.kill(SIGTERM)
        servers[1].kill(SIGTERM)
        #expect(await consumer.waitForExit() == 0)
        #expect(await servers[1].waitForExit() == 0)
        await store.close()
    }

    @Test("SIGTERM: a consumer claims nothing more and releases a task that outlives the grace period")
    func gracefulRelease() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let (server, url) = try await startServer(in: directory.path, name: "server")
        let consumer = try LimsProcess(["consumer", "--server", url, "--consumer-id", "consumer-t", "--shutdown-grace", "0.5",
                                        "--log-level", "debug"],
                                       logDirectory: directory.path, name: "consumer", environment: environment)
        let client = try HTTPQueueConnection(serverURL: url, authKey: key, userID: QueueAuthToken.consumerUserID)
        let store = try await openStore(directory.path)
        let task = sleepTask(context: "WS-1", seconds: 60)
        _ = try await client.add([task])
        try await eventually(30, "the consumer runs the task") { try await store.store.task(task.taskUID)?.status == .running }
        // Running in the database is not yet running in the consumer: the pop's answer may still be on its way, and a
        // SIGTERM then ends the long-poll (the task stays leased until its lease ends; seen under load).
        _ = try await consumer.waitForLog("task started")
        consumer.kill(SIGTERM)
        #expect(await consumer.waitForExit(seconds: 15) == 0)
        let released = try #require(try await store.store.task(task.taskUID))
        #expect(released.status == .queued && released.retries == 3 && released.consumerID == nil)
        #expect(try await store.store.history(since: 0, limit: 5).map(\.outcome) == [.interrupted])
        server.kill(SIGTERM)
        #expect(await server.waitForExit() == 0)
        await store.close()
    }
}

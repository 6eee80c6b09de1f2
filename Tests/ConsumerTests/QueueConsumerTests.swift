import Consumer
import Foundation
import Logging
import QueueCore
import QueueTesting
import ServiceLifecycleTestKit
import Synchronization
import TestSupport
import Testing

/// A queue connection in memory: pops answer the tasks given (after `failingPops` transport errors), an empty
/// long-poll waits out its `wait` on the manual clock, and every report is recorded.
final class RecordingConnection: QueueConnection {
    struct TransportError: Error {}

    struct State {
        var queue: [QueueTask] = []
        var failingPops = 0
        /// Answered by a pop that found the queue empty, once its wait has passed (work arriving while it waits).
        var arrivingDuringWait: QueueTask?
        var pops = 0
        var reports: [String] = []
        /// When set, every release fails with a transport error after this many seconds of the clock (a server
        /// that is gone: connection attempts until the request's timeout).
        var failingReleaseSeconds: Double?
        var releaseAttempts = 0
        /// Dones (plain or with a pop) answered with this server error first, that many times.
        var failingDones: (count: Int, error: QueueServerError)?
        /// A waiting pop answers when its wait has passed even if it was cancelled meanwhile (an HTTP answer that
        /// was already on its way when the consumer gave up the request).
        var popAnswersDespiteCancellation = false
    }

    let state: Mutex<State>
    let clock: ManualClock

    init(clock: ManualClock, tasks: [QueueTask] = [], failingPops: Int = 0) {
        self.clock = clock
        self.state = Mutex(State(queue: tasks, failingPops: failingPops))
    }

    var pops: Int { state.withLock { $0.pops } }
    var reports: [String] { state.withLock { $0.reports } }

    func pop(consumerID: String, wait: Double) async throws -> QueueTask? {
        let answer = try state.withLock { state -> QueueTask? in
            state.pops += 1
            if state.failingPops > 0 {
                state.failingPops -= 1
                throw TransportError()
            }
            return state.queue.isEmpty ? nil : state.queue.removeFirst()
        }
        if answer == nil, wait > 0 {
            if state.withLock({ $0.popAnswersDespiteCancellation }) {
                let clock = self.clock
                try await Task { try await clock.sleep(for: .seconds(wait)) }.value
            } else {
                try await clock.sleep(for: .seconds(wait))
            }
            return state.withLock { state in
                defer { state.arrivingDuringWait = nil }
                return state.arrivingDuringWait
            }
        }
        return answer
    }

    func pop(consumerID: String, max: Int, wait: Double) async throws -> [QueueTask] {
        let answer = state.withLock { state -> [QueueTask] in
            state.pops += 1
            let taken = Array(state.queue.prefix(max))
            state.queue.removeFirst(taken.count)
            return taken
        }
        if answer.isEmpty, wait > 0 { try await clock.sleep(for: .seconds(wait)) }
        return answer
    }

    func record(_ what: String, _ task: QueueTask, message: String? = nil) {
        state.withLock { $0.reports.append("\(what) \(task.taskUID)" + (message.map { ": \($0)" } ?? "")) }
    }

    /// Throws the configured server error while ``State/failingDones`` has some left.
    func refuseDone() throws {
        try state.withLock { state in
            guard let failing = state.failingDones, failing.count > 0 else { return }
            state.failingDones = (failing.count - 1, failing.error)
            throw failing.error
        }
    }

    func done(_ task: QueueTask) async throws {
        try refuseDone()
        record("done", task)
    }
    func doneAndPop(_ task: QueueTask, consumerID: String, wait: Double) async throws -> QueueTask? {
        try refuseDone()
        record("done", task)
        return nil
    }
    func fail(_ task: QueueTask, message: String) async throws { record("fail", task, message: message) }
    func timeout(_ task: QueueTask) async throws { record("timeout", task) }
    func release(_ task: QueueTask) async throws {
        if let seconds = state.withLock({ state -> Double? in
            if state.failingReleaseSeconds != nil { state.releaseAttempts += 1 }
            return state.failingReleaseSeconds
        }) {
            try await clock.sleep(for: .seconds(seconds))
            throw TransportError()
        }
        record("release", task)
    }
    func add(_ tasks: [QueueTask]) async throws -> [String: String] { [:] }
}

/// Succeeds at once.
struct InstantHandler: TaskHandler {
    var name: String { "instant" }
    func process(_ task: QueueTask, context: TaskContext) async throws {}
}

/// A database error whose description hides its cause, as PostgresNIO's `PSQLError` does.
struct OpaqueStorageError: StorageFailure, CustomStringConvertible {
    var storageCondition: StorageCondition? { .unavailable }
    var storageMessage: String { "the database system is shutting down" }
    var description: String { "Generic description to prevent accidental leakage of sensitive data" }
}

/// Fails with an ``OpaqueStorageError``.
struct StorageFailingHandler: TaskHandler {
    var name: String { "storage_failing" }
    func process(_ task: QueueTask, context: TaskContext) async throws { throw OpaqueStorageError() }
}

/// Runs for an hour of the manual clock (longer than any deadline of these tests).
struct HourLongHandler: TaskHandler {
    let clock: ManualClock
    var name: String { "hour_long" }
    func process(_ task: QueueTask, context: TaskContext) async throws {
        try await clock.sleep(for: .seconds(3600))
    }
}

/// The consumer's waits in virtual time (issue 12, item 6): the `min_seconds` booking, a handler's deadline and
/// the backoff after failed pops all run on an injected ``QueueTesting/ManualClock``; each ends exactly when the
/// clock passes it, not before, and no test sleeps them out.
@Suite("Consumer in virtual time")
struct QueueConsumerTests {
    static var quiet: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }

    func consumer(_ connection: RecordingConnection, handlers: [any TaskHandler], clock: ManualClock) -> QueueConsumer {
        QueueConsumer(connection: connection, handlers: HandlerRegistry(handlers),
                      configuration: .init(consumerID: "consumer-virtual", popWaitSeconds: 5, retryDelaySeconds: 0.5),
                      logger: Self.quiet, clock: clock)
    }

    func task(_ name: String, minSeconds: Int = 0, maxSeconds: Int = 120, clock: ManualClock) -> QueueTask {
        QueueTask(name: name, contextUID: TaskFactory.uid(for: "WS-1"), contextPath: "/senaite/worksheets/WS-1",
                  created: clock.now(), minSeconds: minSeconds, maxSeconds: maxSeconds, username: "analyst1")
    }

    @Test("after a success the consumer books min_seconds: done is reported when the clock passes the booking, not before")
    func bookingEndsExactlyAtMinSeconds() async throws {
        let clock = ManualClock()
        let connection = RecordingConnection(clock: clock)
        let consumer = consumer(connection, handlers: [InstantHandler()], clock: clock)
        let task = task("instant", minSeconds: 3, clock: clock)
        let start = clock.now()
        let processing = Task { await consumer.process(task) }
        try await clock.waitForSleeper(until: start + 3)
        clock.advance(by: 2.5)
        // The booking still sleeps (it resumes only when the clock reaches its instant) and nothing was reported.
        #expect(clock.sleepers == 1 && clock.nextWakeUp == start + 3)
        #expect(connection.reports.isEmpty)
        clock.advance(by: 0.5)
        _ = await processing.value
        #expect(connection.reports == ["done \(task.taskUID)"])
        #expect(clock.now() - start == 3)
    }

    /// A consumer whose idle long-poll will answer `late`, a task claimed while it waited.
    func consumerWithLateTask() -> (clock: ManualClock, connection: RecordingConnection, consumer: QueueConsumer, late: QueueTask) {
        let clock = ManualClock()
        let connection = RecordingConnection(clock: clock)
        let late = task("instant", clock: clock)
        connection.state.withLock {
            $0.arrivingDuringWait = late
            $0.popAnswersDespiteCancellation = true
        }
        return (clock, connection, consumer(connection, handlers: [InstantHandler()], clock: clock), late)
    }

    @Test("a batched consumer that just ran its tasks stops at once on SIGTERM: it reports them without waiting, then long-polls a pop the stop ends")
    func batchedStopAfterWork() async throws {
        let clock = ManualClock()
        let done = task("instant", clock: clock)
        let connection = RecordingConnection(clock: clock, tasks: [done])
        let consumer = QueueConsumer(connection: connection, handlers: HandlerRegistry([InstantHandler()]),
                                     configuration: .init(consumerID: "consumer-batched", batched: true, concurrency: 4), clock: clock)
        let start = clock.now()
        try await testGracefulShutdown { shutdown in
            async let running: Void = consumer.run()
            try await clock.waitForSleepers(1) // the long-poll after the report
            shutdown.triggerGracefulShutdown()
            try await running
        }
        #expect(clock.now() == start && connection.reports == ["done \(done.taskUID)"], "\(connection.reports)")
    }

    @Test("a consumer backing off after failed pops (server unreachable) stops at once on SIGTERM; the clock never moves",
          arguments: [false, true])
    func backoffStopIsImmediate(batched: Bool) async throws {
        let clock = ManualClock()
        let connection = RecordingConnection(clock: clock, failingPops: 1_000)
        let consumer = QueueConsumer(connection: connection, handlers: HandlerRegistry([InstantHandler()]),
                                     configuration: .init(consumerID: "consumer-backoff", batched: batched), clock: clock)
        let start = clock.now()
        try await testGracefulShutdown { shutdown in
            async let running: Void = consumer.run()
            try await clock.waitForSleepers(1) // the backoff after the first failed pop
            shutdown.triggerGracefulShutdown()
            try await running
        }
        #expect(clock.now() == start && connection.pops == 1)
    }

    @Test("an idle consumer stops at once on SIGTERM: its long-poll is cancelled (the clock never moves), nothing is claimed or reported",
          arguments: [false, true])
    func idleStopIsImmediate(batched: Bool) async throws {
        let clock = ManualClock()
        let connection = RecordingConnection(clock: clock)
        let logs = CapturingLogHandlerBox()
        let logger = Logger(label: "test") { CapturingLogHandler(box: logs, label: $0) }
        let consumer = QueueConsumer(connection: connection, handlers: HandlerRegistry([InstantHandler()]),
                                     configuration: .init(consumerID: "consumer-idle", batched: batched), logger: logger, clock: clock)
        let start = clock.now()
        try await testGracefulShutdown { shutdown in
            async let running: Void = consumer.run()
            try await clock.waitForSleepers(1) // the long-poll waits
            shutdown.triggerGracefulShutdown()
            try await running
        }
        #expect(clock.now() == start, "stopped without waiting out the long-poll")
        #expect(connection.pops == 1 && connection.reports.isEmpty)
        #expect(!logs.text.contains("cannot pop"), "\(logs.text)")
    }

    @Test("a task the long-poll answers after SIGTERM is released at once, never run")
    func noTaskRunAfterShutdown() async throws {
        let (clock, connection, consumer, late) = consumerWithLateTask()
        try await testGracefulShutdown { shutdown in
            async let running: Void = consumer.run()
            try await clock.waitForSleepers(1) // the long-poll waits
            shutdown.triggerGracefulShutdown()
            clock.advance(by: 5) // ... and answers with a task claimed meanwhile
            try await running
        }
        #expect(connection.reports == ["release \(late.taskUID)"])
    }

    @Test("while stopping, a report to a server that cannot be reached is given up after the shutdown grace, not retried 8 times (was 130 s)")
    func unreachableReportWhileStopping() async throws {
        let (clock, connection, consumer, _) = consumerWithLateTask()
        connection.state.withLock { $0.failingReleaseSeconds = 5 }
        let start = clock.now()
        try await testGracefulShutdown { shutdown in
            let running = Task { try await consumer.run() }
            try await clock.waitForSleepers(1) // the long-poll waits
            shutdown.triggerGracefulShutdown()
            await clock.advancingSleepers(within: 600) { _ = try? await running.value }
        }
        let attempts = connection.state.withLock { $0.releaseAttempts }
        let elapsed = clock.now() - start
        // 5 s of long-poll, then attempts of 5 s each until the 20 s grace has passed: 4 attempts, not 8 (45 s more).
        #expect(attempts == 4, "\(attempts) attempts")
        #expect(elapsed <= 5 + 20 + 5, "\(elapsed) s")
        #expect(connection.reports.isEmpty)
    }

    @Test("a done the server refuses with a 5xx (a full disk's 507) is logged at its first failure, retried, and logged again once sent")
    func refusedReportIsLogged() async throws {
        let (connection, task, lines) = await reportLines(failingDones: 2, QueueServerError(status: 507, message: "Insufficient Storage - the database's disk is full"))
        #expect(connection.reports == ["done \(task.taskUID)"])
        #expect(lines.count == 2)
        #expect(lines.first?.hasPrefix("warning test: report failed, retrying ") == true && lines.first?.contains("disk is full") == true)
        #expect(lines.last?.hasPrefix("info test: report sent ") == true)
    }

    @Test("a done refused as lease lost (409) is logged once, not retried, with a hint at a shared consumer id")
    func leaseLostHint() async throws {
        let (connection, _, lines) = await reportLines(failingDones: 1, QueueServerError(status: 409, message: "Lease lost: task claimed by another consumer"))
        #expect(connection.reports.isEmpty)
        #expect(lines.count == 1)
        #expect(lines.first?.hasPrefix("warning test: report refused ") == true && lines.first?.contains("Lease lost") == true)
        #expect(lines.first?.contains("each consumer needs an id of its own") == true, "\(lines)")
    }

    /// Processes one instant task on a consumer whose first `count` dones the server answers with `error`; returns the
    /// connection, the task and the consumer's log lines about reports.
    func reportLines(failingDones count: Int, _ error: QueueServerError) async -> (RecordingConnection, QueueTask, [String]) {
        let clock = ManualClock()
        let connection = RecordingConnection(clock: clock)
        connection.state.withLock { $0.failingDones = (count, error) }
        let logs = CapturingLogHandlerBox()
        let logger = Logger(label: "test") { CapturingLogHandler(box: logs, label: $0) }
        let consumer = QueueConsumer(connection: connection, handlers: HandlerRegistry([InstantHandler()]),
                                     configuration: .init(consumerID: "consumer-virtual"), logger: logger, clock: clock)
        let task = task("instant", clock: clock)
        await clock.advancingSleepers(within: 1) { _ = await consumer.process(task) }
        return (connection, task, logs.lines.withLock { $0 }.filter { $0.contains(" test: report") })
    }

    @Test("a handler's database error is reported with the database's message, not the driver's opaque description")
    func storageFailureMessage() async throws {
        let clock = ManualClock()
        let connection = RecordingConnection(clock: clock)
        let task = task("storage_failing", minSeconds: 0, clock: clock)
        _ = await consumer(connection, handlers: [StorageFailingHandler()], clock: clock).process(task)
        #expect(connection.reports == ["fail \(task.taskUID): OpaqueStorageError: the database system is shutting down"])
    }

    @Test("no booking without min_seconds: done is reported at once, the clock never moved")
    func noBookingWithoutMinSeconds() async throws {
        let clock = ManualClock()
        let connection = RecordingConnection(clock: clock)
        let task = task("instant", minSeconds: 0, clock: clock)
        _ = await consumer(connection, handlers: [InstantHandler()], clock: clock).process(task)
        #expect(connection.reports == ["done \(task.taskUID)"])
        #expect(clock.sleepers == 0)
    }

    @Test("a handler still running at max_seconds is timed out exactly then, not before")
    func deadlineAtMaxSeconds() async throws {
        let clock = ManualClock()
        let connection = RecordingConnection(clock: clock)
        let consumer = consumer(connection, handlers: [HourLongHandler(clock: clock)], clock: clock)
        let task = task("hour_long", minSeconds: 3, maxSeconds: 60, clock: clock)
        let start = clock.now()
        let processing = Task { await consumer.process(task) }
        try await clock.waitForSleeper(until: start + 60)
        clock.advance(by: 59.5)
        #expect(connection.reports.isEmpty)
        try await clock.waitForSleeper(until: start + 60)
        clock.advance(by: 0.5)
        _ = await processing.value
        // Timed out: reported as such, and no min_seconds booking after a failure.
        #expect(connection.reports == ["timeout \(task.taskUID)"])
        #expect(clock.sleepers == 0)
    }

    @Test("batched: a completion waits for the report timer, reported when the clock passes the report delay, not before")
    func batchReportTimer() async throws {
        let clock = ManualClock()
        let quick = task("instant", clock: clock), long = task("hour_long", clock: clock)
        let connection = RecordingConnection(clock: clock, tasks: [quick, long])
        let consumer = QueueConsumer(connection: connection, handlers: HandlerRegistry([InstantHandler(), HourLongHandler(clock: clock)]),
                                     configuration: .init(consumerID: "consumer-batched", popWaitSeconds: 5, batched: true,
                                                          concurrency: 2, reportDelaySeconds: 1),
                                     logger: Self.quiet, clock: clock)
        let start = clock.now()
        let running = Task { try await consumer.run() }
        // The quick task ended while the long one runs: its done waits for the report delay (1 s of the clock).
        try await clock.waitForSleeper(until: start + 1)
        clock.advance(by: 0.5)
        #expect(connection.reports.isEmpty)
        clock.advance(by: 0.5)
        try await eventuallyReported(connection, ["done \(quick.taskUID)"])
        running.cancel()
        _ = try? await running.value
    }

    /// Waits (real time, yielding; at most 10 s) until the connection recorded exactly `expected`.
    func eventuallyReported(_ connection: RecordingConnection, _ expected: [String]) async throws {
        let real = ContinuousClock(), deadline = real.now + .seconds(10)
        while connection.reports != expected, real.now < deadline { try await Task.sleep(for: .milliseconds(1)) }
        #expect(connection.reports == expected)
    }

    @Test("failed pops back off 0.5, 1, 2, 4 s on the clock: no pop before each backoff has passed")
    func backoffAfterFailedPops() async throws {
        let clock = ManualClock()
        let connection = RecordingConnection(clock: clock, failingPops: 4)
        let consumer = consumer(connection, handlers: [InstantHandler()], clock: clock)
        let running = Task { try await consumer.run() }
        var elapsed = 0.0
        for (index, backoff) in [0.5, 1, 2, 4].enumerated() {
            try await clock.waitForSleeper(until: clock.now() + backoff)
            #expect(connection.pops == index + 1)
            clock.advance(by: backoff / 2)
            #expect(connection.pops == index + 1, "no pop before the backoff of \(backoff) s passed")
            clock.advance(by: backoff / 2)
            elapsed += backoff
        }
        // The fifth pop succeeds and long-polls (popWaitSeconds) on the clock.
        try await clock.waitForSleeper(until: clock.now() + 5)
        #expect(connection.pops == 5 && elapsed == 7.5)
        running.cancel()
        _ = try? await running.value
    }
}

/// What a consumer logs when a pop fails.
@Suite("Consumer: a refused auth key is logged with where the key came from")
struct PopFailureLogTests {
    @Test("a 401 names the key's source and what to do; other failures carry the error alone")
    func refusedKeyHint() {
        let refused = QueueConsumer.popFailureMetadata(QueueServerError(status: 401, message: "Invalid or expired X-Queue-Auth-Token"),
                                                       keySource: "the database at ./var/limsqueue.sqlite")
        let hint = refused["lims.hint"].map { "\($0)" } ?? ""
        #expect(hint.contains("the database at ./var/limsqueue.sqlite") && hint.contains("LIMSQUEUE_AUTH_KEY"))
        #expect(refused["lims.error"] != nil)
        let unreachable = QueueConsumer.popFailureMetadata(QueueServerError(status: 503, message: "No queue server reachable"),
                                                           keySource: "env LIMSQUEUE_AUTH_KEY")
        #expect(unreachable["lims.hint"] == nil)
    }
}

import Foundation
import Logging
import QueueCore
import ServiceLifecycle

/// A consumer: long-polls `pop`, runs the handler registered for the task's name as a `Service`, and reports
/// done, fail or timeout with its claim (reference 1.6, with the differences of reference 4):
/// - the handler's deadline is the task's own `max_seconds` (grown by earlier timeouts);
/// - after a success the consumer waits until `min_seconds` have passed since the start;
/// - on graceful shutdown (SIGTERM) it claims nothing more, lets the running task finish within
///   ``Configuration/shutdownGraceSeconds``, then cancels it and releases it back to the queue.
public struct QueueConsumer: Service {
    /// Tunables of a consumer.
    public struct Configuration: Sendable {
        /// This consumer's id, at least 4 characters; sent with every pop and report.
        public var consumerID: String
        /// Seconds each pop waits for a task. Default: 5 seconds.
        public var popWaitSeconds: Double
        /// Seconds a running task may still take after SIGTERM before it is cancelled and released.
        /// Default: 20 seconds.
        public var shutdownGraceSeconds: Double
        /// Seconds to wait after a failed pop (server unreachable) before trying again; doubles up to 10 s.
        /// Default: 0.5 seconds.
        public var retryDelaySeconds: Double

        /// Batched mode (LimsQueue's extension of the protocol): claim up to ``concurrency`` tasks per request into
        /// a local buffer, run up to ``concurrency`` at once, report completions in batches and refill the buffer
        /// in the same round trip. Off: one task at a time with plain senaite.queue pops (and done-and-pop).
        /// Default: false.
        public var batched: Bool
        /// Tasks run at once in batched mode; also the size of the local buffer. Default: 1 task.
        public var concurrency: Int
        /// Batched mode: completions are reported once ``concurrency`` of them wait, or this many seconds after the
        /// first of them finished, whichever comes first (sooner when nothing else runs). Default: 0.002 seconds.
        public var reportDelaySeconds: Double
        /// Where the auth key came from, in an operator's words (e.g. "env LIMSQUEUE_AUTH_KEY"): named in the log
        /// when the server refuses the key (401), so the operator knows which key to fix. Default: nil.
        public var keySource: String?

        public init(consumerID: String, popWaitSeconds: Double = 5, shutdownGraceSeconds: Double = 20,
                    retryDelaySeconds: Double = 0.5, batched: Bool = false, concurrency: Int = 1, reportDelaySeconds: Double = 0.002,
                    keySource: String? = nil) {
            self.keySource = keySource
            self.consumerID = consumerID
            self.popWaitSeconds = popWaitSeconds
            self.shutdownGraceSeconds = shutdownGraceSeconds
            self.retryDelaySeconds = retryDelaySeconds
            self.batched = batched
            self.concurrency = max(1, concurrency)
            self.reportDelaySeconds = reportDelaySeconds
        }
    }

    /// The log metadata of a failed pop: the error, and for a refused auth key (401) where this consumer's key came
    /// from and what to do (a tryout's consumer with another key logged a bare 401 every few seconds).
    public static func popFailureMetadata(_ error: any Error, keySource: String?) -> Logger.Metadata {
        var metadata: Logger.Metadata = ["lims.error": .string(String(describing: error))]
        if let refused = error as? QueueServerError, refused.status == 401 {
            metadata["lims.hint"] = .string("the server refused this consumer's auth key (\(keySource ?? "given by the caller")): "
                                            + "use the server's key, which `limsqueue key` prints where the server runs, "
                                            + "in LIMSQUEUE_AUTH_KEY")
        }
        return metadata
    }

    let connection: any QueueConnection
    let handlers: HandlerRegistry
    let configuration: Configuration
    let logger: Logger
    /// Called when a handler starts, with the task (benchmarks measure pickup latency with it).
    let onStart: (@Sendable (QueueTask) -> Void)?
    /// Measures every wait: backoffs, the `min_seconds` booking, a handler's deadline, the shutdown grace, report
    /// retries and the batch report timer.
    let clock: any WallClock
    /// The deadlines of the handlers running now, on one timer.
    let deadlines: TaskDeadlines

    /// - Parameters:
    ///   - connection: the queue server(s) to pop from and report to.
    ///   - handlers: the task handlers by task name.
    ///   - configuration: the consumer's tunables.
    ///   - logger: where the consumer logs. Default: label `limsqueue.consumer`.
    ///   - clock: the clock every wait is measured on. Default: ``QueueCore/SystemWallClock`` (tests pass a manual
    ///     clock, so that no test sleeps out a booking or a backoff).
    ///   - onStart: called when a handler starts, with the task. Default: none.
    public init(connection: any QueueConnection, handlers: HandlerRegistry, configuration: Configuration,
                logger: Logger = Logger(label: "limsqueue.consumer"), clock: any WallClock = SystemWallClock(),
                onStart: (@Sendable (QueueTask) -> Void)? = nil) {
        self.connection = connection
        self.handlers = handlers
        self.configuration = configuration
        self.logger = logger
        self.clock = clock
        self.deadlines = TaskDeadlines(clock: clock)
        self.onStart = onStart
    }

    public func run() async throws {
        if configuration.batched {
            await runBatched()
            return
        }
        var backoff = configuration.retryDelaySeconds
        logger.info("consumer started", metadata: ["lims.consumer": .string(configuration.consumerID)])
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            let task: QueueTask?
            do {
                let (connection, consumerID, wait) = (connection, configuration.consumerID, configuration.popWaitSeconds)
                task = try await Self.endedByShutdown { try await connection.pop(consumerID: consumerID, wait: wait) }
                backoff = configuration.retryDelaySeconds
            } catch {
                if Task.isShuttingDownGracefully || Task.isCancelled { break } // the stop ended the long-poll
                logger.warning("cannot pop", metadata: Self.popFailureMetadata(error, keySource: configuration.keySource))
                try? await Self.endedByShutdown { [clock, backoff] in try await clock.sleep(for: .seconds(backoff)) }
                backoff = min(backoff * 2, 10)
                continue
            }
            var next = task
            if Task.isShuttingDownGracefully || Task.isCancelled, let unclaimed = next {
                // The long-poll answered after SIGTERM: hand the task back at once, unrun (found by a fresh user: three
                // tasks claimed 23-108 ms after SIGTERM were run).
                await report("release", taskLogger(unclaimed)) { try await connection.release(unclaimed) }
                next = nil
            }
            while let current = next {
                next = await process(current)
                if Task.isShuttingDownGracefully || Task.isCancelled, let unclaimed = next {
                    // Claimed while shutting down: hand it back at once.
                    await report("release", logger) { try await connection.release(unclaimed) }
                    next = nil
                }
            }
        }
        logger.info("consumer stopped", metadata: ["lims.consumer": .string(configuration.consumerID)])
    }

    /// Runs an idle consumer's wait (its long-poll `pop`, its backoff after a failed pop), cancelled as soon as a
    /// graceful shutdown begins, so an idle consumer stops at once instead of after the wait (up to
    /// ``Configuration/popWaitSeconds``, or 10 s of backoff; tryouts measured 3.7-5 s and 8.1 s). Safe for a pop since
    /// the server ends a long-poll whose client is gone without claiming, and hands back a task it claimed as the
    /// client went. An answer that still arrives (claimed just before) is returned, and the caller releases it.
    /// - Throws: the operation's errors; `CancellationError` (or the transport's) when the shutdown ended it.
    static func endedByShutdown<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        try await cancelWhenGracefulShutdown(operation)
    }

    /// How one run of a handler ended.
    enum RunOutcome: Sendable, Equatable {
        case success
        case failure(String)
        /// A failure a retry cannot cure (``PermanentTaskFailure``).
        case permanentFailure(String)
        case deadline
        case shutdown
    }

    /// `logger` with the task's uid and name as metadata.
    func taskLogger(_ task: QueueTask) -> Logger {
        var logger = self.logger
        logger[metadataKey: "lims.task.uid"] = .string(task.taskUID)
        logger[metadataKey: "lims.task.name"] = .string(task.name)
        return logger
    }

    /// Runs the task's handler under its deadline and, after a success, waits out the task's `min_seconds`
    /// booking (cut short by a graceful shutdown). Never throws.
    func execute(_ task: QueueTask, logger: Logger) async -> RunOutcome {
        let start = clock.now()
        guard let handler = handlers.handler(for: task.name) else { return .failure("No handler found for \(task.name)") }
        onStart?(task)
        logger.debug("task started")
        let context = TaskContext(logger: logger, consumerID: configuration.consumerID,
                                  deadlineSeconds: Double(task.maxSeconds), queue: connection)
        let outcome = await run(handler, task, context: context)
        if case .success = outcome {
            let booked = Double(min(max(task.minSeconds, 0), QueueTask.maxMinSeconds))
            let elapsed = clock.now() - start
            if elapsed < booked, !Task.isShuttingDownGracefully {
                // The booking ends early on shutdown: the task is done, only the slot was reserved.
                try? await cancelWhenGracefulShutdown { try await clock.sleep(for: .seconds(booked - elapsed)) }
            }
        }
        return outcome
    }

    /// Runs the task's handler under its deadline and reports the outcome. After a success the report also
    /// claims the next task (one round trip), which is returned. Never throws.
    @discardableResult
    public func process(_ task: QueueTask) async -> QueueTask? {
        let logger = taskLogger(task)
        let outcome = await execute(task, logger: logger)
        switch outcome {
        case .success:
            if Task.isShuttingDownGracefully {
                await report("done", logger) { try await connection.done(task) }
                return nil
            }
            let next = NextTaskBox()
            await report("done", logger) {
                next.task = try await connection.doneAndPop(task, consumerID: configuration.consumerID, wait: 0)
            }
            return next.task
        case .failure(let message):
            logger.warning("task failed", metadata: ["lims.error": .string(message)])
            await report("fail", logger) { try await connection.fail(task, message: message) }
        case .permanentFailure(let message):
            logger.warning("task failed for good", metadata: ["lims.error": .string(message)])
            await report("fail", logger) { try await connection.failPermanently(task, message: message) }
        case .deadline:
            logger.warning("task timed out", metadata: ["lims.task.max_seconds": .stringConvertible(task.maxSeconds)])
            await report("timeout", logger) { try await connection.timeout(task) }
        case .shutdown:
            logger.notice("task released at shutdown")
            await report("release", logger) { try await connection.release(task) }
        }
        return nil
    }

    /// Runs the handler racing its deadline and, after a graceful-shutdown request, the shutdown grace: the handler
    /// runs in a task of its own, cancelled by the consumer's one deadline timer (``TaskDeadlines``) when `max_seconds`
    /// pass, or the grace once a graceful shutdown began (``Configuration/shutdownGraceSeconds``).
    func run(_ handler: any TaskHandler, _ task: QueueTask, context: TaskContext) async -> RunOutcome {
        let seconds = Double(min(max(task.maxSeconds, 1), QueueTask.maxLeaseSeconds))
        let grace = configuration.shutdownGraceSeconds
        let (watch, clock) = (deadlines, clock)
        let work = Task<RunOutcome?, Never> {
            do {
                try await handler.process(task, context: context)
                return .success
            } catch is CancellationError {
                return nil
            } catch let error as any PermanentTaskFailure where error.isPermanent {
                return .permanentFailure(error.description)
            } catch let error as any StorageFailure {
                // The database's own message (``loggedDescription(of:)``).
                return .failure(loggedDescription(of: error))
            } catch {
                return .failure("\(type(of: error)): \(error)")
            }
        }
        let entry = watch.register(deadline: clock.now() + seconds, reason: RunOutcome.deadline) { work.cancel() }
        let result = await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await work.value
            } onCancel: {
                work.cancel()
            }
        } onGracefulShutdown: {
            watch.tighten(entry, to: clock.now() + grace, reason: RunOutcome.shutdown)
        }
        // A deadline that passed wins, as the timer's answer did when it came first.
        if let fired = watch.finish(entry) { return fired }
        return result ?? .failure("Cancelled")
    }

    /// Sends a report, retrying transport errors and server errors (5xx: e.g. its database restarting) for
    /// about 10 seconds (a lost report means the task runs again after its lease or purge: at-least-once). A
    /// refusal by the server (4xx, e.g. 409 lost lease) is logged only. While the consumer stops, retries end once
    /// the report has taken ``Configuration/shutdownGraceSeconds`` (after one retry at least): a server that is gone made each attempt wait for
    /// its request timeout (15 s), and a stopping consumer took over two minutes to exit.
    ///
    /// The first failed attempt is logged (warning "report failed, retrying", with the server's answer: a full
    /// disk's 507, a locked database's 503), and a report that gets through after that says so ("report sent"):
    /// a consumer whose reports were refused for minutes logged nothing (found by a tryout).
    func report(_ what: String, _ logger: Logger, _ send: @Sendable () async throws -> Void) async {
        var delay = 0.1
        let start = clock.now()
        for attempt in 1...8 {
            do {
                try await send()
                if attempt > 1 {
                    logger.info("report sent", metadata: ["lims.report": .string(what), "lims.attempts": .stringConvertible(attempt)])
                }
                return
            } catch let error as QueueServerError where error.status < 500 {
                logger.warning("report refused", metadata: Self.refusalMetadata(error, report: what))
                return
            } catch {
                // At shutdown a report is retried while the grace lasts, and once in any case: a single transient
                // failure (a pooled connection the server had closed) lost the release of a task (seen under load).
                let pastGrace = attempt >= 2 && Task.isShuttingDownGracefully
                    && clock.now() - start + delay > configuration.shutdownGraceSeconds
                if attempt == 8 || pastGrace {
                    logger.error("report lost", metadata: ["lims.report": .string(what), "lims.error": .string(String(describing: error))])
                    return
                }
                if attempt == 1 {
                    logger.warning("report failed, retrying", metadata: ["lims.report": .string(what),
                                                                         "lims.error": .string(String(describing: error))])
                }
                try? await clock.sleep(for: .seconds(delay))
                delay = min(delay * 2, 3)
            }
        }
    }
}

extension QueueConsumer {
    /// What a child of the batched loop reports: a task that ended, or the report delay that elapsed.
    enum BatchEvent: Sendable {
        case ended(QueueTask, RunOutcome)
        case reportDue
    }

    /// Batched mode (``Configuration/batched``): keeps up to ``Configuration/concurrency`` tasks claimed (a local
    /// buffer) and running, reports completions in batches (by count, or ``Configuration/reportDelaySeconds``
    /// after the first one) and refills the buffer in the same request. When nothing runs and nothing is claimable
    /// it long-polls a batched pop. On graceful shutdown it claims nothing more, lets running tasks finish within
    /// the grace period, reports them, and releases the tasks it had claimed but not started.
    func runBatched() async {
        let capacity = configuration.concurrency
        let consumerID = configuration.consumerID
        logger.info("consumer started", metadata: ["lims.consumer": .string(consumerID), "lims.concurrency": .stringConvertible(capacity)])
        await withTaskGroup(of: BatchEvent.self) { group in
            var buffer: [QueueTask] = []
            var running = 0
            var doneReports: [QueueTask] = []
            var failReports: [(task: QueueTask, message: String)] = []
            var reportTimer = false
            var backoff = configuration.retryDelaySeconds
            var stopping: Bool { Task.isShuttingDownGracefully || Task.isCancelled }

            while true {
                // Start what the buffer holds, up to the concurrency.
                while running < capacity, !buffer.isEmpty, !stopping {
                    let task = buffer.removeFirst()
                    running += 1
                    group.addTask {
                        let logger = self.taskLogger(task)
                        return .ended(task, await self.execute(task, logger: logger))
                    }
                }
                let waiting = doneReports.count + failReports.count
                let idle = running == 0 && buffer.isEmpty
                if stopping {
                    if running == 0 {
                        await flushBatch(&doneReports, &failReports, popMax: nil, wait: 0)
                        for task in buffer { await report("release", taskLogger(task)) { try await connection.release(task) } }
                        break
                    }
                } else if waiting >= capacity || (waiting > 0 && (idle || !reportTimer && configuration.reportDelaySeconds <= 0)) {
                    // Report now and refill without waiting: when that claims nothing and nothing runs, the next turn
                    // long-polls a plain batched pop, which a stop ends at once (a report must not be cut off).
                    let next = await flushBatch(&doneReports, &failReports, popMax: capacity, wait: 0)
                    buffer.append(contentsOf: next)
                    continue
                } else if idle {
                    do {
                        let (connection, wait) = (connection, configuration.popWaitSeconds)
                        buffer = try await Self.endedByShutdown { try await connection.pop(consumerID: consumerID, max: capacity, wait: wait) }
                        backoff = configuration.retryDelaySeconds
                    } catch {
                        if stopping { continue } // the stop ended the long-poll; the loop winds down
                        logger.warning("cannot pop", metadata: Self.popFailureMetadata(error, keySource: configuration.keySource))
                        try? await Self.endedByShutdown { [clock, backoff] in try await clock.sleep(for: .seconds(backoff)) }
                        backoff = min(backoff * 2, 10)
                    }
                    continue
                } else if waiting > 0, !reportTimer {
                    reportTimer = true
                    let delay = configuration.reportDelaySeconds
                    group.addTask {
                        try? await clock.sleep(for: .seconds(delay))
                        return .reportDue
                    }
                }
                guard let event = await group.next() else { continue }
                switch event {
                case .reportDue:
                    reportTimer = false
                    if !doneReports.isEmpty || !failReports.isEmpty, !stopping {
                        let next = await flushBatch(&doneReports, &failReports, popMax: capacity, wait: 0)
                        buffer.append(contentsOf: next)
                    }
                case .ended(let task, let outcome):
                    running -= 1
                    switch outcome {
                    case .success:
                        doneReports.append(task)
                    case .failure(let message):
                        taskLogger(task).warning("task failed", metadata: ["lims.error": .string(message)])
                        failReports.append((task, message))
                    case .permanentFailure(let message):
                        // Rare (a retry cannot cure it): reported at once, outside the batch.
                        let logger = taskLogger(task)
                        logger.warning("task failed for good", metadata: ["lims.error": .string(message)])
                        await report("fail", logger) { try await connection.failPermanently(task, message: message) }
                    case .deadline:
                        let logger = taskLogger(task)
                        logger.warning("task timed out", metadata: ["lims.task.max_seconds": .stringConvertible(task.maxSeconds)])
                        await report("timeout", logger) { try await connection.timeout(task) }
                    case .shutdown:
                        let logger = taskLogger(task)
                        logger.notice("task released at shutdown")
                        await report("release", logger) { try await connection.release(task) }
                    }
                }
            }
            group.cancelAll()
        }
        logger.info("consumer stopped", metadata: ["lims.consumer": .string(consumerID)])
    }

    /// Sends the waiting reports (fails first, then dones with the claim of up to `popMax` tasks) and returns the
    /// tasks claimed. Transport and server errors are retried as ``report(_:_:_:)`` does; refusals are logged.
    @discardableResult
    func flushBatch(_ dones: inout [QueueTask], _ fails: inout [(task: QueueTask, message: String)], popMax: Int?,
                    wait: Double) async -> [QueueTask] {
        let consumerID = configuration.consumerID
        if !fails.isEmpty {
            let batch = fails
            fails = []
            let answer = AnswerBox()
            await report("fail", logger) { answer.value = try await connection.report(failed: batch, consumerID: consumerID) }
            logRefused(answer.value, what: "fail")
        }
        guard !dones.isEmpty || popMax != nil else { return [] }
        let batch = dones
        dones = []
        let answer = AnswerBox()
        if batch.isEmpty, let popMax {
            await report("pop", logger) { answer.value = BatchReportAnswer(next: try await connection.pop(consumerID: consumerID, max: popMax, wait: wait)) }
        } else {
            await report("done", logger) {
                answer.value = try await connection.report(done: batch, consumerID: consumerID, popMax: popMax, wait: wait)
            }
        }
        logRefused(answer.value, what: "done")
        return answer.value?.next ?? []
    }

    func logRefused(_ answer: BatchReportAnswer?, what: String) {
        for (uid, error) in answer?.refused ?? [:] {
            var metadata = Self.refusalMetadata(error, report: what)
            metadata["lims.task.uid"] = .string(uid)
            logger.warning("report refused", metadata: metadata)
        }
    }

    /// The log metadata of a refused report: what was reported, the server's answer, and for a lost lease (409) a
    /// hint at its causes. Two consumers started with one `--consumer-id` take each other's tasks for good: each pop
    /// of one purges the task the other runs (reference 1.2: a consumer that pops while its task has run 10 s is
    /// taken to have lost it), and every report is refused; a tryout's pair did so for minutes with only "lease
    /// lost" in the logs.
    static func refusalMetadata(_ error: QueueServerError, report: String) -> Logger.Metadata {
        var metadata: Logger.Metadata = ["lims.report": .string(report), "lims.error": .string(error.description)]
        if error.status == 409 {
            metadata["lims.hint"] = .string("the task is no longer this consumer's: its lease ran out, or a pop with this consumer id "
                                            + "purged it (each consumer needs an id of its own)")
        }
        return metadata
    }
}

/// Carries a batched answer out of a report closure.
final class AnswerBox: @unchecked Sendable {
    var value: BatchReportAnswer?
}

/// Carries the next task out of a report closure.
final class NextTaskBox: @unchecked Sendable {
    var task: QueueTask?
}

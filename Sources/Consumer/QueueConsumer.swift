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

        public init(consumerID: String, popWaitSeconds: Double = 5, shutdownGraceSeconds: Double = 20,
                    retryDelaySeconds: Double = 0.5) {
            self.consumerID = consumerID
            self.popWaitSeconds = popWaitSeconds
            self.shutdownGraceSeconds = shutdownGraceSeconds
            self.retryDelaySeconds = retryDelaySeconds
        }
    }

    let connection: any QueueConnection
    let handlers: HandlerRegistry
    let configuration: Configuration
    let logger: Logger
    /// Called when a handler starts, with the task (benchmarks measure pickup latency with it).
    let onStart: (@Sendable (QueueTask) -> Void)?

    public init(connection: any QueueConnection, handlers: HandlerRegistry, configuration: Configuration,
                logger: Logger = Logger(label: "limsqueue.consumer"), onStart: (@Sendable (QueueTask) -> Void)? = nil) {
        self.connection = connection
        self.handlers = handlers
        self.configuration = configuration
        self.logger = logger
        self.onStart = onStart
    }

    public func run() async throws {
        var backoff = configuration.retryDelaySeconds
        logger.info("consumer started", metadata: ["lims.consumer": .string(configuration.consumerID)])
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            let task: QueueTask?
            do {
                task = try await connection.pop(consumerID: configuration.consumerID, wait: configuration.popWaitSeconds)
                backoff = configuration.retryDelaySeconds
            } catch {
                logger.warning("cannot pop", metadata: ["lims.error": .string(String(describing: error))])
                try? await Task.sleep(nanoseconds: UInt64(backoff * 1_000_000_000))
                backoff = min(backoff * 2, 10)
                continue
            }
            var next = task
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

    /// How one run of a handler ended.
    enum RunOutcome: Sendable {
        case success
        case failure(String)
        /// A failure a retry cannot cure (``PermanentTaskFailure``).
        case permanentFailure(String)
        case deadline
        case shutdown
    }

    /// Runs the task's handler under its deadline and reports the outcome. After a success the report also
    /// claims the next task (one round trip), which is returned. Never throws.
    @discardableResult
    public func process(_ task: QueueTask) async -> QueueTask? {
        var logger = self.logger
        logger[metadataKey: "lims.task.uid"] = .string(task.taskUID)
        logger[metadataKey: "lims.task.name"] = .string(task.name)
        let start = ContinuousClock.now
        let outcome: RunOutcome
        if let handler = handlers.handler(for: task.name) {
            onStart?(task)
            let context = TaskContext(logger: logger, consumerID: configuration.consumerID,
                                      deadlineSeconds: Double(task.maxSeconds), queue: connection)
            outcome = await run(handler, task, context: context)
        } else {
            outcome = .failure("No handler found for \(task.name)")
        }
        switch outcome {
        case .success:
            let booked = Duration.seconds(min(max(task.minSeconds, 0), QueueTask.maxMinSeconds))
            let elapsed = start.duration(to: .now)
            if elapsed < booked, !Task.isShuttingDownGracefully {
                // The booking ends early on shutdown: the task is done, only the slot was reserved.
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: booked - elapsed) }
            }
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

    /// Runs the handler racing its deadline and, after a graceful-shutdown request, the shutdown grace.
    func run(_ handler: any TaskHandler, _ task: QueueTask, context: TaskContext) async -> RunOutcome {
        let deadline = Double(min(max(task.maxSeconds, 1), QueueTask.maxLeaseSeconds))
        let grace = configuration.shutdownGraceSeconds
        return await withTaskGroup(of: RunOutcome?.self) { group in
            group.addTask {
                do {
                    try await handler.process(task, context: context)
                    return .success
                } catch is CancellationError {
                    return nil
                } catch let error as any PermanentTaskFailure where error.isPermanent {
                    return .permanentFailure(error.description)
                } catch {
                    return .failure("\(type(of: error)): \(error)")
                }
            }
            group.addTask {
                try? await Task.sleep(nanoseconds: UInt64(deadline * 1_000_000_000))
                return Task.isCancelled ? nil : .deadline
            }
            group.addTask {
                // Completes only when a graceful shutdown is requested, then waits out the grace period.
                try? await gracefulShutdown()
                guard !Task.isCancelled else { return nil }
                try? await Task.sleep(nanoseconds: UInt64(grace * 1_000_000_000))
                return Task.isCancelled ? nil : .shutdown
            }
            var outcome: RunOutcome = .failure("Cancelled")
            for await result in group {
                if let result {
                    outcome = result
                    break
                }
            }
            group.cancelAll()
            return outcome
        }
    }

    /// Sends a report, retrying transport errors and server errors (5xx: e.g. its database restarting) for
    /// about 10 seconds (a lost report means the task runs again after its lease or purge: at-least-once). A
    /// refusal by the server (4xx, e.g. 409 lost lease) is logged only.
    func report(_ what: String, _ logger: Logger, _ send: @Sendable () async throws -> Void) async {
        var delay = 0.1
        for attempt in 1...8 {
            do {
                try await send()
                return
            } catch let error as QueueServerError where error.status < 500 {
                logger.warning("report refused", metadata: ["lims.report": .string(what), "lims.error": .string(error.description)])
                return
            } catch {
                if attempt == 8 {
                    logger.error("report lost", metadata: ["lims.report": .string(what), "lims.error": .string(String(describing: error))])
                    return
                }
                try? await Task.sleep(nanoseconds: UInt64(delay * 1_000_000_000))
                delay = min(delay * 2, 3)
            }
        }
    }
}

/// Carries the next task out of a report closure.
final class NextTaskBox: @unchecked Sendable {
    var task: QueueTask?
}

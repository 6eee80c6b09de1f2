import ArgumentParser
import AsyncHTTPClient
import Consumer
import Foundation
import Hummingbird
import LIMSCore
import LimsTasks
import LimsAPI
import Logging
import Metrics
import Prometheus
import QueueAuth
import QueueCore
import QueueServer
import ServiceLifecycle
import Storage
import Synchronization
import WebUI

/// `limsqueue serve`: the queue server, the LIMS API and N in-process consumers (the main job). On an empty lab
/// it first imports the setup workbook and makes a demo lab (``LabSetup/firstStart(_:environment:logger:)``).
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the queue server, the LIMS API and in-process consumers (the main job); an empty lab gets the demo setup first."
    )

    @OptionGroup var common: CommonOptions
    @OptionGroup var listen: ListenOptions

    @Option(name: .long, help: "In-process consumers to run (0 for none). Default: the max_consumers setting.")
    var consumers: Int?

    @OptionGroup var firstStart: FirstStartOptions

    func validate() throws {
        if let consumers, !(0...64).contains(consumers) { throw ValidationError("--consumers must be in 0...64") }
    }

    func run() async throws {
        let logger = common.logger("limsqueue.serve")
        try await listen.checkAvailable()
        try await StorageEnvironment.with(dataDir: common.dataDir, database: common.databaseURL, durability: common.durabilityLevel, logger: logger) { environment in
            try await LabSetup.firstStart(firstStart, environment: environment, logger: logger)
            let count: Int
            if let consumers { count = consumers } else { count = try await environment.store.settings().maxConsumers }
            try await QueueNode.run(environment: environment, listen: listen, consumers: count, logger: logger)
        }
    }
}

/// `limsqueue server`: the queue server alone (senaite.queue's routes; no LIMS pages or API).
struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server",
        abstract: "Run the queue server alone (consumers connect with `limsqueue consumer`; the LIMS runs in `limsqueue web`)."
    )

    @OptionGroup var common: CommonOptions
    @OptionGroup var listen: ListenOptions

    func run() async throws {
        let logger = common.logger("limsqueue.server")
        try await listen.checkAvailable()
        try await StorageEnvironment.with(dataDir: common.dataDir, database: common.databaseURL, durability: common.durabilityLevel, logger: logger) { environment in
            try await QueueNode.run(environment: environment, listen: listen, consumers: 0, lims: false, logger: logger)
        }
    }
}

/// `limsqueue web`: the LIMS (JSON API and pages) alone, enqueueing into the shared database; no queue routes,
/// no consumers. Any number of web nodes can serve one database.
struct WebCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "web",
        abstract: "Run the LIMS web node alone (JSON API and pages), enqueueing into the shared database.",
        discussion: "Tasks are written to the database in the same transaction as the action; `limsqueue server` hands them to consumers."
    )

    @OptionGroup var common: CommonOptions
    @OptionGroup var listen: ListenOptions

    func run() async throws {
        let logger = common.logger("limsqueue.web")
        try await listen.checkAvailable()
        try await StorageEnvironment.with(dataDir: common.dataDir, database: common.databaseURL, durability: common.durabilityLevel, logger: logger) { environment in
            try await QueueNode.run(environment: environment, listen: listen, consumers: 0, queueRoutes: false, logger: logger)
        }
    }
}

/// Wiring shared by `serve`, `server` and the benchmarks.
enum QueueNode {
    /// Handlers every consumer of this build knows: `noop` and `sleep`, and with a lab the LIMS task kinds
    /// (``LimsTaskKinds``: workflow actions, analysis assignment, security re-index) honouring `queue`'s chunk size.
    static func handlers(lab: (any LabRepository)? = nil, queue: (any QueueStore)? = nil) -> HandlerRegistry {
        var registry = HandlerRegistry([NoopHandler(), SleepHandler()])
        if let lab {
            for handler in LimsTaskKinds.handlers(repository: lab, queue: queue) { registry.register(handler) }
        }
        return registry
    }

    /// The controller over the environment's store, authenticating with its auth key against the lab's users
    /// (``userDirectory(lab:)``).
    static func controller(environment: StorageEnvironment, clock: any WallClock,
                           configuration: QueueServerController.Configuration = .init(),
                           metrics: QueueMetrics = QueueMetrics()) async throws -> QueueServerController {
        let key = try await environment.authKey()
        let authenticator = QueueAuthenticator(key: { key }, clock: clock, userExists: userDirectory(lab: environment.lab))
        return QueueServerController(store: environment.store, authenticator: authenticator, clock: clock,
                                     configuration: configuration, metrics: metrics)
    }

    /// Whether a queue token's user id may act: an active user of the lab, or the reserved consumer user
    /// (``QueueAuth/QueueAuthToken/consumerUserID``) the consumers report with. senaite.queue's PAS plugin requires
    /// an existing user (reference 1.4); an unknown or deactivated user is answered 401.
    static func userDirectory(lab: any LabRepository) -> @Sendable (String) async -> Bool {
        { userid in
            if userid == QueueAuthToken.consumerUserID { return true }
            return (try? await lab.user(named: userid))?.isActive == true
        }
    }

    /// The process's metrics: the first serving node of the process also makes its registry the swift-metrics
    /// backend (Hummingbird's HTTP request metrics then show on its `/metrics`).
    static func processMetrics() -> QueueMetrics {
        let metrics = QueueMetrics()
        MetricsBootstrap.once(metrics.registry)
        return metrics
    }

    /// Serves until SIGTERM/SIGINT, with `consumers` in-process consumers talking to it over loopback HTTP.
    /// - Parameters:
    ///   - queueRoutes: serve senaite.queue's `queue_server` routes (false for a web node). Default: true.
    ///   - lims: serve the LIMS JSON API (and pages). Default: true.
    ///   - onListening: receives the bound port once the server listens. Default: none.
    ///   - stopper: lets the caller stop the node gracefully (as SIGTERM does). Default: none.
    static func run(environment: StorageEnvironment, listen: ListenOptions, consumers: Int, queueRoutes: Bool = true,
                    lims limsRoutes: Bool = true, logger: Logger, onStart: (@Sendable (QueueTask) -> Void)? = nil,
                    onListening: (@Sendable (Int) -> Void)? = nil, stopper: NodeStopper? = nil) async throws {
        let clock = SystemWallClock()
        let metrics = processMetrics()
        let controller = try await controller(environment: environment, clock: clock,
                                              configuration: .init(maxPopWait: listen.maxPopWait), metrics: metrics)
        let key = try await environment.authKey()
        let ready = ReadySignal()
        // In-process consumers reach the server on the address it listens on (loopback for a wildcard address).
        let connectHost = ["0.0.0.0", "::", ""].contains(listen.host) ? "127.0.0.1" : listen.host
        let store = environment.store
        let pool = ConsumerPool(count: consumers, key: key, ready: ready, handlers: handlers(lab: environment.lab, queue: environment.store), logger: logger,
                                host: connectHost, onStart: onStart,
                                onGracefulShutdown: { controller.longPolls.close(); store.notifyChange() })
        let limiter = LoginRateLimiter(policy: .init(maxFailuresPerUser: listen.loginFailuresPerUser,
                                                     maxFailuresPerAddress: listen.loginFailuresPerAddress), clock: clock)
        let lims = LimsAPIController(repository: environment.lab, authKey: { key }, clock: clock, queue: environment.store,
                                     loginLimiter: limiter, sessions: SQLSessionStore(store: environment.store))
        let web = WebUI(repository: environment.lab, queue: environment.store, authKey: { key }, clock: clock,
                        lims: lims, authKeyControl: environment.webAuthKeyControl, consumerPolls: { metrics.consumerPolls() })
        let app = QueueServerApp.build(
            controller: controller, host: listen.host, port: listen.port, logger: logger, queueRoutes: queueRoutes,
            trustedProxies: Set(listen.trustedProxy),
            addRoutes: { if limsRoutes { lims.addRoutes(to: $0); web.addRoutes(to: $0) } },
            onRunning: { port in
                logger.notice("queue server listening", metadata: ["lims.url": .string("http://\(listen.host):\(port)")])
                ready.set(port)
                onListening?(port)
            }
        )
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let checkpoints = CheckpointService.make(for: environment, clock: clock, logger: logger) { services.append(.init(service: checkpoints)) }
        if let listener = try ChangeListener.make(for: environment, logger: logger) { services.append(.init(service: listener)) }
        let group = ServiceGroup(
            configuration: .init(
                services: services + [
                    .init(service: app),
                    .init(service: HistoryPruner(store: environment.store, clock: clock, logger: logger)),
                    .init(service: pool),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        stopper?.attach(group)
        try await group.run()
    }
}

/// Stops a node started by ``QueueNode/run(environment:listen:consumers:queueRoutes:lims:logger:onStart:onListening:stopper:)``
/// gracefully from the same process (the in-process server of `demo run` and `bench lims`).
final class NodeStopper: Sendable {
    private let group = Mutex<ServiceGroup?>(nil)
    private let requested = Mutex(false)

    func attach(_ serviceGroup: ServiceGroup) {
        group.withLock { $0 = serviceGroup }
        if requested.withLock({ $0 }) { Task { await serviceGroup.triggerGracefulShutdown() } }
    }

    /// Asks the node to stop, as SIGTERM would.
    func stop() async {
        requested.withLock { $0 = true }
        if let serviceGroup = group.withLock({ $0 }) { await serviceGroup.triggerGracefulShutdown() }
    }
}

/// Runs `count` consumers against the local server once it listens.
struct ConsumerPool: Service {
    let count: Int
    let key: String
    let ready: ReadySignal
    let handlers: HandlerRegistry
    let logger: Logger
    /// Host the consumers connect to. Default: 127.0.0.1.
    var host: String = "127.0.0.1"
    let onStart: (@Sendable (QueueTask) -> Void)?
    /// Batched consumers (``QueueConsumer/Configuration/batched``), each running `concurrency` tasks at once.
    /// Default: plain consumers, one task at a time.
    var batched = false
    /// Tasks each batched consumer runs at once. Default: 1 task.
    var concurrency = 1
    /// Called when the pool's graceful shutdown begins (before its consumers stop): ends the in-process server's
    /// long-polls so that idle consumers stop at once. Default: nothing.
    var onGracefulShutdown: @Sendable () -> Void = {}

    init(count: Int, key: String, ready: ReadySignal, handlers: HandlerRegistry, logger: Logger, host: String = "127.0.0.1",
         batched: Bool = false, concurrency: Int = 1, onStart: (@Sendable (QueueTask) -> Void)?,
         onGracefulShutdown: @escaping @Sendable () -> Void = {}) {
        self.onGracefulShutdown = onGracefulShutdown
        self.batched = batched
        self.concurrency = concurrency
        self.count = count
        self.key = key
        self.ready = ready
        self.handlers = handlers
        self.logger = logger
        self.host = host
        self.onStart = onStart
    }

    func run() async throws {
        guard count > 0 else {
            // No consumers here, but the server's long-polls still end at the stop (`server`, `serve --consumers
            // 0`: a tryout's SIGTERM waited out every long-poll's `wait`, up to `--max-pop-wait`).
            try? await gracefulShutdown()
            onGracefulShutdown()
            return
        }
        guard let port = await ready.wait() else { return }
        // A client of its own with a connection per consumer (long-polls hold theirs) plus spares.
        let configuration = HTTPQueueConnection.clientConfiguration(connectionsPerHost: count * 2 + 2)
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        defer { Task { try? await http.shutdown() } }
        let urlHost = host.contains(":") ? "[\(host)]" : host
        let connection = try HTTPQueueConnection(serverURL: "http://\(urlHost):\(port)", authKey: key, http: http)
        // Stable ids (host, port, index), like senaite.queue's consumer URL: after a crash, the restarted consumer
        // with the same id pops again and its dead predecessor's task is purged after 10 s, not after its lease.
        let machine = ProcessInfo.processInfo.hostName
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 1...count {
                    let consumer = QueueConsumer(
                        connection: connection, handlers: handlers,
                        configuration: .init(consumerID: "\(machine):\(port)/consumer-\(index)", batched: batched,
                                             concurrency: batched ? concurrency : 1),
                        logger: logger, onStart: onStart
                    )
                    group.addTask { try await consumer.run() }
                }
                try await group.waitForAll()
            }
        } onGracefulShutdown: {
            // Said at once: with a task running, the process otherwise went quiet for up to the grace before exiting
            // (the final new-user check).
            let grace = Int(QueueConsumer.Configuration(consumerID: "").shutdownGraceSeconds)
            logger.notice("stopping: running tasks get up to \(grace) s to finish, then are released back to the queue")
            onGracefulShutdown()
        }
    }
}

/// Makes a Prometheus registry the process's swift-metrics backend, once (`MetricsSystem.bootstrap` may run only
/// once per process; later calls are ignored).
enum MetricsBootstrap {
    private static let done = Mutex(false)

    static func once(_ registry: PrometheusCollectorRegistry) {
        let first = done.withLock { done in
            defer { done = true }
            return !done
        }
        if first { MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry)) }
    }
}

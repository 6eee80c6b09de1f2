import ArgumentParser
import AsyncHTTPClient
import Consumer
import Foundation
import Hummingbird
import LIMSCore
import LimsTasks
import LimsAPI
import Logging
import QueueCore
import QueueServer
import ServiceLifecycle
import Storage

/// `limsqueue serve`: the queue server and N in-process consumers on the embedded database.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the queue server and in-process consumers on the embedded SQLite database (the main job)."
    )

    @OptionGroup var common: CommonOptions
    @OptionGroup var listen: ListenOptions

    @Option(name: .long, help: "In-process consumers to run (0 for none). Default: the max_consumers setting.")
    var consumers: Int?

    func validate() throws {
        if let consumers, !(0...64).contains(consumers) { throw ValidationError("--consumers must be in 0...64") }
    }

    func run() async throws {
        let logger = common.logger("limsqueue.serve")
        try await StorageEnvironment.with(dataDir: common.dataDir, database: common.databaseURL, logger: logger) { environment in
            let count: Int
            if let consumers { count = consumers } else { count = try await environment.store.settings().maxConsumers }
            try await QueueNode.run(environment: environment, listen: listen, consumers: count, logger: logger)
        }
    }
}

/// `limsqueue server`: the queue server alone.
struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server",
        abstract: "Run the queue server alone (consumers connect with `limsqueue consumer`)."
    )

    @OptionGroup var common: CommonOptions
    @OptionGroup var listen: ListenOptions

    func run() async throws {
        let logger = common.logger("limsqueue.server")
        try await StorageEnvironment.with(dataDir: common.dataDir, database: common.databaseURL, logger: logger) { environment in
            try await QueueNode.run(environment: environment, listen: listen, consumers: 0, logger: logger)
        }
    }
}

/// Wiring shared by `serve`, `server` and the benchmarks.
enum QueueNode {
    /// Handlers every consumer of this build knows: `noop` and `sleep`, and with a lab the LIMS task kinds
    /// (generic workflow actions, analysis assignment, security re-index).
    static func handlers(lab: (any LabRepository)? = nil) -> HandlerRegistry {
        var registry = HandlerRegistry([NoopHandler(), SleepHandler()])
        if let lab {
            for name in GenericActionHandler.names { registry.register(GenericActionHandler(name: name, repository: lab)) }
            registry.register(AssignAnalysesHandler(repository: lab))
            registry.register(ReindexSecurityHandler(repository: lab))
        }
        return registry
    }

    /// The controller over the environment's store, authenticating with its auth key.
    /// Every user id is accepted as long as its token is valid (the key is the shared secret); the LIMS user
    /// directory plugs in here.
    static func controller(environment: StorageEnvironment, clock: any WallClock) async throws -> QueueServerController {
        let key = try await environment.authKey()
        let authenticator = QueueAuthenticator(key: { key }, clock: clock, userExists: { !$0.isEmpty })
        return QueueServerController(store: environment.store, authenticator: authenticator, clock: clock)
    }

    /// Serves until SIGTERM/SIGINT, with `consumers` in-process consumers talking to it over loopback HTTP.
    static func run(environment: StorageEnvironment, listen: ListenOptions, consumers: Int, logger: Logger,
                    onStart: (@Sendable (QueueTask) -> Void)? = nil) async throws {
        let clock = SystemWallClock()
        let controller = try await controller(environment: environment, clock: clock)
        let key = try await environment.authKey()
        let ready = ReadySignal()
        // In-process consumers reach the server on the address it listens on (loopback for a wildcard address).
        let connectHost = ["0.0.0.0", "::", ""].contains(listen.host) ? "127.0.0.1" : listen.host
        let pool = ConsumerPool(count: consumers, key: key, ready: ready, handlers: handlers(lab: environment.lab), logger: logger,
                                host: connectHost, onStart: onStart)
        let lims = LimsAPIController(repository: environment.lab, authKey: { key }, clock: clock, queue: environment.store)
        let app = QueueServerApp.build(
            controller: controller, host: listen.host, port: listen.port, logger: logger,
            addRoutes: { lims.addRoutes(to: $0) },
            onRunning: { port in
                logger.notice("queue server listening", metadata: ["lims.url": .string("http://\(listen.host):\(port)")])
                ready.set(port)
            }
        )
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
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
        try await group.run()
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

    init(count: Int, key: String, ready: ReadySignal, handlers: HandlerRegistry, logger: Logger, host: String = "127.0.0.1",
         onStart: (@Sendable (QueueTask) -> Void)?) {
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
            try? await gracefulShutdown()
            return
        }
        guard let port = await ready.wait() else { return }
        // A client of its own with a connection per consumer (long-polls hold theirs) plus spares.
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: count * 2 + 2)
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        defer { Task { try? await http.shutdown() } }
        let urlHost = host.contains(":") ? "[\(host)]" : host
        let connection = try HTTPQueueConnection(serverURL: "http://\(urlHost):\(port)", authKey: key, http: http)
        // Stable ids (host, port, index), like senaite.queue's consumer URL: after a crash, the restarted consumer
        // with the same id pops again and its dead predecessor's task is purged after 10 s, not after its lease.
        let machine = ProcessInfo.processInfo.hostName
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 1...count {
                let consumer = QueueConsumer(
                    connection: connection, handlers: handlers,
                    configuration: .init(consumerID: "\(machine):\(port)/consumer-\(index)"),
                    logger: logger, onStart: onStart
                )
                group.addTask { try await consumer.run() }
            }
            try await group.waitForAll()
        }
    }
}

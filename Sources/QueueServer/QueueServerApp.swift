import Hummingbird
import Logging
import NIOCore
import QueueCore
import ServiceLifecycle

/// Builds the queue server application: the queue_server routes, plus a maintenance service that prunes the
/// history every hour.
public enum QueueServerApp {
    /// The router with every queue route (used as is by HummingbirdTesting).
    /// - Parameters:
    ///   - queueRoutes: mount the `queue_server` routes (false for a web node: `version` only). Default: true.
    ///   - addRoutes: mounts further routes on the same router (e.g. the LIMS JSON API). Default: none.
    ///   - trustedProxies: reverse proxies whose `X-Forwarded-For` names the client (``ClientAddressMiddleware``).
    ///     Default: none.
    public static func router(
        controller: QueueServerController,
        queueRoutes: Bool = true,
        trustedProxies: Set<String> = [],
        addRoutes: (Router<QueueRequestContext>) -> Void = { _ in }
    ) -> Router<QueueRequestContext> {
        // HEAD answers as GET does, without the body (RFC 9110 §9.3.2: a server should support HEAD wherever GET is;
        // a tryout's `curl -I` and load balancers' health checks got 405 or 404).
        let router = Router(context: QueueRequestContext.self, options: .autoGenerateHeadEndpoints)
        if !trustedProxies.isEmpty { router.add(middleware: ClientAddressMiddleware(trustedProxies: trustedProxies)) }
        let routeTable = MethodNotAllowedMiddleware<QueueRequestContext>.RouteTable()
        router.add(middleware: MethodNotAllowedMiddleware(table: routeTable))
        router.add(middleware: ErrorLoggingMiddleware())
        router.add(middleware: QueryTextMiddleware())
        // HTTP request counts and durations through swift-metrics (a no-op until the process bootstraps a backend).
        router.add(middleware: MetricsMiddleware())
        controller.addRoutes(to: router, queueRoutes: queueRoutes)
        addRoutes(router)
        routeTable.set(router.routes)
        return router
    }

    /// Seconds a connection may stay idle between requests, or stall while sending one, before the server closes it:
    /// 75, as nginx's `keepalive_timeout`. Without it idle connections stayed open indefinitely (a tryout).
    public static let idleTimeoutSeconds: Int64 = 75

    /// The application listening on `host:port` (port 0 picks a free port; `onRunning` receives the bound port);
    /// `addRoutes` mounts further routes on the same router (default: none); `queueRoutes` false leaves out the
    /// `queue_server` routes (a web node); `trustedProxies` as in ``router(controller:queueRoutes:trustedProxies:addRoutes:)``.
    public static func build(
        controller: QueueServerController,
        host: String,
        port: Int,
        logger: Logger,
        services: [any Service] = [],
        queueRoutes: Bool = true,
        trustedProxies: Set<String> = [],
        addRoutes: (Router<QueueRequestContext>) -> Void = { _ in },
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        Application(
            router: router(controller: controller, queueRoutes: queueRoutes, trustedProxies: trustedProxies, addRoutes: addRoutes),
            // Each connection's pipeline tells its long-polls when the client is gone (ClientConnections), and reads
            // the rest of a body answered early (UnreadBodyDrainHandler).
            // A connection idle for `idleTimeoutSeconds` between requests, or while a request's head or body is being
            // sent, is closed; one whose request is being answered (a long-poll) is not (Hummingbird's idle handler).
            server: .http1(configuration: .init(additionalChannelHandlers: [controller.clientConnections.handler(), UnreadBodyDrainHandler()],
                                                idleTimeout: .seconds(Self.idleTimeoutSeconds))),
            configuration: .init(address: .hostname(host, port: port), serverName: "LimsQueue"),
            services: services,
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
            logger: logger
        )
    }
}

/// Prunes the history table every hour (entries older than `history_days`).
public struct HistoryPruner: Service {
    let store: any QueueStore
    let clock: any WallClock
    let logger: Logger
    /// Seconds between prunes. Default: 3600 seconds.
    let intervalSeconds: Double

    public init(store: any QueueStore, clock: any WallClock, logger: Logger, intervalSeconds: Double = 3600) {
        self.store = store
        self.clock = clock
        self.logger = logger
        self.intervalSeconds = intervalSeconds
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            do {
                let removed = try await store.pruneHistory(now: clock.now())
                if removed > 0 { logger.info("history pruned", metadata: ["lims.history.removed": .stringConvertible(removed)]) }
            } catch {
                logger.warning("history prune failed", metadata: ["lims.error": .string(String(describing: error))])
            }
            try? await cancelWhenGracefulShutdown {
                try await clock.sleep(for: .seconds(intervalSeconds))
            }
        }
    }
}

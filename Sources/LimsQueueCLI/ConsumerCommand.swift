import ArgumentParser
import AsyncHTTPClient
import Consumer
import Foundation
import Logging
import ServiceLifecycle

/// `limsqueue consumer`: one consumer process that long-polls a queue server over HTTP.
struct ConsumerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consumer",
        abstract: "Run one consumer against a queue server over HTTP.",
        discussion: """
            The LIMS task kinds act on the lab's database: give the consumer the same --data-dir (same machine) or \
            --database URL as the servers; with --no-lims it runs only the built-in noop and sleep kinds.
            The auth key comes from LIMSQUEUE_AUTH_KEY, else from the database in --data-dir (same machine), which \
            must exist; with --no-lims and LIMSQUEUE_AUTH_KEY no database is opened.
            On SIGTERM the consumer claims nothing more and finishes (or, after the grace period, releases) its task.
            Give several server instances on one database (--server A --server B, or --server A,B): when the current \
            one cannot be reached the consumer moves to the next and keeps going; its task's lease stays valid there.
            """
    )

    @OptionGroup var common: CommonOptions

    @Option(name: .long, help: "Queue server URL, e.g. http://127.0.0.1:8080 (a site path such as /senaite is allowed); repeat it or separate with commas for several instances on one database (failover order).")
    var server: [String]

    /// Every `--server` URL, commas split, in order.
    var serverURLs: [String] {
        server.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    @Option(name: .long, help: "This consumer's id (at least 4 characters), unique among the consumers of the queue: two consumers with one id purge each other's tasks. Default: <host>-<pid>.")
    var consumerID: String?

    @Option(name: .long, help: "User the consumer acts as towards the server.")
    var user: String = "queue_consumer"

    @Option(name: .long, help: "Seconds a running task may still take after SIGTERM before it is released.")
    var shutdownGrace: Double = 20

    @Flag(name: .long, inversion: .prefixedNo, help: "Run the LIMS task kinds (needs the lab's database).")
    var lims = true

    @Flag(name: .long, help: "Batched mode: claim up to --concurrency tasks per request, run them at once, report completions in batches (LimsQueue servers only).")
    var batched = false

    @Option(name: .long, help: "Tasks run at once in batched mode (the size of the local buffer).")
    var concurrency: Int = 4

    func validate() throws {
        guard !serverURLs.isEmpty else { throw ValidationError("--server is required, e.g. --server http://127.0.0.1:8080") }
        for url in serverURLs where !(url.hasPrefix("http://") || url.hasPrefix("https://")) {
            throw ValidationError("--server must be an http(s) URL, e.g. http://127.0.0.1:8080 (got \(url))")
        }
        if let consumerID, consumerID.count < 4 { throw ValidationError("--consumer-id must have at least 4 characters") }
        if let consumerID, consumerID.unicodeScalars.count > 256 { throw ValidationError("--consumer-id must have at most 256 characters") }
        guard (0...3600).contains(shutdownGrace) else { throw ValidationError("--shutdown-grace must be in 0...3600 seconds") }
        guard (1...256).contains(concurrency) else { throw ValidationError("--concurrency must be in 1...256") }
    }

    func run() async throws {
        let logger = common.logger("limsqueue.consumer")
        if !lims, let key = try AuthKeySource.fromEnvironment() {
            // Nothing of a database is needed: none is opened, and no data directory is made (a tryout's consumer on
            // another machine left an empty ./var behind).
            try await consume(key: key, keySource: Self.environmentKeySource, handlers: QueueNode.handlers(), logger: logger)
            return
        }
        let keyFromEnvironment = try AuthKeySource.fromEnvironment()
        if keyFromEnvironment == nil, common.databaseURL == nil {
            // The admin commands' refusal advises creating a database, whose new key the server would refuse.
            let path = StorageEnvironment.sqlitePath(dataDir: common.dataDir)
            guard FileManager.default.fileExists(atPath: path) else {
                throw CLIError("no LimsQueue database at \(path) to read the auth key from: set LIMSQUEUE_AUTH_KEY to the "
                               + "server's key (`limsqueue key` prints it where the server runs), or pass the --data-dir the "
                               + "server uses on this machine")
            }
        }
        // The key read from the database: one that does not exist is refused, not made (a fresh database's new key
        // is not the server's: a tryout's consumer was answered 401 on every pop, for ever).
        try await StorageEnvironment.with(dataDir: common.dataDir, database: common.databaseURL, durability: common.durabilityLevel,
                                          existing: keyFromEnvironment == nil, logger: logger) { environment in
            let key: String
            if let keyFromEnvironment { key = keyFromEnvironment } else { key = try await environment.authKey() }
            let handlers = lims ? QueueNode.handlers(lab: environment.lab, queue: environment.store) : QueueNode.handlers()
            let source = keyFromEnvironment != nil ? Self.environmentKeySource : "the database at \(environment.path)"
            try await consume(key: key, keySource: source, handlers: handlers, logger: logger)
        }
    }

    /// The key's source when it comes from the environment, as the log names it.
    static let environmentKeySource = "env LIMSQUEUE_AUTH_KEY"

    /// Runs the consumer with `handlers` until SIGTERM or SIGINT, authenticating with `key` (from `keySource`, named
    /// in the log when the server refuses it).
    private func consume(key: String, keySource: String, handlers: HandlerRegistry, logger: Logger) async throws {
        let id = consumerID ?? "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)"
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: HTTPQueueConnection.clientConfiguration())
        defer { Task { try? await http.shutdown() } }
        let connection = try HTTPQueueConnection(serverURLs: serverURLs, authKey: key, userID: user, http: http, logger: logger)
        let consumer = QueueConsumer(
            connection: connection, handlers: handlers,
            configuration: .init(consumerID: id, shutdownGraceSeconds: shutdownGrace, batched: batched,
                                 concurrency: batched ? concurrency : 1, keySource: keySource), logger: logger
        )
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: consumer)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger
        ))
        try await group.run()
    }
}

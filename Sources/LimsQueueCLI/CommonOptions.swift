import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import Storage
import Synchronization

/// Options every subcommand shares.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: "Directory holding the embedded database (limsqueue.sqlite).")
    var dataDir: String = "./var"

    @Option(name: .long, help: "PostgreSQL URL (postgres://user:password@host:port/database, or postgres://user@/database?host=/var/run/postgresql for the local socket) instead of the embedded SQLite; default: env LIMSQUEUE_DATABASE_URL, else SQLite in --data-dir.")
    var database: String?

    /// `--database`, else env `LIMSQUEUE_DATABASE_URL`; nil for the embedded SQLite.
    var databaseURL: String? {
        database ?? ProcessInfo.processInfo.environment["LIMSQUEUE_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    @Option(name: .long, help: "Commit durability: normal (SQLite synchronous=NORMAL, PostgreSQL synchronous_commit=off) or full (SQLite synchronous=FULL, PostgreSQL synchronous_commit=on). Default: normal on SQLite, the server's setting (on) on PostgreSQL.")
    var durability: String?

    /// `--durability`, parsed (nil when not given; ``validate()`` refuses other values).
    var durabilityLevel: Durability? { durability.flatMap(Durability.init(rawValue:)) }

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = ProcessInfo.processInfo.environment["LOG_LEVEL"] ?? "info"

    @Option(name: .long, help: "Log format on standard error: text (key=value metadata) or json (one object per line).")
    var logFormat: String = ProcessInfo.processInfo.environment["LOG_FORMAT"] ?? "text"

    func validate() throws {
        if let database = databaseURL, !PostgresURL.isPostgres(database) {
            throw ValidationError("--database must be a postgres:// URL, e.g. postgres://limsqueue:secret@127.0.0.1:5432/limsqueue, "
                                  + "or through the local socket postgres://limsqueue@/limsqueue?host=/var/run/postgresql")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
        guard ["text", "json"].contains(logFormat) else { throw ValidationError("--log-format must be text or json") }
        if let durability, Durability(rawValue: durability) == nil {
            throw ValidationError("--durability must be normal or full")
        }
    }

    /// A logger at the chosen level, writing to standard error.
    func logger(_ label: String) -> Logger {
        LogSetup.bootstrapOnce(json: logFormat == "json")
        var logger = Logger(label: label)
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        return logger
    }
}

/// Options of the commands that serve HTTP.
struct ListenOptions: ParsableArguments {
    @Option(name: .long, help: "Address to listen on.")
    var host: String = "127.0.0.1"

    @Option(name: .long, help: "Port to listen on (0 picks a free one).")
    var port: Int = 8080

    @Option(name: .long, help: "Longest wait a pop may ask for, seconds.")
    var maxPopWait: Double = 30

    @Option(name: .long, help: "Failed logins of one user name from one client address within 5 minutes before that name gets 429 from that address.")
    var loginFailuresPerUser: Int = 5

    @Option(name: .long, help: "Failed logins for existing user names from one client address within 5 minutes before that address gets 429.")
    var loginFailuresPerAddress: Int = 20

    @Option(name: .long, help: "A reverse proxy (IP address, repeatable) whose X-Forwarded-For header names the client address; default: none (the connection's address is the client's).")
    var trustedProxy: [String] = []

    /// Fails when `host:port` cannot be listened on (another program holds the port, or the address is not this
    /// machine's), before a first start imports anything: a tryout's `serve --data-dir new --port 8090` on a port in
    /// use imported the demo lab and then printed NIO's bare "bind(descriptor:ptr:bytes:): Address already in use".
    /// Port 0 (a free port picked at start) is not checked.
    /// - Throws: ``CLIError`` naming the address and what to do.
    func checkAvailable() async throws {
        guard port != 0 else { return }
        do {
            let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: host, port: port).get()
            try await channel.close()
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            throw CLIError("Cannot listen on \(host):\(port): another program already uses that port. Stop it, or choose another "
                           + "port with --port.")
        } catch {
            throw CLIError("Cannot listen on \(host):\(port): \(error). Check --host (an address of this machine) and --port.")
        }
    }

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0...65535") }
        guard maxPopWait.isFinite, (0...3600).contains(maxPopWait) else { throw ValidationError("--max-pop-wait must be in 0...3600 seconds") }
        for proxy in trustedProxy where proxy.isEmpty || proxy.contains(where: { !($0.isHexDigit || $0 == "." || $0 == ":") }) {
            throw ValidationError("--trusted-proxy must be an IP address, not '\(proxy)'")
        }
        guard loginFailuresPerUser >= 1, loginFailuresPerAddress >= 1 else {
            throw ValidationError("--login-failures-per-user and --login-failures-per-address must be 1 or more")
        }
    }
}

/// The process's logging backend: text (`StreamLogHandler`) or JSON lines on standard error, always behind
/// ``RedactingLogHandler``. Bootstrapped once per process (by the first command that asks for a logger).
enum LogSetup {
    private static let done = Mutex(false)

    static func bootstrapOnce(json: Bool = false) {
        let first = done.withLock { done in
            defer { done = true }
            return !done
        }
        guard first else { return }
        LoggingSystem.bootstrap { label in
            let base: any LogHandler = json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            return RedactingLogHandler(base: base)
        }
    }
}

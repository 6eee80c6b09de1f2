import ArgumentParser
import Foundation
import Logging

/// Options every subcommand shares.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: "Directory holding the embedded database (limsqueue.sqlite).")
    var dataDir: String = "./var"

    @Option(name: .long, help: "PostgreSQL URL (postgres://user:password@host:port/database) instead of the embedded SQLite; default: env LIMSQUEUE_DATABASE_URL, else SQLite in --data-dir.")
    var database: String?

    /// `--database`, else env `LIMSQUEUE_DATABASE_URL`; nil for the embedded SQLite.
    var databaseURL: String? {
        database ?? ProcessInfo.processInfo.environment["LIMSQUEUE_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = ProcessInfo.processInfo.environment["LOG_LEVEL"] ?? "info"

    func validate() throws {
        if let database = databaseURL, !(database.hasPrefix("postgres://") || database.hasPrefix("postgresql://")) {
            throw ValidationError("--database must be a postgres:// URL, e.g. postgres://limsqueue:secret@127.0.0.1:5432/limsqueue")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
    }

    /// A logger at the chosen level, writing to standard error.
    func logger(_ label: String) -> Logger {
        LogSetup.bootstrapOnce()
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

    @Option(name: .long, help: "Failed logins per user name within 5 minutes before further attempts get 429.")
    var loginFailuresPerUser: Int = 5

    @Option(name: .long, help: "Failed logins per client address within 5 minutes before further attempts get 429.")
    var loginFailuresPerAddress: Int = 20

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0...65535") }
        guard maxPopWait.isFinite, (0...3600).contains(maxPopWait) else { throw ValidationError("--max-pop-wait must be in 0...3600 seconds") }
        guard loginFailuresPerUser >= 1, loginFailuresPerAddress >= 1 else {
            throw ValidationError("--login-failures-per-user and --login-failures-per-address must be 1 or more")
        }
    }
}

enum LogSetup {
    private static let once: Void = {
        LoggingSystem.bootstrap { label in StreamLogHandler.standardError(label: label) }
    }()

    static func bootstrapOnce() { _ = once }
}

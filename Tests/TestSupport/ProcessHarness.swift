import Foundation

/// Runs the built `limsqueue` binary as separate processes for kill and restart tests.
package final class LimsProcess: Sendable {
    /// The running process.
    package let process: ChildProcess
    /// Where its standard output and error go.
    package let logPath: String

    /// The `limsqueue` binary next to the test bundle (built by `swift build`/`swift test`).
    package static var binary: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var directory = URL(fileURLWithPath: exe).deletingLastPathComponent()
        if directory.lastPathComponent.hasSuffix(".xctest") || directory.path.contains(".xctest/") {
            while directory.lastPathComponent != "debug" && directory.lastPathComponent != "release" && directory.path != "/" {
                directory.deleteLastPathComponent()
            }
        }
        return directory.appendingPathComponent("limsqueue").path
    }

    /// Starts `limsqueue` with `arguments`, logging to `<logDirectory>/<name>.log`.
    /// - Throws: ``HarnessError`` when it cannot be started.
    package init(_ arguments: [String], logDirectory: String, name: String, environment: [String: String] = [:]) throws {
        logPath = URL(fileURLWithPath: logDirectory).appendingPathComponent("\(name).log").path
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        process = try ChildProcess(Self.binary, arguments, environment: env, output: .file(logPath))
    }

    /// The log so far.
    package var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Waits until the log contains `text`; returns the log. Throws after `seconds`.
    @discardableResult
    package func waitForLog(_ text: String, seconds: Double = 30) async throws -> String {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let current = log
            if current.contains(text) { return current }
            if !process.isRunning { throw HarnessError("process exited before logging '\(text)':\n\(current)") }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw HarnessError("timed out waiting for '\(text)':\n\(log)")
    }

    /// The port a server logged (`queue server listening ... http://127.0.0.1:PORT`).
    /// Waits up to 120 s: a first start imports the setup workbook before it listens (bcrypt of its passwords in a
    /// debug build), which on a loaded 2-core machine (the PostgreSQL pass runs suites in parallel) took more than
    /// the default 30 s once. A process that exits fails at once.
    package func listeningPort() async throws -> Int {
        let text = try await waitForLog("queue server listening", seconds: 120)
        guard let range = text.range(of: #"http://127\.0\.0\.1:(\d+)"#, options: .regularExpression),
              let port = Int(text[range].split(separator: ":").last ?? "") else {
            throw HarnessError("no port in log:\n\(text)")
        }
        return port
    }

    /// Sends `signal` when the process still runs.
    package func kill(_ signal: Int32) {
        process.signal(signal)
    }

    /// Waits for the process to exit (up to `seconds`), then SIGKILLs it.
    package func waitForExit(seconds: Double = 30) async -> Int32? {
        if let status = await process.wait(seconds: seconds) { return status }
        kill(SIGKILL)
        process.waitUntilExit()
        return nil
    }
}

/// A test harness gave up (a timeout, a process that exited, a missing setting).
package struct HarnessError: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}

/// Polls `condition` every 50 ms until it holds or `seconds` pass.
package func eventually(_ seconds: Double = 60, _ what: String, _ condition: () async throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw HarnessError("timed out after \(seconds) s waiting for: \(what)")
}

/// Runs `limsqueue` with `arguments` (plus the test database's storage options, see
/// ``TestDatabase/arguments(dataDir:)``, and a quiet log level) to completion.
/// - Returns: the exit status and standard output and error together.
package func runLimsQueue(_ arguments: [String], dataDir: String, environment: [String: String]? = nil, directory: String? = nil,
                  timeoutSeconds: Double? = nil) async throws -> (status: Int32, output: String) {
    let finished = try await ChildProcess.run(LimsProcess.binary,
                                        arguments + (try await TestDatabase.arguments(dataDir: dataDir)) + ["--log-level", "warning"],
                                        environment: environment, directory: directory, timeoutSeconds: timeoutSeconds)
    return (finished.status, finished.output)
}

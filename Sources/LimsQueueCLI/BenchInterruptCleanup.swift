import Dispatch
import Foundation
import Logging
import Synchronization

/// What a benchmark leaves behind if it is interrupted, undone on SIGINT or SIGTERM: settings it changed (`bench
/// queue --database` raises `max_consumers`), the `serve` children it started (Foundation puts them in process
/// groups of their own, so a terminal's Ctrl-C never reaches them), the PostgreSQL databases it created and its
/// temporary directories. Then the process exits with 128 + the signal.
///
/// Found by a fresh user: Ctrl-C on `bench scale` left a running server, a `lq_scale_*` database and 27 MB of
/// SQLite lab behind.
final class BenchInterruptCleanup: Sendable {
    private struct Leftovers {
        var processes: [Int: Process] = [:]
        var databases: [String: (name: String, serverURL: String)] = [:]
        var directories: Set<String> = []
        /// Work to undo first (settings a bench changed on a database it does not own), by registration id.
        var undos: [Int: @Sendable () async -> Void] = [:]
        var nextID = 0
    }

    private let leftovers = Mutex(Leftovers())
    private let logger: Logger
    /// The signal sources, kept alive for the process's life (written once, at install, before any signal).
    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []

    init(logger: Logger) {
        self.logger = logger
    }

    /// Handles SIGINT and SIGTERM from now on: cleans up, then exits.
    func install() {
        var installed: [any DispatchSourceSignal] = []
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN) // delivered to the dispatch source instead of ending the process at once
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [self] in
                Task {
                    await cleanUp()
                    exit(128 + number)
                }
            }
            source.resume()
            installed.append(source)
        }
        Self.sources = installed
    }

    /// Registers a child process until ``forget(process:)``. - Returns: its registration id.
    func remember(_ process: Process) -> Int {
        leftovers.withLock { l in
            l.nextID += 1
            l.processes[l.nextID] = process
            return l.nextID
        }
    }

    func forget(process id: Int) { leftovers.withLock { _ = $0.processes.removeValue(forKey: id) } }

    /// Registers work to undo on an interrupt, before anything else, until ``forget(undo:)``.
    /// - Returns: its registration id.
    func remember(undo: @escaping @Sendable () async -> Void) -> Int {
        leftovers.withLock { l in
            l.nextID += 1
            l.undos[l.nextID] = undo
            return l.nextID
        }
    }

    func forget(undo id: Int) { leftovers.withLock { _ = $0.undos.removeValue(forKey: id) } }

    /// Registers a database to drop until ``forget(database:)``.
    func remember(database name: String, serverURL: String) {
        leftovers.withLock { $0.databases[name] = (name, serverURL) }
    }

    func forget(database name: String) { leftovers.withLock { _ = $0.databases.removeValue(forKey: name) } }

    /// Registers a directory to remove until ``forget(directory:)``.
    func remember(directory path: String) { leftovers.withLock { _ = $0.directories.insert(path) } }

    func forget(directory path: String) { leftovers.withLock { _ = $0.directories.remove(path) } }

    /// Runs the undo work, stops the children (SIGTERM, then waits), drops the databases, removes the directories.
    func cleanUp() async {
        let current = leftovers.withLock { l -> Leftovers in
            let taken = l
            l = Leftovers()
            return taken
        }
        for undo in current.undos.values { await undo() }
        for process in current.processes.values where process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        for database in current.databases.values {
            do {
                try await StorageEnvironment.dropDatabase(named: database.name, serverURL: database.serverURL, logger: logger)
            } catch {
                FileHandle.standardError.write(Data("could not drop database \(database.name): \(error)\n".utf8))
            }
        }
        for directory in current.directories { try? FileManager.default.removeItem(atPath: directory) }
        if !(current.processes.isEmpty && current.databases.isEmpty && current.directories.isEmpty) {
            FileHandle.standardError.write(Data("interrupted: stopped \(current.processes.count) server(s), dropped \(current.databases.count) database(s), removed \(current.directories.count) directory(ies)\n".utf8))
        }
    }
}

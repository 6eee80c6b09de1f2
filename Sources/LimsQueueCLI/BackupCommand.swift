import ArgumentParser
import Foundation
import InlineSQLite
import NIOPosix
import Storage
#if canImport(Glibc)
import Glibc
#endif

/// `limsqueue backup FILE`: a consistent copy of the embedded SQLite database, taken while LimsQueue runs
/// (``Storage/SQLiteBackup``), checked and summed up before it gets its name. On PostgreSQL the server's own tools
/// back up (`pg_dump`).
struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Copy the SQLite database (lab and queue) to a file, consistently, while LimsQueue runs.",
        discussion: """
            The copy is the database at one instant, taken without stopping serve, web, server or consumers, and \
            checked (SQLite's quick_check) before it is given its name; a copy that fails its check is removed. \
            FILE must not exist; a directory gets a file named limsqueue-YYYYMMDD-HHMMSS.sqlite (UTC). \
            To restore: stop every LimsQueue process of the data directory, move limsqueue.sqlite and its -wal and \
            -shm files aside, copy the backup to <data-dir>/limsqueue.sqlite and start again (an older backup is \
            migrated on start). On PostgreSQL use pg_dump (see README).
            """
    )

    @OptionGroup var common: CommonOptions

    @Argument(help: "The backup file to write (must not exist), or a directory to write a dated file into.")
    var file: String

    func run() async throws {
        if let url = common.databaseURL {
            throw CLIError("backup copies the embedded SQLite database; this LimsQueue uses PostgreSQL (\(PostgresURL.redacted(url))): "
                           + "back it up with the server's tools, e.g. pg_dump --format=custom --file=limsqueue.dump '<URL>', "
                           + "and restore with pg_restore into an empty database")
        }
        try StorageEnvironment.requireDatabase(dataDir: common.dataDir)
        let target = try Self.target(file, now: Date())
        let partial = target + ".partial"
        try? FileManager.default.removeItem(atPath: partial) // left by a run that was killed
        let logger = common.logger("limsqueue.backup")
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let started = ContinuousClock.now
        let summary: SQLiteBackup.Summary
        do {
            let source = try InlineSQLiteConnection(path: StorageEnvironment.sqlitePath(dataDir: common.dataDir), logger: logger, eventLoop: loop)
            defer { source.close() }
            try await SQLiteBackup.write(from: source, to: partial)
            try Self.sync(partial)
            let copy = try InlineSQLiteConnection(path: partial, logger: logger, eventLoop: loop)
            defer { copy.close() }
            summary = try await SQLiteBackup.summary(of: copy)
        } catch {
            try? FileManager.default.removeItem(atPath: partial)
            throw CLIError("backup to \(target) failed: \(error)")
        }
        guard summary.check == "ok" else {
            try? FileManager.default.removeItem(atPath: partial)
            throw CLIError("backup to \(target) failed its check (\(summary.check.prefix(200))); nothing was kept")
        }
        guard rename(partial, target) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: partial)
            throw CLIError("cannot name the backup \(target): \(reason)")
        }
        let directory = (target as NSString).deletingLastPathComponent
        try? Self.sync(directory.isEmpty ? "." : directory)
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let bytes = (try? FileManager.default.attributesOfItem(atPath: target)[.size] as? Int) ?? 0
        let tasks = ["queued", "running", "failed"].map { "\(summary.tasks[$0] ?? 0) \($0)" }.joined(separator: ", ")
        print(String(format: "backup written: %@ (%.1f MB in %.1f s; %d lab objects; tasks: %@; %d migrations; check ok)",
                     target, Double(bytes) / 1_048_576, seconds, summary.labObjects, tasks, summary.migrations))
    }

    /// The file to write: `file` itself, or a dated name in it when it is a directory.
    /// - Throws: ``CLIError`` when the file exists or its directory does not.
    static func target(_ file: String, now: Date) throws -> String {
        var isDirectory: ObjCBool = false
        var path = file
        if FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory), isDirectory.boolValue {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "UTC")
            formatter.dateFormat = "yyyyMMdd-HHmmss"
            path = (file as NSString).appendingPathComponent("limsqueue-\(formatter.string(from: now)).sqlite")
        }
        guard !FileManager.default.fileExists(atPath: path) else {
            throw CLIError("\(path) exists: a backup never overwrites a file; name a new one (or a directory)")
        }
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            var exists: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory, isDirectory: &exists), exists.boolValue else {
                throw CLIError("the directory \(directory) does not exist")
            }
        }
        return path
    }

    /// Flushes `path` (a file or a directory) to the disk.
    static func sync(_ path: String) throws {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw CLIError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw CLIError("cannot flush \(path) to disk: \(String(cString: strerror(errno)))") }
    }
}

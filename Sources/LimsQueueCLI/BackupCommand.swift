import ArgumentParser
import Dispatch
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
            checked (SQLite's quick_check) before it is given its name; a copy that fails its check, or is \
            interrupted (Ctrl-C, SIGTERM), is removed. FILE must not exist; a directory gets a file named \
            limsqueue-YYYYMMDD-HHMMSS.sqlite (UTC; -2, -3... when that name is taken). The copy is written first \
            as .limsqueue-backup-<pid>.partial beside it; those of backups that were killed are removed by the next \
            backup into that directory. To restore: stop every LimsQueue process of the data directory and run \
            `limsqueue restore FILE`. On PostgreSQL use pg_dump (see README). \
            --durability does not apply.
            """
    )

    @OptionGroup var common: CommonOptions

    @Argument(help: "The backup file to write (must not exist), or an existing directory to write a dated file into.")
    var file: String

    /// Where a backup goes: its directory (absolute) and either its file name or, for a directory target, none.
    struct Target: Equatable {
        var directory: String
        var name: String?

        /// The file names to try, in order: the given one, or dated ones (`-2`, `-3`, ... when taken).
        func names(now: Date) -> [String] {
            if let name { return [name] }
            let stem = "limsqueue-\(BackupCommand.stamp(now))"
            return [stem + ".sqlite"] + (2...99).map { "\(stem)-\($0).sqlite" }
        }
    }

    func run() async throws {
        if let url = common.databaseURL {
            throw CLIError("backup copies the embedded SQLite database; this LimsQueue uses PostgreSQL (\(PostgresURL.redacted(url))): "
                           + "back it up with the server's tools, e.g. pg_dump --format=custom --file=limsqueue.dump '<URL>', "
                           + "and restore with pg_restore into an empty database")
        }
        try StorageEnvironment.requireDatabase(dataDir: common.dataDir)
        let target = try Self.target(file, currentDirectory: FileManager.default.currentDirectoryPath)
        // SQLite owns the database's -journal, -wal and -shm names: a backup written as the -journal was deleted, as a
        // stale journal, by the next command that opened the database (a tryout).
        let database = (StorageEnvironment.sqlitePath(dataDir: common.dataDir) as NSString).standardizingPath
        if let name = target.name, ["-journal", "-wal", "-shm"].contains(where: { target.directory + "/" + name == database + $0 }) {
            throw CLIError("\(TerminalText.safe(name)) is a name SQLite uses for the database's own files; name the backup otherwise")
        }
        Self.removeStalePartials(in: target.directory)
        let partial = target.directory + "/.limsqueue-backup-\(getpid()).partial"
        let cleanup = Self.removeOnSignal([partial, partial + "-journal"])
        defer { withExtendedLifetime(cleanup) {} }
        let logger = common.logger("limsqueue.backup")
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let started = ContinuousClock.now
        let summary: SQLiteBackup.Summary
        do {
            let source = try InlineSQLiteConnection(path: StorageEnvironment.sqlitePath(dataDir: common.dataDir), logger: logger, eventLoop: loop)
            defer { source.close() }
            try await SQLiteBackup.write(from: source, to: partial)
            _ = try WALGroupSync.fsyncFile(partial)
            let copy = try InlineSQLiteConnection(path: partial, logger: logger, eventLoop: loop)
            defer { copy.close() }
            summary = try await SQLiteBackup.summary(of: copy)
        } catch {
            Self.remove([partial, partial + "-journal"])
            throw CLIError("backup into \(TerminalText.safe(target.directory)) failed: \(Self.explained(error))")
        }
        guard summary.check == "ok" else {
            Self.remove([partial, partial + "-journal"])
            throw CLIError("the backup failed its check (\(summary.check.prefix(200))); nothing was kept")
        }
        let path: String
        do {
            path = try Self.name(partial, in: target, now: Date())
        } catch {
            Self.remove([partial, partial + "-journal"])
            throw error
        }
        try? WALGroupSync.fsyncDirectory(target.directory)
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        let tasks = ["queued", "running", "failed"].map { "\(summary.tasks[$0] ?? 0) \($0)" }.joined(separator: ", ")
        print(String(format: "backup written: %@ (%.1f MB in %.1f s; %d lab objects; tasks: %@; %d migrations; check ok)",
                     TerminalText.safe(path), Double(bytes) / 1_048_576, seconds, summary.labObjects, tasks, summary.migrations))
    }

    /// The time part of backup and restore file names, `YYYYMMDD-HHMMSS` in UTC.
    static func stamp(_ now: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        return formatter.string(from: now)
    }

    /// Longest file name (bytes) most Linux file systems take.
    static let maxNameBytes = 255

    /// Reads `file` (relative to `currentDirectory`): an existing directory (or one written with a trailing `/`,
    /// which must exist), or a file name in an existing, writable directory. Paths are made absolute, so SQLite
    /// never reads a name such as `file:x` as a URI.
    /// - Throws: ``CLIError`` when the file exists (a dangling symbolic link too), its directory does not exist or
    ///   cannot be written, or the name is too long.
    static func target(_ file: String, currentDirectory: String) throws -> Target {
        guard !file.isEmpty else { throw CLIError("name the backup file or a directory for it (the argument is empty)") }
        let absolute = file.hasPrefix("/") ? file : (currentDirectory as NSString).appendingPathComponent(file)
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: absolute, isDirectory: &isDirectory)
        let target: Target
        if exists, isDirectory.boolValue {
            target = Target(directory: (absolute as NSString).standardizingPath, name: nil)
        } else if file.hasSuffix("/") {
            throw CLIError("the directory \(TerminalText.safe(file)) does not exist")
        } else {
            let name = (absolute as NSString).lastPathComponent
            guard name.utf8.count <= maxNameBytes else {
                throw CLIError("the file name \(TerminalText.safe(String(name.prefix(40))))... is too long (\(name.utf8.count) bytes; at most \(maxNameBytes))")
            }
            let directory = ((absolute as NSString).deletingLastPathComponent as NSString).standardizingPath
            guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw CLIError("the directory \(TerminalText.safe(directory)) does not exist")
            }
            // lstat: a symbolic link, even one pointing nowhere, is a file that exists.
            var info = stat()
            guard lstat(absolute, &info) != 0 else {
                throw CLIError("\(TerminalText.safe(absolute)) exists: a backup never overwrites a file; name a new one (or a directory)")
            }
            target = Target(directory: directory, name: name)
        }
        guard access(target.directory, W_OK | X_OK) == 0 else {
            let reason = String(cString: strerror(errno))
            throw CLIError("cannot write in \(TerminalText.safe(target.directory)): \(reason)")
        }
        return target
    }

    /// Gives the checked copy its name without ever replacing a file (`link`, which fails when the name exists, then
    /// removing the partial name); a directory target takes the next free dated name.
    /// - Returns: the backup's path. - Throws: ``CLIError`` when the name is taken or cannot be made.
    static func name(_ partial: String, in target: Target, now: Date) throws -> String {
        for name in target.names(now: now) {
            let path = target.directory + "/" + name
            if link(partial, path) == 0 {
                unlink(partial)
                return path
            }
            let failure = errno
            if failure == EEXIST {
                if target.name != nil {
                    throw CLIError("\(TerminalText.safe(path)) appeared while the backup ran: a backup never overwrites a file; the copy was removed")
                }
                continue
            }
            // A file system without hard links: rename, after checking the name is free.
            var info = stat()
            if (failure == EPERM || failure == ENOTSUP || failure == EXDEV), lstat(path, &info) != 0, rename(partial, path) == 0 {
                return path
            }
            throw CLIError("cannot name the backup \(TerminalText.safe(path)): \(String(cString: strerror(failure)))")
        }
        throw CLIError("every dated name in \(TerminalText.safe(target.directory)) for this second is taken")
    }

    /// Removes the partial copies (and their journals) of backups (or, with `prefix`, restores) whose process is gone
    /// from `directory`: files named `<prefix><pid>.partial` and that name with `-journal`, `-wal` or `-shm`.
    static func removeStalePartials(in directory: String, prefix: String = ".limsqueue-backup-") {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names where name.hasPrefix(prefix) {
            let rest = name.dropFirst(prefix.count)
            guard let dot = rest.firstIndex(of: "."), let pid = Int32(rest[..<dot]),
                  [".partial", ".partial-journal", ".partial-wal", ".partial-shm"].contains(rest[dot...]) else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { unlink(directory + "/" + name) }
        }
    }

    static func remove(_ paths: [String]) {
        for path in paths { unlink(path) }
    }

    /// On SIGINT or SIGTERM: removes `paths`, prints `message`, then exits with 128 + the signal.
    /// - Returns: the signal sources (keep them).
    static func removeOnSignal(_ paths: [String], message: String = "backup interrupted; the partial copy was removed")
        -> [any DispatchSourceSignal]
    {
        [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                remove(paths)
                FileHandle.standardError.write(Data((message + "\n").utf8))
                Glibc.exit(128 + number)
            }
            source.resume()
            return source
        }
    }

    /// An error of SQLite or the file system as an operator reads it.
    static func explained(_ error: any Error) -> String {
        guard let sqlite = error as? InlineSQLiteError else { return "\(error)" }
        switch sqlite.code & 0xFF {
        case 14: return "the copy cannot be created there (\(sqlite.message))"
        case 8: return "this user cannot read the database while no LimsQueue process has it open (SQLite needs to write its "
            + "-shm file beside it); run backup as the user that runs LimsQueue"
        case 13: return "the disk is full"
        case 10: return "a disk I/O error (\(sqlite.message))"
        default: return "\(sqlite.message) (SQLite error \(sqlite.code))"
        }
    }
}

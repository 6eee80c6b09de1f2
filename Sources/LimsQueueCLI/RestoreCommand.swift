import ArgumentParser
import Foundation
import InlineSQLite
import Logging
import NIOCore
import NIOPosix
import Storage
#if canImport(Glibc)
import Glibc
#endif

/// `limsqueue restore FILE`: puts a backup (``BackupCommand``) in place of the data directory's SQLite database, after
/// checking the backup (SQLite's `quick_check`, LimsQueue's tables, a schema this build knows) and that no process has
/// the database open (``Storage/SQLiteBackup/requireSoleConnection(_:)``). The database it replaces is kept beside it,
/// never deleted. On PostgreSQL the server's own tools restore (`pg_restore`).
struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Replace the SQLite database (lab and queue) with a backup; the replaced database is kept.",
        discussion: """
            Stop every LimsQueue process of the data directory first (serve, server, web, consumers): restore refuses \
            while any of them has the database open. The backup is copied into the data directory as \
            .limsqueue-restore-<pid>.partial and checked (SQLite's quick_check, LimsQueue's tables, a schema this \
            version knows) before anything is replaced; the database it replaces is renamed \
            limsqueue-replaced-YYYYMMDD-HHMMSS.sqlite (UTC) in the same directory, never deleted. A data directory \
            without a database gets the backup as its database. A backup of an earlier version is migrated when \
            LimsQueue next starts. Tasks that were running when the backup was taken time out when their lease ends \
            and are retried as usual. On PostgreSQL restore a pg_dump with pg_restore (see README).
            """
    )

    @OptionGroup var common: CommonOptions

    @Argument(help: "The backup file to restore (written by `limsqueue backup`).")
    var file: String

    func run() async throws {
        if let url = common.databaseURL {
            throw CLIError("restore replaces the embedded SQLite database; this LimsQueue uses PostgreSQL (\(PostgresURL.redacted(url))): "
                           + "restore a pg_dump with pg_restore into an empty database, e.g. createdb limsqueue2 && "
                           + "pg_restore --dbname=limsqueue2 limsqueue.dump, and give serve that database's URL")
        }
        let currentDirectory = FileManager.default.currentDirectoryPath
        let dataDir = Self.absolute(common.dataDir, in: currentDirectory)
        let live = StorageEnvironment.sqlitePath(dataDir: dataDir)
        let source = try Self.source(file, currentDirectory: currentDirectory, live: live)
        do {
            try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        } catch {
            throw CLIError("cannot create the data directory \(TerminalText.safe(dataDir)): \(error.localizedDescription)")
        }
        guard access(dataDir, W_OK | X_OK) == 0 else {
            let reason = String(cString: strerror(errno))
            throw CLIError("cannot write in the data directory \(TerminalText.safe(dataDir)): \(reason)")
        }
        BackupCommand.removeStalePartials(in: dataDir, prefix: Self.partialPrefix)
        let partial = dataDir + "/\(Self.partialPrefix)\(getpid()).partial"
        let partialFiles = [partial, partial + "-journal", partial + "-wal", partial + "-shm"]
        let cleanup = BackupCommand.removeOnSignal(partialFiles, message: "restore interrupted; nothing was replaced")
        defer { withExtendedLifetime(cleanup) {} }
        let logger = common.logger("limsqueue.restore")
        let loop = MultiThreadedEventLoopGroup.singleton.next()

        // 1. The backup, copied beside the database and checked there (the backup file itself is only read).
        let summary: SQLiteBackup.Summary
        do {
            try FileManager.default.copyItem(atPath: source, toPath: partial)
            _ = try WALGroupSync.fsyncFile(partial)
            summary = try await Self.check(partial, logger: logger, loop: loop)
        } catch {
            BackupCommand.remove(partialFiles)
            throw (error as? CLIError) ?? CLIError("cannot restore \(TerminalText.safe(source)): \(Self.explained(error))")
        }

        // 2. No process has the database open; closing this, the last connection, folds its -wal into the file.
        var replaced: String?
        if FileManager.default.fileExists(atPath: live) {
            do {
                let connection = try InlineSQLiteConnection(path: live, logger: logger, eventLoop: loop,
                                                            busyTimeoutMilliseconds: Self.lockWaitMilliseconds)
                defer { connection.close() }
                try await SQLiteBackup.requireSoleConnection(connection)
            } catch {
                BackupCommand.remove(partialFiles)
                if let sqlite = error as? InlineSQLiteError, sqlite.code & 0xFF == 5 {
                    throw CLIError("a LimsQueue process has \(TerminalText.safe(live)) open (serve, server, web, a consumer of this data directory, "
                                   + "or a backup running): stop them first; nothing was changed")
                }
                throw CLIError("cannot check \(TerminalText.safe(live)) before replacing it: \(Self.explained(error)); nothing was changed")
            }
            if Self.size(of: live + "-wal") > 0 {
                BackupCommand.remove(partialFiles)
                throw CLIError("\(TerminalText.safe(live))-wal still holds changes after the database was closed; nothing was changed "
                               + "(start and stop `limsqueue serve` once, then restore again)")
            }
            // 3. The database it replaces keeps a name of its own, never overwriting a file.
            do {
                replaced = try Self.moveAside(live, in: dataDir, now: Date())
            } catch {
                BackupCommand.remove(partialFiles)
                throw error
            }
            unlink(live + "-shm")
            unlink(live + "-wal")
        }
        // 4. The checked copy takes the database's name.
        guard rename(partial, live) == 0 else {
            let failure = String(cString: strerror(errno))
            if let replaced { rename(replaced, live) }
            BackupCommand.remove(partialFiles)
            throw CLIError("cannot put the backup in place as \(TerminalText.safe(live)): \(failure); the database was left as it was")
        }
        try? WALGroupSync.fsyncDirectory(dataDir)
        print(Self.report(source: source, live: live, replaced: replaced, summary: summary))
    }

    /// Name prefix of the partial copy in the data directory (`.limsqueue-restore-<pid>.partial`).
    static let partialPrefix = ".limsqueue-restore-"

    /// How long the check that no process has the database open waits for a lock, milliseconds: a process that has it
    /// open keeps its lock for good, so waiting longer only delays the refusal.
    static let lockWaitMilliseconds: Int32 = 500

    /// Reads `file` (relative to `currentDirectory`) as the backup to restore: an existing, readable, regular file
    /// (a symbolic link to one is followed) that is neither the database `live` nor one with a write-ahead log
    /// beside it.
    /// - Returns: its absolute path. - Throws: ``CLIError`` naming what is wrong.
    static func source(_ file: String, currentDirectory: String, live: String) throws -> String {
        guard !file.isEmpty else { throw CLIError("name the backup file to restore (the argument is empty)") }
        let path = absolute(file, in: currentDirectory)
        var info = stat()
        guard stat(path, &info) == 0 else {
            let reason = String(cString: strerror(errno))
            throw CLIError("cannot read the backup \(TerminalText.safe(path)): \(reason)")
        }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            throw CLIError("\(TerminalText.safe(path)) is a directory: name the backup file in it (limsqueue-YYYYMMDD-HHMMSS.sqlite)")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw CLIError("\(TerminalText.safe(path)) is not a regular file") }
        guard access(path, R_OK) == 0 else {
            let reason = String(cString: strerror(errno))
            throw CLIError("cannot read the backup \(TerminalText.safe(path)): \(reason)")
        }
        var liveInfo = stat()
        if stat(live, &liveInfo) == 0, liveInfo.st_dev == info.st_dev, liveInfo.st_ino == info.st_ino {
            throw CLIError("\(TerminalText.safe(path)) is this data directory's database itself; name a backup")
        }
        if size(of: path + "-wal") > 0 {
            throw CLIError("\(TerminalText.safe(path))-wal lies beside \(TerminalText.safe(path)): that file is a database in use, or was copied with its write-ahead "
                           + "log, and is no backup; take one with `limsqueue backup`")
        }
        return path
    }

    /// Checks the copy at `path`: SQLite's `quick_check`, LimsQueue's tables, a schema this build knows.
    /// - Returns: what it holds. - Throws: ``CLIError`` saying why it cannot be restored.
    static func check(_ path: String, logger: Logger, loop: any EventLoop) async throws -> SQLiteBackup.Summary {
        let copy = try InlineSQLiteConnection(path: path, logger: logger, eventLoop: loop)
        defer { copy.close() }
        let summary: SQLiteBackup.Summary
        do {
            summary = try await SQLiteBackup.summary(of: copy)
        } catch let error as InlineSQLiteError where [1, 26].contains(error.code & 0xFF) {
            // SQLITE_ERROR (no such table) or SQLITE_NOTADB.
            throw CLIError("the file is not a LimsQueue database (\(error.message)); nothing was changed")
        }
        guard summary.check == "ok" else {
            throw CLIError("the backup failed its check (\(summary.check.prefix(200))); nothing was changed")
        }
        do {
            try await StorageMigrations.requireKnownSchema(copy)
        } catch {
            throw CLIError("the backup was written by a newer LimsQueue (\(error)); restore it with that version; nothing was changed")
        }
        return summary
    }

    /// Renames the database `live` to the first free `limsqueue-replaced-YYYYMMDD-HHMMSS[-N].sqlite` of `directory`
    /// (`link`, which never replaces a file, then removing the old name).
    /// - Returns: the new path. - Throws: ``CLIError`` when no name could be made.
    static func moveAside(_ live: String, in directory: String, now: Date) throws -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        let stem = directory + "/limsqueue-replaced-\(formatter.string(from: now))"
        for path in [stem + ".sqlite"] + (2...99).map({ "\(stem)-\($0).sqlite" }) {
            if link(live, path) == 0 {
                unlink(live)
                return path
            }
            if errno == EEXIST { continue }
            var info = stat()
            if lstat(path, &info) != 0, rename(live, path) == 0 { return path }
            let reason = String(cString: strerror(errno))
            throw CLIError("cannot keep the replaced database as \(TerminalText.safe(path)): \(reason); nothing was changed")
        }
        throw CLIError("every name limsqueue-replaced-... for this second is taken in \(TerminalText.safe(directory)); nothing was changed")
    }

    /// What the operator reads once the backup is in place.
    static func report(source: String, live: String, replaced: String?, summary: SQLiteBackup.Summary) -> String {
        let tasks = ["queued", "running", "failed"].map { "\(summary.tasks[$0] ?? 0) \($0)" }.joined(separator: ", ")
        let megabytes = Double(size(of: live)) / 1_048_576
        var lines = [String(format: "restored %@ as %@ (%.1f MB; %d lab objects; tasks: %@; %d migrations; check ok)",
                            TerminalText.safe(source), TerminalText.safe(live), megabytes, summary.labObjects, tasks, summary.migrations)]
        lines.append(replaced.map { "the database it replaced is kept as \(TerminalText.safe($0)); delete it when it is no longer needed" }
                     ?? "the data directory had no database")
        if let running = summary.tasks["running"], running > 0 {
            lines.append("\(running) task(s) were running when the backup was taken: each times out when its lease ends and is retried as usual")
        }
        if summary.migrations < StorageMigrations.all.count {
            lines.append("the backup is from an earlier version: LimsQueue migrates it when it next starts")
        }
        return lines.joined(separator: "\n")
    }

    static func absolute(_ path: String, in directory: String) -> String {
        ((path.hasPrefix("/") ? path : (directory as NSString).appendingPathComponent(path)) as NSString).standardizingPath
    }

    static func size(of path: String) -> Int {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : 0
    }

    /// An error of SQLite or the file system as an operator reads it.
    static func explained(_ error: any Error) -> String {
        guard let sqlite = error as? InlineSQLiteError else { return (error as NSError).localizedDescription }
        switch sqlite.code & 0xFF {
        case 13: return "the disk is full"
        case 10: return "a disk I/O error (\(sqlite.message))"
        default: return "\(sqlite.message) (SQLite error \(sqlite.code))"
        }
    }
}

import ArgumentParser
import Dispatch
import Foundation
import InlineSQLite
import Logging
import NIOCore
import NIOPosix
import Storage
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// `limsqueue restore FILE`: puts a backup (``BackupCommand``) in place of the data directory's SQLite database, after
/// checking the backup (SQLite's `integrity_check`, LimsQueue's tables, a schema this build knows) and that no process
/// has the database open (``RestoreCommand/requireUnused(_:logger:loop:)``). The database it replaces is kept beside
/// it, never deleted. On PostgreSQL the server's own tools restore (`pg_restore`).
struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Replace the SQLite database (lab and queue) with a backup; the replaced database is kept.",
        discussion: """
            Stop every LimsQueue process of the data directory first (serve, server, web, consumers): restore refuses \
            while any process has the database open. The backup is copied beside the database as \
            .limsqueue-restore-<pid>.partial and checked (SQLite's integrity_check, LimsQueue's tables, a schema this \
            version knows) before anything is replaced; the database it replaces (even one too damaged to open) is \
            renamed limsqueue-replaced-YYYYMMDD-HHMMSS.sqlite (UTC) in the same directory, never deleted, and the \
            restored file takes its owner and permissions. A write-ahead log left beside a database that is gone is \
            set aside the same way (limsqueue-orphaned-...), never applied to the backup. A data directory without a \
            database gets the backup as its database. A backup of an earlier version is migrated when LimsQueue next \
            starts. Tasks that were running when the backup was taken time out when their lease ends and are retried \
            as usual. An interrupt (Ctrl-C, SIGTERM, SIGHUP) before the swap leaves everything as it was; once the \
            swap has begun it completes first. On PostgreSQL restore a pg_dump with pg_restore (see README).
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
        // The database's path exactly as every other command opens it; a symbolic link to it is followed, so the
        // restored file replaces the link's target where it lies (another disk, say), not the link.
        let linkPath = StorageEnvironment.sqlitePath(dataDir: common.dataDir)
        let dataDir = (linkPath as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        } catch {
            throw CLIError("cannot create the data directory \(TerminalText.safe(dataDir)): \(error.localizedDescription)")
        }
        let live = Self.resolved(linkPath)
        let directory = (live as NSString).deletingLastPathComponent
        let source = try Self.source(file, currentDirectory: FileManager.default.currentDirectoryPath, live: live)
        guard access(directory, W_OK | X_OK) == 0 else {
            let reason = String(cString: strerror(errno))
            throw CLIError("cannot write in \(TerminalText.safe(directory)): \(reason)")
        }
        let logger = common.logger("limsqueue.restore")
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        // Before copying gigabytes: refused at once while the database is in use.
        var damaged = try await Self.requireUnused(live, logger: logger, loop: loop)

        BackupCommand.removeStalePartials(in: directory, prefix: Self.partialPrefix)
        let partial = directory + "/\(Self.partialPrefix)\(getpid()).partial"
        let partialFiles = [partial, partial + "-journal", partial + "-wal", partial + "-shm"]
        let signals = RestoreSignals(removing: partialFiles)

        // 1. The backup, copied beside the database and checked there (the backup file itself is only read).
        let summary: SQLiteBackup.Summary
        do {
            try FileManager.default.copyItem(atPath: source, toPath: partial)
            Self.takeOwnership(of: partial, from: FileManager.default.fileExists(atPath: live) ? live : directory)
            _ = try WALGroupSync.fsyncFile(partial)
            summary = try await Self.check(partial, logger: logger, loop: loop)
        } catch {
            BackupCommand.remove(partialFiles)
            throw (error as? CLIError) ?? CLIError("cannot restore \(TerminalText.safe(source)): \(Self.explained(error, in: directory)); nothing was changed")
        }

        // 2. Again, just before the swap: no process has the database open; closing the check's connection, the last
        // one, folds its -wal into the file.
        do {
            damaged = try await Self.requireUnused(live, logger: logger, loop: loop)
        } catch {
            BackupCommand.remove(partialFiles)
            throw error
        }

        // 3. The swap: from here an interrupt waits until it is done.
        signals.enterSwap()
        let stamp = BackupCommand.stamp(Date())
        var replaced: String?
        var orphans: [String] = []
        do {
            if FileManager.default.fileExists(atPath: live) {
                let kept = try Self.moveAside(live, as: "limsqueue-replaced-\(stamp)", in: directory)
                replaced = kept
                // A damaged database's log and journal go with it (a sound one's log was folded in by the check).
                for suffix in ["-wal", "-journal"] where Self.size(of: live + suffix) > 0 { _ = rename(live + suffix, kept + suffix) }
            } else {
                // A log or journal beside a database that is gone belongs to that database: SQLite would apply it to
                // the restored file (a tryout's lab came out corrupted, another held the old database's tasks).
                for suffix in ["-wal", "-journal"] where Self.size(of: live + suffix) > 0 {
                    orphans.append(try Self.moveAside(live + suffix, as: "limsqueue-orphaned-\(stamp)", in: directory, suffix: ".sqlite" + suffix))
                }
            }
            for suffix in ["-shm", "-wal", "-journal"] { unlink(live + suffix) }
        } catch {
            signals.finishSwap()
            BackupCommand.remove(partialFiles)
            throw error
        }
        guard rename(partial, live) == 0 else {
            let failure = String(cString: strerror(errno))
            if let replaced { rename(replaced, live) }
            signals.finishSwap()
            BackupCommand.remove(partialFiles)
            throw CLIError("cannot put the backup in place as \(TerminalText.safe(live)): \(failure); the database was left as it was")
        }
        try? WALGroupSync.fsyncDirectory(directory)
        print(Self.report(source: source, live: live, replaced: replaced, damaged: damaged, orphans: orphans, summary: summary))
        signals.finishSwap()
    }

    /// Name prefix of the partial copy beside the database (`.limsqueue-restore-<pid>.partial`).
    static let partialPrefix = ".limsqueue-restore-"

    /// How long the check that no process has the database open waits for a lock, milliseconds: a process that has it
    /// open keeps its lock for good, so waiting longer only delays the refusal.
    static let lockWaitMilliseconds: Int32 = 500

    /// `path` with symbolic links resolved (`realpath`); a file that does not exist (any more) in its directory's
    /// resolved path; else as given.
    static func resolved(_ path: String) -> String {
        if let real = realpath(path, nil) {
            defer { free(real) }
            return String(cString: real)
        }
        let directory = (path as NSString).deletingLastPathComponent
        guard let real = realpath(directory, nil) else { return path }
        defer { free(real) }
        return (String(cString: real) as NSString).appendingPathComponent((path as NSString).lastPathComponent)
    }

    /// Reads `file` (relative to `currentDirectory`) as the backup to restore: an existing, readable, non-empty, regular
    /// file (symbolic links resolved) that is neither the database `live` nor one with a write-ahead log beside it.
    /// - Returns: its absolute, resolved path. - Throws: ``CLIError`` naming what is wrong.
    static func source(_ file: String, currentDirectory: String, live: String) throws -> String {
        guard !file.isEmpty else { throw CLIError("name the backup file to restore (the argument is empty)") }
        let given = file.hasPrefix("/") ? file : (currentDirectory as NSString).appendingPathComponent(file)
        var info = stat()
        guard stat(given, &info) == 0 else {
            let reason = String(cString: strerror(errno))
            throw CLIError("cannot read the backup \(TerminalText.safe(given)): \(reason)")
        }
        let path = resolved(given)
        if (info.st_mode & S_IFMT) == S_IFDIR {
            throw CLIError("\(TerminalText.safe(path)) is a directory: name the backup file in it (limsqueue-YYYYMMDD-HHMMSS.sqlite)")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw CLIError("\(TerminalText.safe(path)) is not a regular file") }
        guard info.st_size > 0 else { throw CLIError("\(TerminalText.safe(path)) is empty: it is no backup; nothing was changed") }
        guard access(path, R_OK) == 0 else {
            let reason = String(cString: strerror(errno))
            throw CLIError("cannot read the backup \(TerminalText.safe(path)): \(reason)")
        }
        var liveInfo = stat()
        if stat(live, &liveInfo) == 0, liveInfo.st_dev == info.st_dev, liveInfo.st_ino == info.st_ino {
            throw CLIError("\(TerminalText.safe(path)) is this data directory's database itself; name a backup")
        }
        if size(of: path + "-wal") > 0 {
            throw CLIError("\(TerminalText.safe(path))-wal lies beside \(TerminalText.safe(path)): that file is a database in use, or was "
                           + "copied with its write-ahead log, and is no backup; take one with `limsqueue backup`")
        }
        return path
    }

    /// Refuses while any process has the database at `live` open: first the processes whose open files this user may
    /// see (`/proc/<pid>/fd`: the database, its `-wal` or `-shm`), named with their pid and command; then SQLite's own
    /// check (``Storage/SQLiteBackup/requireSoleConnection(_:)``), which also sees connections of other users. A
    /// database too damaged for SQLite to open is reported, not refused: it is set aside like any other.
    /// - Returns: SQLite's complaint about a damaged database, nil for a sound one (or none).
    /// - Throws: ``CLIError`` naming the processes, or saying the database is in use.
    static func requireUnused(_ live: String, logger: Logger, loop: any EventLoop) async throws -> String? {
        // Also when the database file itself is gone: a server whose database was deleted under it still has the file
        // and its -wal and -shm open, and would go on writing into them (a tryout).
        let holders = openers(of: [live, live + "-wal", live + "-shm"])
        if !holders.isEmpty {
            throw CLIError("\(TerminalText.safe(live)) is open in " + holders.joined(separator: ", ")
                           + ": stop every LimsQueue process of this data directory (serve, server, web, consumers) first; nothing was changed")
        }
        guard FileManager.default.fileExists(atPath: live) else { return nil }
        do {
            let connection = try InlineSQLiteConnection(path: live, logger: logger, eventLoop: loop,
                                                        busyTimeoutMilliseconds: Self.lockWaitMilliseconds)
            defer { connection.close() }
            try await SQLiteBackup.requireSoleConnection(connection)
            return nil
        } catch let sqlite as InlineSQLiteError {
            switch sqlite.code & 0xFF {
            case 5, 6:
                throw CLIError("a process has \(TerminalText.safe(live)) open (a LimsQueue serve, server, web, consumer or backup of "
                               + "this data directory, or another program): stop it first; nothing was changed")
            case 11, 26:
                return "\(sqlite.message)"
            default:
                throw CLIError("cannot check \(TerminalText.safe(live)) before replacing it: \(explained(sqlite, in: nil)); nothing was changed")
            }
        }
    }

    /// The processes other than this one that have one of `paths` open, as `pid 123 (limsqueue)`, from `/proc` (Linux;
    /// only the processes whose descriptors this user may read).
    static func openers(of paths: [String]) -> [String] {
        let targets = Set(paths.map(resolved))
        let me = getpid()
        var found: [String] = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), pid != me,
                  let descriptors = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(entry)/fd") else { continue }
            // A file deleted while open reads as "<path> (deleted)".
            let opened = descriptors.contains { descriptor in
                guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(entry)/fd/\(descriptor)") else { return false }
                return targets.contains(target) || (target.hasSuffix(" (deleted)") && targets.contains(String(target.dropLast(" (deleted)".count))))
            }
            guard opened else { continue }
            let command = (try? String(contentsOfFile: "/proc/\(entry)/comm", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
            found.append("pid \(pid) (\(TerminalText.safe(command, maxLength: 30)))")
        }
        return found.sorted()
    }

    /// Gives the restored copy the owner, group and permissions of `model` (the database it replaces, or the data
    /// directory when there is none: read and write for the owner, read for the others): a restore run as root left a
    /// service account's lab owned by root, which its `serve` could not write; a backup made unreadable (mode 000)
    /// became the live database as such. Best effort: a user that may not give files away keeps them.
    static func takeOwnership(of path: String, from model: String) {
        var info = stat()
        guard stat(model, &info) == 0 else { return }
        let isDirectory = (info.st_mode & S_IFMT) == S_IFDIR
        chmod(path, isDirectory ? 0o644 : (info.st_mode & 0o7777) | 0o600)
        if geteuid() == 0 { chown(path, info.st_uid, info.st_gid) }
    }

    /// Checks the copy at `path`: SQLite's `integrity_check`, LimsQueue's tables, a schema this build knows.
    /// - Returns: what it holds. - Throws: ``CLIError`` saying why it cannot be restored.
    static func check(_ path: String, logger: Logger, loop: any EventLoop) async throws -> SQLiteBackup.Summary {
        let copy = try InlineSQLiteConnection(path: path, logger: logger, eventLoop: loop)
        defer { copy.close() }
        let summary: SQLiteBackup.Summary
        do {
            summary = try await SQLiteBackup.summary(of: copy, thorough: true)
        } catch let error as InlineSQLiteError where [1, 26].contains(error.code & 0xFF) {
            // SQLITE_ERROR (no such table) or SQLITE_NOTADB.
            throw CLIError("the file is not a LimsQueue database (\(error.message)); nothing was changed")
        } catch let error as InlineSQLiteError where error.code & 0xFF == 11 {
            throw CLIError("the backup is damaged (\(error.message)); nothing was changed")
        }
        guard summary.check == "ok" else {
            throw CLIError("the backup failed its integrity check (\(TerminalText.safe(String(summary.check.prefix(200))))); nothing was changed")
        }
        do {
            try await StorageMigrations.requireKnownSchema(copy)
        } catch StorageError.newerSchema(let names) {
            throw CLIError("the backup was written by a newer LimsQueue (migrations this version does not know: "
                           + names.joined(separator: ", ") + "); restore it with that version; nothing was changed")
        }
        return summary
    }

    /// Renames `path` to the first free `<stem>[-N]<suffix>` of `directory` (`link`, which never replaces a file, then
    /// removing the old name).
    /// - Returns: the new path. - Throws: ``CLIError`` when no name could be made.
    static func moveAside(_ path: String, as stem: String, in directory: String, suffix: String = ".sqlite") throws -> String {
        let base = directory + "/" + stem
        for candidate in [base + suffix] + (2...99).map({ "\(base)-\($0)\(suffix)" }) {
            if link(path, candidate) == 0 {
                unlink(path)
                return candidate
            }
            if errno == EEXIST { continue }
            var info = stat()
            if lstat(candidate, &info) != 0, rename(path, candidate) == 0 { return candidate }
            let reason = String(cString: strerror(errno))
            throw CLIError("cannot keep \(TerminalText.safe(path)) as \(TerminalText.safe(candidate)): \(reason); nothing was changed")
        }
        throw CLIError("every name \(stem)... is taken in \(TerminalText.safe(directory)); nothing was changed")
    }

    /// What the operator reads once the backup is in place.
    static func report(source: String, live: String, replaced: String?, damaged: String?, orphans: [String],
                       summary: SQLiteBackup.Summary) -> String {
        let tasks = ["queued", "running", "failed"].map { "\(summary.tasks[$0] ?? 0) \($0)" }.joined(separator: ", ")
        let megabytes = Double(size(of: live)) / 1_048_576
        var lines = [String(format: "restored %@ as %@ (%.1f MB; %d lab objects; tasks: %@; %d migrations; integrity check ok)",
                            TerminalText.safe(source), TerminalText.safe(live), megabytes, summary.labObjects, tasks, summary.migrations)]
        if let replaced {
            lines.append("the database it replaced" + (damaged.map { " (damaged: \($0))" } ?? "")
                         + " is kept as \(TerminalText.safe(replaced)); delete it when it is no longer needed")
        } else {
            lines.append("the data directory had no database")
        }
        for orphan in orphans {
            lines.append("a log left by a database that is gone was set aside as \(TerminalText.safe(orphan)), not applied")
        }
        if let running = summary.tasks["running"], running > 0 {
            lines.append("\(running) task(s) were running when the backup was taken: each times out when its lease ends and is retried as usual")
        }
        if summary.migrations < StorageMigrations.all.count {
            lines.append("the backup is from an earlier version: LimsQueue migrates it when it next starts")
        }
        return lines.joined(separator: "\n")
    }

    static func size(of path: String) -> Int {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : 0
    }

    /// An error of SQLite or the file system as an operator reads it; `directory`, where the copy was being written.
    static func explained(_ error: any Error, in directory: String?) -> String {
        guard let sqlite = error as? InlineSQLiteError else {
            let nsError = error as NSError
            if nsError.domain == NSCocoaErrorDomain, nsError.code == NSFileWriteOutOfSpaceError, let directory {
                return "the disk is full in \(TerminalText.safe(directory))"
            }
            return nsError.localizedDescription
        }
        switch sqlite.code & 0xFF {
        case 13: return "the disk is full" + (directory.map { " in \(TerminalText.safe($0))" } ?? "")
        case 10: return "a disk I/O error (\(sqlite.message))"
        default: return "\(sqlite.message) (SQLite error \(sqlite.code))"
        }
    }
}

/// SIGINT, SIGTERM and SIGHUP during a restore: before the swap they remove the partial copy and end the process (128 +
/// the signal), leaving everything as it was; once the swap has begun they are held until it is done, so an
/// interrupt never leaves the data directory without a database (a tryout's SIGTERM between the two renames did), and
/// the process then ends with 128 + the signal.
///
/// `@unchecked Sendable`: the signal sources are set once in `init` and only kept alive afterwards; the state is behind
/// a `Mutex`.
final class RestoreSignals: @unchecked Sendable {
    private struct State {
        var swapping = false
        var received: Int32?
    }

    private let state = Mutex(State())
    private let sources: [any DispatchSourceSignal]
    private let paths: [String]

    /// Starts handling the signals; `paths`: the partial copy's files, removed by an interrupt before the swap.
    init(removing paths: [String]) {
        self.paths = paths
        let numbers = [SIGINT, SIGTERM, SIGHUP]
        let made = numbers.map { number -> any DispatchSourceSignal in
            signal(number, SIG_IGN)
            return DispatchSource.makeSignalSource(signal: number, queue: .global())
        }
        sources = made
        for (source, number) in zip(made, numbers) {
            source.setEventHandler { [self] in self.interrupted(by: number) }
            source.resume()
        }
    }

    private func interrupted(by number: Int32) {
        state.withLock { state in
            guard !state.swapping else {
                state.received = state.received ?? number
                return
            }
            // Exits holding the lock: a swap about to begin never does.
            BackupCommand.remove(paths)
            FileHandle.standardError.write(Data("restore interrupted; nothing was replaced\n".utf8))
            Glibc.exit(128 + number)
        }
    }

    /// Begins the swap: interrupts are held from now on.
    func enterSwap() {
        state.withLock { $0.swapping = true }
    }

    /// Ends the swap: a held interrupt now ends the process with 128 + its signal.
    func finishSwap() {
        let received = state.withLock { $0.received }
        if let received {
            FileHandle.standardError.write(Data("restore interrupted after it completed\n".utf8))
            Glibc.exit(128 + received)
        }
    }
}

import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A child process of the test process, started with `posix_spawn(3)`.
///
/// The tests do not use Foundation's `Process` to start processes: on Linux its `run()` lists `/proc/self/fd` and
/// copies 256 bytes of each entry's name whatever the entry's length (swift-corelibs-foundation issue 5472, fixed
/// upstream after Swift 6.3). When the test process holds about 1,350 descriptors or more (the PostgreSQL pass opens
/// some 100 stores at once: 1,576 descriptors and 975 threads at its peak), the last entries fill the directory
/// buffer to its end and the copy reads past it: the whole test process died with SIGSEGV in CI (stop 27) and here.
///
/// The child gets standard input from `/dev/null`, standard output and error opened in the child itself (a file or
/// `/dev/null`), no other descriptor of the test process, default signal handlers and an empty signal mask. Its
/// exit is collected under a lock, so that a signal is never sent to a reaped (and perhaps reused) process id.
package final class ChildProcess: Sendable {
    /// Where a standard stream of the child goes.
    package enum Destination: Sendable {
        /// `/dev/null`.
        case null
        /// A file, created or truncated (as the shell's `> path`).
        case file(String)
    }

    /// The child's process id.
    package let pid: pid_t
    /// Its exit status once collected: the exit code, or the number of the signal that ended it (as Foundation's
    /// `Process.terminationStatus`).
    private let exitStatus = Mutex<Int32?>(nil)

    /// Starts `executable` with `arguments`.
    /// - Parameters:
    ///   - executable: a path, or a name looked up on `PATH`.
    ///   - environment: the child's whole environment; nil for the test process's own.
    ///   - directory: the child's working directory; nil for the test process's.
    ///   - output: where standard output goes.
    ///   - errors: where standard error goes; nil for the same open file as standard output (their lines interleave
    ///     as they were written).
    /// - Throws: ``HarnessError`` naming the executable and the error number when the spawn fails.
    package init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                 directory: String? = nil, output: Destination = .null, errors: Destination? = nil) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }

        func redirect(_ destination: Destination, as descriptor: Int32) {
            switch destination {
            case .null: posix_spawn_file_actions_addopen(&actions, descriptor, "/dev/null", O_WRONLY, 0)
            case .file(let path): posix_spawn_file_actions_addopen(&actions, descriptor, path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            }
        }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        redirect(output, as: 1)
        if let errors { redirect(errors, as: 2) } else { posix_spawn_file_actions_adddup2(&actions, 1, 2) }
        if let directory {
            guard Spawn.addChdir(&actions, directory) == 0 else { throw HarnessError("cannot spawn \(executable): chdir action failed") }
        }
        guard Spawn.addCloseFrom(&actions, 3) == 0 else { throw HarnessError("cannot spawn \(executable): closefrom action failed") }

        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigfillset(&defaults)
        sigdelset(&defaults, SIGKILL)
        sigdelset(&defaults, SIGSTOP)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let environmentLines = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        let envp = environmentLines.map { strdup($0) } + [nil]
        defer { for pointer in envp { free(pointer) } }

        var child = pid_t()
        let result = executable.contains("/")
            ? posix_spawn(&child, executable, &actions, &attributes, argv, envp)
            : posix_spawnp(&child, executable, &actions, &attributes, argv, envp)
        guard result == 0 else { throw HarnessError("cannot spawn \(executable): \(String(cString: strerror(result)))") }
        pid = child
    }

    /// True until the child has exited (collects its exit status when it has).
    package var isRunning: Bool { poll() == nil }

    /// The exit status once the child has exited (nil while it runs); see ``exitStatus``.
    package var terminationStatus: Int32? { poll() }

    /// Sends `signal` to the child unless it has exited.
    package func signal(_ signal: Int32) {
        exitStatus.withLock { status in
            // Under the lock nobody reaps the child, so its pid cannot be reused meanwhile.
            if status == nil { status = Self.reap(pid) }
            if status == nil { _ = kill(pid, signal) }
        }
    }

    /// Waits until the child exits; returns its exit status. Blocks the calling thread (polling every 2 ms).
    @discardableResult
    package func waitUntilExit() -> Int32 {
        while true {
            if let status = poll() { return status }
            usleep(2_000)
        }
    }

    /// Waits until the child exits, up to `seconds`; nil when it still runs then.
    package func wait(seconds: Double) async -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let status = poll() { return status }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return poll()
    }

    deinit {
        // A child left running (a test that failed early) is killed and reaped, not left as an orphan.
        if poll() == nil {
            signal(SIGKILL)
            waitUntilExit()
        }
    }

    private func poll() -> Int32? {
        exitStatus.withLock { status in
            if status == nil { status = Self.reap(pid) }
            return status
        }
    }

    /// `waitpid` once, not blocking: the exit code or terminating signal, nil while the child runs (-1 when the
    /// child is not ours to collect).
    private static func reap(_ pid: pid_t) -> Int32? {
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        if result == 0 { return nil }
        if result < 0 { return errno == EINTR ? nil : -1 }
        let signalled = status & 0x7f
        return signalled == 0 ? (status >> 8) & 0xff : signalled
    }

    /// ``run(_:_:environment:directory:separateErrors:timeoutSeconds:)`` blocking its thread while the child runs:
    /// only for helper commands of well under a second (a Python one-liner) called where no `await` can be.
    /// - Throws: ``HarnessError`` when the spawn fails.
    package static func runBriefly(_ executable: String, _ arguments: [String],
                                   separateErrors: Bool = false) throws -> (status: Int32, output: String, errors: String) {
        let capture = Capture(separateErrors: separateErrors)
        defer { capture.remove() }
        let child = try capture.spawn(executable, arguments, environment: nil, directory: nil)
        return capture.result(child.waitUntilExit())
    }

    /// Runs `executable` to its end with standard output and error in temporary files; returns its exit status and
    /// what it wrote. When `timeoutSeconds` pass first the child gets SIGTERM (a command that should have exited, such
    /// as a server that should have refused to start).
    ///
    /// Waits with `Task.sleep`, never blocking its thread: the tests run on Swift's cooperative pool, one thread per
    /// core, and a blocking wait for a child (`setup import`, a bench: seconds) took a thread from every other test
    /// of the process. On 2 cores two such waits stopped every async test for their length: long-polls on a manual
    /// clock never reached their sleep and tests hit their time limits (stop 40's CI, `QueueServerHTTPTests`).
    /// - Parameter separateErrors: false puts standard error in `output` (interleaved as written) and leaves `errors`
    ///   empty.
    /// - Throws: ``HarnessError`` when the spawn fails.
    package static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                            directory: String? = nil, separateErrors: Bool = false,
                            timeoutSeconds: Double? = nil) async throws -> (status: Int32, output: String, errors: String) {
        let capture = Capture(separateErrors: separateErrors)
        defer { capture.remove() }
        let child = try capture.spawn(executable, arguments, environment: environment, directory: directory)
        var status = await child.wait(seconds: timeoutSeconds ?? 86_400)
        if status == nil {
            child.signal(SIGTERM)
            status = await child.wait(seconds: 3_600)
        }
        return capture.result(status ?? -1)
    }

    /// The temporary files a child of ``run(_:_:environment:directory:separateErrors:timeoutSeconds:)`` writes to.
    private struct Capture {
        let outputPath: String
        let errorsPath: String?

        init(separateErrors: Bool) {
            let base = FileManager.default.temporaryDirectory.appendingPathComponent("limsqueue-child-\(UUID().uuidString)").path
            outputPath = base + ".out"
            errorsPath = separateErrors ? base + ".err" : nil
        }

        func spawn(_ executable: String, _ arguments: [String], environment: [String: String]?, directory: String?) throws -> ChildProcess {
            try ChildProcess(executable, arguments, environment: environment, directory: directory,
                             output: .file(outputPath), errors: errorsPath.map { .file($0) })
        }

        /// The exit `status` with what the child wrote.
        func result(_ status: Int32) -> (status: Int32, output: String, errors: String) {
            func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
            return (status, read(outputPath), errorsPath.map(read) ?? "")
        }

        func remove() {
            for path in [outputPath] + (errorsPath.map { [$0] } ?? []) { try? FileManager.default.removeItem(atPath: path) }
        }
    }
}

/// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34) and `posix_spawn_file_actions_addchdir_np` (2.29), which
/// the Glibc module does not declare (they need `_GNU_SOURCE`), looked up at run time.
private enum Spawn {
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32

    private static func symbol(_ name: String) -> UnsafeMutableRawPointer? { dlsym(dlopen(nil, RTLD_NOW), name) }

    static func addCloseFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ lowest: Int32) -> Int32 {
        guard let function = symbol("posix_spawn_file_actions_addclosefrom_np") else { return ENOSYS }
        return unsafeBitCast(function, to: AddCloseFrom.self)(actions, lowest)
    }

    static func addChdir(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ path: String) -> Int32 {
        guard let function = symbol("posix_spawn_file_actions_addchdir_np") else { return ENOSYS }
        return unsafeBitCast(function, to: AddChdir.self)(actions, path)
    }
}

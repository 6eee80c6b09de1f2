import Foundation
import TestSupport
import Testing

/// The harness's child processes (`ChildProcess`, started with `posix_spawn`): what the process tests rely on.
@Suite("Child processes of the tests")
struct ChildProcessTests {
    @Test("output and errors apart or together, the exit code, the working directory and the environment")
    func runCollects() async throws {
        let apart = try await ChildProcess.run("sh", ["-c", "echo out; echo err >&2; pwd; echo $LQ_CHILD; exit 3"],
                                         environment: ["LQ_CHILD": "set", "PATH": "/usr/bin:/bin"], directory: "/tmp",
                                         separateErrors: true)
        #expect(apart.status == 3)
        #expect(apart.output == "out\n/tmp\nset\n")
        #expect(apart.errors == "err\n")
        let together = try await ChildProcess.run("sh", ["-c", "echo out; echo err >&2"])
        #expect(together.status == 0)
        #expect(together.output == "out\nerr\n")
        #expect(throws: HarnessError.self) { try ChildProcess("/nonexistent/binary", []) }
    }

    @Test("a signal ends a running child and is its status; a timeout sends SIGTERM")
    func signals() async throws {
        let child = try ChildProcess("sleep", ["30"])
        #expect(child.isRunning)
        child.signal(SIGTERM)
        #expect(await child.wait(seconds: 10) == SIGTERM)
        #expect(!child.isRunning)
        child.signal(SIGKILL) // collected already: nothing is sent
        let started = Date()
        let timedOut = try await ChildProcess.run("sleep", ["30"], timeoutSeconds: 0.2)
        #expect(timedOut.status == SIGTERM)
        #expect(Date().timeIntervalSince(started) < 10)
    }

    /// Foundation's `Process.run()` crashed the test process (SIGSEGV) when it held some 1,350 descriptors or more
    /// (swift-corelibs-foundation issue 5472): the PostgreSQL pass peaks at about 1,600. A child gets none of them.
    @Test("with 1,600 descriptors open the test process starts children, and none of those descriptors reaches them")
    func manyDescriptors() async throws {
        var held: [Int32] = []
        defer { for descriptor in held { close(descriptor) } }
        for _ in 0..<1_600 {
            let descriptor = open("/dev/null", O_RDONLY) // without O_CLOEXEC: the child must still not get it
            try #require(descriptor >= 0, "open: \(String(cString: strerror(errno)))")
            held.append(descriptor)
        }
        for _ in 0..<20 {
            let listed = try await ChildProcess.run("sh", ["-c", "ls /proc/$$/fd"])
            #expect(listed.status == 0)
            let inherited = Set(listed.output.split(separator: "\n")).subtracting(["0", "1", "2", "10"])
            #expect(inherited.isEmpty, "\(inherited.count) descriptors of the test process reached the child")
        }
    }
}

import LabActions
import Synchronization
import Testing

/// ``KeyedSerializer``: units of work on one key never overlap, other keys are not held up, and a key is handed on
/// (or freed) whether the body returns or throws.
@Suite("Keyed serializer")
struct KeyedSerializerTests {
    /// How many bodies run at once, and the most seen.
    final class Overlap: Sendable {
        let state = Mutex((now: 0, most: 0, finished: 0))
        func enter() { state.withLock { $0.now += 1; $0.most = max($0.most, $0.now) } }
        func leave() { state.withLock { $0.now -= 1; $0.finished += 1 } }
    }

    struct Refused: Error {}

    @Test("bodies on one key run one at a time; every caller runs once")
    func oneAtATime() async throws {
        let line = KeyedSerializer()
        let overlap = Overlap()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<64 {
                group.addTask {
                    try await line.run("worksheet-1") {
                        overlap.enter()
                        await Task.yield()
                        await Task.yield()
                        overlap.leave()
                    }
                }
            }
            try await group.waitForAll()
        }
        let seen = overlap.state.withLock { $0 }
        #expect(seen.most == 1)
        #expect(seen.finished == 64)
        #expect(line.heldKeys == 0)
    }

    @Test("a held key does not hold up another key")
    func otherKeysRun() async throws {
        let line = KeyedSerializer()
        let (gate, open) = AsyncStream.makeStream(of: Void.self)
        let (entered, enter) = AsyncStream.makeStream(of: Void.self)
        let holder = Task {
            try await line.run("worksheet-1") {
                enter.yield()
                for await _ in gate { break } // holds worksheet-1 until the other key has run
            }
        }
        for await _ in entered { break }
        let other = try await line.run("worksheet-2") { "ran" }
        #expect(other == "ran")
        #expect(line.heldKeys == 1)
        open.yield()
        open.finish()
        try await holder.value
        #expect(line.heldKeys == 0)
    }

    @Test("a body that throws hands the key on to the next caller")
    func throwingBodyReleases() async throws {
        let line = KeyedSerializer()
        await #expect(throws: Refused.self) {
            try await line.run("worksheet-1") { throw Refused() }
        }
        let after = try await line.run("worksheet-1") { 42 }
        #expect(after == 42)
        #expect(line.heldKeys == 0)
    }
}

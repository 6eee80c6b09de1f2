import QueueCore
import QueueTesting
import Testing

/// The injected clock and uid generator tests rely on (issue 12, item 6).
@Suite("Virtual time and uids")
struct VirtualTimeTests {
    @Test("a sleeper on the manual clock resumes exactly when the clock reaches its instant, not before")
    func sleeperResumesAtItsInstant() async throws {
        let clock = ManualClock()
        let start = clock.now()
        let woke = Task { try await clock.sleep(for: .seconds(10)); return clock.now() }
        try await clock.waitForSleepers(1)
        clock.advance(by: 9.5)
        #expect(clock.sleepers == 1 && clock.nextWakeUp == start + 10)
        clock.advance(by: 0.5)
        #expect(try await woke.value == start + 10)
        #expect(clock.sleepers == 0)
    }

    @Test("one advance past several instants wakes each sleeper it passed and no other")
    func advanceWakesOnlyPassedSleepers() async throws {
        let clock = ManualClock()
        let short = Task { try await clock.sleep(for: .seconds(1)) }
        let middle = Task { try await clock.sleep(for: .milliseconds(2500)) }
        let long = Task { try await clock.sleep(for: .seconds(60)) }
        try await clock.waitForSleepers(3)
        clock.advance(by: .seconds(3))
        try await short.value
        try await middle.value
        #expect(clock.sleepers == 1)
        long.cancel()
        await #expect(throws: CancellationError.self) { try await long.value }
        #expect(clock.sleepers == 0)
    }

    @Test("a zero or negative sleep returns at once; a cancelled sleeper throws at once")
    func zeroAndCancelled() async throws {
        let clock = ManualClock()
        try await clock.sleep(for: .zero)
        try await clock.sleep(for: .seconds(-1))
        let cancelled = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await clock.sleep(for: .seconds(5))
        }
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        #expect(clock.sleepers == 0)
    }

    @Test("the system clock's sleep waits real time")
    func systemClockSleeps() async throws {
        let real = ContinuousClock()
        let start = real.now
        try await SystemWallClock().sleep(for: .milliseconds(20))
        #expect(start.duration(to: real.now) >= .milliseconds(20))
    }

    @Test("a task added without task_uid takes its uid from the injected generator; a given uid is kept")
    func wireTaskUIDFromGenerator() throws {
        let uids = SequentialUIDGenerator()
        let dict: [String: JSONValue] = ["name": "noop", "context_uid": .string(TaskFactory.uid(for: "x")), "context_path": "/senaite/x"]
        let first = try QueueTask(wire: dict, settings: QueueSettings(), now: 1_767_225_600, defaultUsername: "labman", uids: uids)
        let second = try QueueTask(wire: dict, settings: QueueSettings(), now: 1_767_225_600, defaultUsername: "labman", uids: uids)
        #expect(first.taskUID == "00000000000000000000000000000001" && second.taskUID == "00000000000000000000000000000002")
        var given = dict
        given["task_uid"] = .string(String(repeating: "AB", count: 16))
        let kept = try QueueTask(wire: given, settings: QueueSettings(), now: 1_767_225_600, defaultUsername: "labman", uids: uids)
        #expect(kept.taskUID == String(repeating: "ab", count: 16))
        #expect(try QueueTask(wire: dict, settings: QueueSettings(), now: 1_767_225_600, defaultUsername: "labman", uids: uids).taskUID
                == "00000000000000000000000000000003")
    }
}

import Synchronization
import Testing
@testable import Storage

/// The in-process wake of long-polls: `notify(count:)` wakes the longest-waiting ones, a woken waiter that cannot use
/// the wake hands it on, and a wake nobody can use visits each waiter once and ends (no waiter passes it back and
/// forth).
@Suite("Change signal")
struct ChangeSignalTests {
    /// Starts a waiter and returns once it is registered (the signal counts it).
    func waiter(_ signal: ChangeSignal, seconds: Double = 30) async -> Task<Bool, Never> {
        let before = signal.waiterCount
        let task = Task { await signal.wait(seconds: seconds) }
        while signal.waiterCount == before { await Task.yield() }
        return task
    }

    @Test("notify(count:) wakes that many waiters, longest-waiting first; notifyAll wakes the rest")
    func countedWake() async {
        let signal = ChangeSignal()
        let first = await waiter(signal)
        let second = await waiter(signal)
        let third = await waiter(signal)
        signal.notify(count: 2)
        #expect(await first.value)
        #expect(await second.value)
        #expect(signal.waiterCount == 1)
        signal.notifyAll()
        #expect(await third.value)
    }

    @Test("a handed-on wake reaches each waiter that was waiting at the notify once, then ends")
    func handOnEnds() async {
        let signal = ChangeSignal()
        let a = await waiter(signal)
        let b = await waiter(signal)
        signal.notify(count: 1)
        #expect(await a.value)
        // a could not use it and waits again (a new registration), then hands the wake on: b gets it.
        let aAgain = await waiter(signal)
        signal.handOn()
        #expect(await b.value)
        // b could not use it either: handing on again wakes nobody (a waits under a registration made after the wake).
        signal.handOn()
        try? await Task.sleep(for: .milliseconds(100))
        #expect(signal.waiterCount == 1)
        signal.notifyAll()
        #expect(await aAgain.value)
    }

    @Test("a waiter whose time runs out says it was not signalled")
    func timeout() async {
        let signal = ChangeSignal()
        #expect(await signal.wait(seconds: 0.05) == false)
    }
}

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

    /// Holds a waiter before its continuation is registered until opened.
    final class Gate: Sendable {
        private let open = Mutex(false)
        func wait() async { while !open.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(1)) } }
        func release() { open.withLock { $0 = true } }
    }

    /// A waiter registered now whose continuation is not registered yet (held by `gate`).
    func pendingWaiter(_ signal: ChangeSignal, gate: Gate, seconds: Double = 5) -> Task<Bool, Never> {
        let id = signal.register()
        return Task { await signal.wait(id, seconds: seconds, beforeRegistering: { await gate.wait() }) }
    }

    @Test("a notify that comes before a waiter's continuation is registered still wakes it (it was lost: the waiter slept on)")
    func notifyBeforeRegistration() async {
        let signal = ChangeSignal()
        let gate = Gate()
        let late = pendingWaiter(signal, gate: gate)
        signal.notify(count: 1)
        gate.release()
        // True only when a notification ended the wait (its time running out answers false).
        #expect(await late.value)
        #expect(signal.pendingCount == 0 && signal.waiterCount == 0)
    }

    @Test("a handed-on wake reaches a waiter whose continuation is not registered yet; notifyAll too")
    func handOnBeforeRegistration() async {
        let signal = ChangeSignal()
        let a = await waiter(signal)
        let gate = Gate()
        let b = pendingWaiter(signal, gate: gate)
        signal.notify(count: 1)
        #expect(await a.value)
        signal.handOn()
        gate.release()
        #expect(await b.value)
        let gate2 = Gate()
        let c = pendingWaiter(signal, gate: gate2)
        signal.notifyAll()
        gate2.release()
        #expect(await c.value)
    }

    @Test("a waiter registered before its wait starts gets a wake that came meanwhile at once; one never signalled leaves nothing behind")
    func registeredBeforeWaiting() async {
        let signal = ChangeSignal()
        let id = signal.register()
        signal.notify(count: 1)
        #expect(await signal.wait(id, seconds: 5))
        let other = signal.register()
        #expect(await signal.wait(other, seconds: 0.01) == false)
        #expect(signal.pendingCount == 0 && signal.waiterCount == 0)
        // A notify with nobody waiting wakes no leftover.
        signal.notify(count: 1)
        #expect(await signal.wait(seconds: 0.01) == false)
    }

    @Test("a waiter whose time runs out says it was not signalled")
    func timeout() async {
        let signal = ChangeSignal()
        #expect(await signal.wait(seconds: 0.05) == false)
    }
}

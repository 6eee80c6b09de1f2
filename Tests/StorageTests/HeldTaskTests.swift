import Foundation
import QueueCore
import QueueTesting
import SQLKit
@testable import Storage
import TestSupport
import Testing

/// Tasks a running task of their serialization key blocks are held out of the claims' index (``AddHeldTasks``) and
/// given back one at a time as the key's tasks end, so a pop no longer reads past them; the claims' outcome stays
/// exactly what it was without holds. Part of the store conformance suite: runs on each ``TestSupport/StoreBackend``.
/// The automatic passes are stopped in these tests (``BlockedTaskHolder/waitUntilIdle()``) and run by hand.
@Suite("Queue store: blocked tasks held and released in turn")
struct HeldTaskTests {
    /// A fixed epoch for both stores of a comparison.
    static let base = 1_800_000_000.0

    /// The uids of the held tasks.
    static func held(_ f: StoreFixture) async throws -> Set<String> {
        Set(try await f.store.sql.raw("SELECT task_uid FROM queue_tasks WHERE held = 1").all()
            .map { try $0.decode(column: "task_uid", as: String.self) })
    }

    static func lease(_ task: QueueTask) -> LeaseClaim {
        LeaseClaim(consumerID: task.consumerID, leaseToken: task.leaseToken)
    }

    @Test("a claim's queued siblings are held by the pass; each end of the key's running task (done, fail, timeout) or a change of its first queued task gives the next its turn",
          arguments: StoreBackend.available)
    func holdAndRelease(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            await f.store.blockedTasks.waitUntilIdle()
            let base = Self.base
            let keyed = (0..<20).map { TaskFactory.task(context: "WS-HOLD", created: base + Double($0), priority: 5) }
            let free = TaskFactory.task(context: "WS-FREE", created: base + 100, priority: 5)
            _ = try await f.store.add(keyed + [free], now: base + 200)
            let first = try #require(try await f.store.pop(consumerID: "consumer-a", now: base + 200))
            #expect(first.taskUID == keyed[0].taskUID)
            #expect(try await f.store.holdBlockedTasks() == 19)
            #expect(try await Self.held(f) == Set(keyed[1...].map(\.taskUID)))
            // A second pass finds nothing more to hold; the free task is claimed, nothing else is.
            #expect(try await f.store.holdBlockedTasks() == 0)
            #expect(try await f.store.pop(consumerID: "consumer-b", now: base + 201)?.taskUID == free.taskUID)
            #expect(try await f.store.pop(consumerID: "consumer-c", max: 8, now: base + 201).isEmpty)
            // Done: the next in queue order is given back and claimed.
            _ = try await f.store.done(first.taskUID, lease: Self.lease(first), now: base + 202)
            #expect(try await Self.held(f) == Set(keyed[2...].map(\.taskUID)))
            let second = try #require(try await f.store.pop(consumerID: "consumer-a", now: base + 202))
            #expect(second.taskUID == keyed[1].taskUID)
            // Failed for good: the next one's turn.
            _ = try await f.store.fail(second.taskUID, message: "broken", lease: Self.lease(second), now: base + 203, retry: false)
            #expect(try await Self.held(f) == Set(keyed[3...].map(\.taskUID)))
            // Its first queued task deleted by an operator before a claim: the next one's turn.
            _ = try await f.store.delete(keyed[2].taskUID, now: base + 204)
            #expect(try await Self.held(f) == Set(keyed[4...].map(\.taskUID)))
            let third = try #require(try await f.store.pop(consumerID: "consumer-a", now: base + 204))
            #expect(third.taskUID == keyed[3].taskUID)
            #expect(try await f.store.holdBlockedTasks() == 0)
            // Timed out (its lease ended) and retried: it queues again behind nothing of its key, and the next one's
            // turn comes too; the claim takes the first of the two in queue order.
            _ = try await f.store.timeout(third.taskUID, lease: Self.lease(third), now: base + 205)
            #expect(try await Self.held(f) == Set(keyed[5...].map(\.taskUID)))
            let fourth = try #require(try await f.store.pop(consumerID: "consumer-a", now: base + 400))
            #expect([keyed[3].taskUID, keyed[4].taskUID].contains(fourth.taskUID))
            // Drained one by one: every task of the key once, the untouched ones in queue order, none left held.
            var order = [fourth.taskUID]
            var running = fourth
            for step in 0..<40 {
                _ = try await f.store.done(running.taskUID, lease: Self.lease(running), now: base + 401 + Double(step))
                _ = try await f.store.holdBlockedTasks()
                guard let next = try await f.store.pop(consumerID: "consumer-a", now: base + 401 + Double(step)) else { break }
                order.append(next.taskUID)
                running = next
            }
            let names = order.map { uid in keyed.firstIndex { $0.taskUID == uid }.map { "k\($0)" } ?? (uid == free.taskUID ? "free" : uid) }
            // (The free task's lease ended meanwhile: timed out, it is claimed again too.)
            #expect(order.count == 18 && Set(order) == Set(keyed[3...].map(\.taskUID) + [free.taskUID]), "\(names)")
            #expect(order.filter { uid in keyed[5...].contains { $0.taskUID == uid } } == keyed[5...].map(\.taskUID))
            #expect(try await Self.held(f).isEmpty)
        }
    }

    /// A small deterministic generator (SplitMix64) for the comparison below.
    struct SeededGenerator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// What one step of the comparison answered, on one store.
    enum Outcome: Equatable {
        case claimed([String])
        case finished(String?)
    }

    @Test("adds, plain and batched pops, dones, fails, timeouts, deletes and requeues in a seeded random order: the same answers with holds as without",
          arguments: StoreBackend.available)
    func sameAnswersAsWithoutHolds(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { held in
            try await StoreFixture.with(backend: backend) { plain in
                try await Self.compare(held, plain)
            }
        }
    }

    /// The comparison of ``sameAnswersAsWithoutHolds(backend:)`` on two fresh stores.
    static func compare(_ held: StoreFixture, _ plain: StoreFixture) async throws {
        // No automatic passes: `held` runs one after every step, `plain` never holds.
        await held.store.blockedTasks.waitUntilIdle()
        await plain.store.blockedTasks.waitUntilIdle()
        var random = SeededGenerator(state: 20_261_206)
        let base = Self.base
        let names = ["task_action_submit", "task_action_verify", "task_assign_analyses"]
        var running: [String: (held: LeaseClaim, plain: LeaseClaim)] = [:]
        var added = 0
        var heldInAll = 0
        for step in 0..<500 {
            let now = base + Double(step)
            let roll = Int.random(in: 0..<100, using: &random)
            // The step's inputs, drawn once for both stores.
            let fresh: [QueueTask] = roll < 30 ? (0..<Int.random(in: 1...4, using: &random)).map { _ in
                added += 1
                var task = TaskFactory.task(names[Int.random(in: 0..<names.count, using: &random)],
                                            context: "WS-\(Int.random(in: 0..<4, using: &random))",
                                            created: now - Double(Int.random(in: 0..<30, using: &random)),
                                            priority: Int.random(in: 1...10, using: &random), maxSeconds: 60)
                task.taskUID = TaskFactory.uid(for: "held-\(added)")
                return task
            } : []
            let target = running.isEmpty ? nil : running.keys.sorted()[Int.random(in: 0..<running.count, using: &random)]
            var outcomes: [Outcome] = []
            for (index, fixture) in [held, plain].enumerated() {
                switch roll {
                case 0..<30:
                    _ = try await fixture.store.add(fresh, now: now)
                    outcomes.append(.claimed([]))
                case 30..<55:
                    let task = try await fixture.store.pop(consumerID: "consumer-\(step % 5)", now: now)
                    outcomes.append(.claimed(task.map { [$0.taskUID] } ?? []))
                    if let task { note(task, index, in: &running) }
                case 55..<65:
                    let tasks = try await fixture.store.pop(consumerID: "batch-\(step % 3)", max: 1 + step % 3, now: now)
                    outcomes.append(.claimed(tasks.map(\.taskUID)))
                    for task in tasks { note(task, index, in: &running) }
                default:
                    guard let uid = target, let leases = running[uid] else {
                        outcomes.append(.finished(nil))
                        continue
                    }
                    let lease = index == 0 ? leases.held : leases.plain
                    let result: QueueTask?
                    switch roll {
                    case 65..<80: result = try? await fixture.store.done(uid, lease: lease, now: now)
                    case 80..<86: result = try? await fixture.store.fail(uid, message: "x", lease: lease, now: now, retry: true)
                    case 86..<90: result = try? await fixture.store.fail(uid, message: "x", lease: lease, now: now, retry: false)
                    case 90..<94: result = try? await fixture.store.timeout(uid, lease: lease, now: now)
                    case 94..<97: result = try? await fixture.store.requeue(uid, lease: lease, now: now)
                    default: result = try? await fixture.store.delete(uid, now: now)
                    }
                    outcomes.append(.finished(result.map { "\($0.taskUID) \(($0.status ?? .queued).rawValue)" }))
                    if index == 1 { running[uid] = nil }
                }
                if index == 0 { heldInAll += try await held.store.holdBlockedTasks() }
            }
            #expect(outcomes[0] == outcomes[1], "step \(step): roll \(roll)")
            if outcomes[0] != outcomes[1] { break }
        }
        // Both queues end alike, and holds did happen on the way.
        let left = try await held.store.tasks(status: Set(TaskStatus.allCases), since: nil).map { "\($0.taskUID) \(($0.status ?? .queued).rawValue)" }
        let plainLeft = try await plain.store.tasks(status: Set(TaskStatus.allCases), since: nil).map { "\($0.taskUID) \(($0.status ?? .queued).rawValue)" }
        #expect(left.sorted() == plainLeft.sorted())
        #expect(heldInAll > 0, "no task was ever held: the comparison proved nothing")
    }

    /// Records `task`'s claim on store `index` (0: the store with holds, 1: without).
    static func note(_ task: QueueTask, _ index: Int, in running: inout [String: (held: LeaseClaim, plain: LeaseClaim)]) {
        let lease = Self.lease(task)
        var leases = running[task.taskUID] ?? (lease, lease)
        if index == 0 { leases.held = lease } else { leases.plain = lease }
        running[task.taskUID] = leases
    }
}

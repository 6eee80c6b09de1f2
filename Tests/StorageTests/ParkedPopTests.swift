import Foundation
import QueueCore
import QueueTesting
import SQLKit
import FluentKit
@testable import Storage
import TestSupport
import Testing

/// Long-polling pops parked with the writer (``ParkedPops``): the phases alone, then the store's batches that claim
/// for them in the transaction of an add or a done. The store part belongs to the conformance suite: it runs on each
/// ``TestSupport/StoreBackend``.
@Suite("Queue store: pops parked by long-polls are claimed for by the batch that adds or frees work")
struct ParkedPopTests {
    static let pop = DatabaseWriter.ClaimRequest.Pop(consumerID: "consumer-1", max: 1, batch: false)

    @Test("a taken pop answered with tasks gives them to its withdrawal once, and is gone")
    func answeredThenWithdrawn() async {
        let pops = ParkedPops()
        let ticket = pops.park(Self.pop)
        let taken = pops.take(limit: 5)
        #expect(taken.map(\.ticket) == [ticket])
        let task = TaskFactory.task(created: 1_800_000_000)
        pops.answer(ticket, claimed: [task])
        await pops.waitForAnswer(ticket)
        #expect(await pops.withdraw(ticket).map(\.taskUID) == [task.taskUID])
        #expect(pops.count == 0)
        #expect(await pops.withdraw(ticket).isEmpty)
    }

    @Test("a pop withdrawn while parked is never taken; one answered empty stays parked; the longest parked is taken first")
    func parkedPhases() async {
        let pops = ParkedPops()
        let first = pops.park(Self.pop)
        let second = pops.park(Self.pop)
        let third = pops.park(Self.pop)
        #expect(await pops.withdraw(second).isEmpty)
        #expect(pops.take(limit: 1).map(\.ticket) == [first])
        #expect(pops.take(limit: 5).map(\.ticket) == [third])
        pops.answer(first, claimed: [])
        pops.answer(third, claimed: [])
        #expect(pops.take(limit: 5).map(\.ticket) == [first, third])
        #expect(pops.take(limit: 0).isEmpty)
    }

    @Test("a withdrawal while a batch claims for the pop waits for that claim's answer, empty or not")
    func withdrawalWaitsForClaim() async {
        let pops = ParkedPops()
        let emptyTicket = pops.park(Self.pop)
        let fullTicket = pops.park(Self.pop)
        _ = pops.take(limit: 2)
        let task = TaskFactory.task(created: 1_800_000_000)
        async let empty = pops.withdraw(emptyTicket)
        async let full = pops.withdraw(fullTicket)
        // Both withdrawals are suspended until the answers come (the claims are in flight).
        try? await Task.sleep(nanoseconds: 20_000_000)
        pops.answer(emptyTicket, claimed: [])
        pops.answer(fullTicket, claimed: [task])
        #expect(await empty.isEmpty)
        #expect(await full.map(\.taskUID) == [task.taskUID])
        #expect(pops.count == 0)
    }

    @Test("waiting for an answer ends when the waiting task is cancelled")
    func waitEndsOnCancel() async {
        let pops = ParkedPops()
        let ticket = pops.park(Self.pop)
        let waiting = Task { await pops.waitForAnswer(ticket) }
        try? await Task.sleep(nanoseconds: 10_000_000)
        waiting.cancel()
        await waiting.value
        #expect(await pops.withdraw(ticket).isEmpty)
    }

    @Test("PostgreSQL: an add whose batch claims takes the claims' cap lock and scan settings in its insert; an insert that adds nothing does not",
          arguments: StoreBackend.available.filter { $0 == .postgres })
    func insertTakesCapLock(backend: StoreBackend) async throws {
        #expect(SQLQueueStore.lockingInsertHead(origin: "not-a-uid'") == nil)
        try await StoreFixture.with(backend: backend) { f in
            let origin = f.store.instanceID
            let task = TaskFactory.task("task_generic_action", context: "WS-1", created: f.now)
            try await f.store.database.withConnection { connection in
                let sql = try #require(connection as? any SQLDatabase)
                @Sendable func capLocks(_ sql: any SQLDatabase) async throws -> Int {
                    try await sql.raw("""
                        SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()
                        AND classid = \(bind: Int(UInt32(bitPattern: SQLQueueStore.AdvisoryLock.capNamespace))) AND objid = 0 AND granted
                        """).first()?.decode(column: "n", as: Int.self) ?? -1
                }
                try await SQLQueueStore.inTransaction(sql, lock: .claims, immediate: false) { sql in
                    let (outcomes, locked) = try await SQLQueueStore.insertTasks([try StagedTask(task)], topPriority: [], now: f.now, locking: origin, on: sql)
                    #expect(outcomes == [.added] && locked)
                    #expect(try await capLocks(sql) == 1)
                    let seqscan = try await sql.raw("SELECT current_setting('enable_seqscan') AS v").first()?.decode(column: "v", as: String.self)
                    #expect(seqscan == "off")
                }
                try await SQLQueueStore.inTransaction(sql, lock: .claims, immediate: false) { sql in
                    let (outcomes, locked) = try await SQLQueueStore.insertTasks([try StagedTask(task)], topPriority: [], now: f.now, locking: origin, on: sql)
                    #expect(outcomes == [.duplicate] && !locked)
                    #expect(try await capLocks(sql) == 0)
                }
            }
            // The task was added once, and a parked pop still gets it through the store's own batch.
            let ticket = f.store.park(consumerID: "consumer-1", max: nil)
            let other = TaskFactory.task("task_generic_action", context: "WS-2", created: f.now + 1)
            _ = try await f.store.add([other], now: f.now + 1)
            #expect(await f.store.withdraw(ticket).map(\.taskUID) == [task.taskUID])
        }
    }

    @Test("a task added while a pop is parked is claimed for it in the add's batch: running, leased to its consumer",
          arguments: StoreBackend.available)
    func addClaimsForParked(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            let ticket = f.store.park(consumerID: "consumer-1", max: nil)
            let task = TaskFactory.task("task_generic_action", context: "WS-1", created: f.now)
            _ = try await f.store.add([task], now: f.now)
            let handed = await f.store.withdraw(ticket)
            let claimed = try #require(handed.first)
            #expect(handed.count == 1)
            #expect(claimed.taskUID == task.taskUID)
            #expect(claimed.status == .running)
            #expect(claimed.consumerID == "consumer-1")
            let stored = try #require(try await f.store.task(task.taskUID))
            #expect(stored.status == .running)
            #expect(stored.leaseToken == claimed.leaseToken)
            #expect(try await f.store.pop(consumerID: "consumer-2", now: f.now) == nil)
            _ = try await f.store.done(task.taskUID, lease: LeaseClaim(consumerID: "consumer-1", leaseToken: claimed.leaseToken), now: f.now)
        }
    }

    @Test("one added task goes to the longest parked pop; the other stays parked and takes the next task",
          arguments: StoreBackend.available)
    func oneTaskOnePop(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            let first = f.store.park(consumerID: "consumer-1", max: nil)
            let second = f.store.park(consumerID: "consumer-2", max: nil)
            let a = TaskFactory.task("task_generic_action", context: "WS-1", created: f.now - 2)
            _ = try await f.store.add([a], now: f.now)
            #expect(f.store.writer.parkedPops.count == 2)
            let b = TaskFactory.task("task_generic_action", context: "WS-2", created: f.now - 1)
            _ = try await f.store.add([b], now: f.now)
            #expect(await f.store.withdraw(first).map(\.taskUID) == [a.taskUID])
            #expect(await f.store.withdraw(second).map(\.taskUID) == [b.taskUID])
        }
    }

    @Test("a parked pop gets nothing the rules refuse (a task of a key another consumer runs), and a done that frees the key hands it over",
          arguments: StoreBackend.available)
    func rulesHoldAndDoneHandsOver(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            let running = try await f.add(TaskFactory.task("task_generic_action", context: "WS-1", created: f.now))
            let claimed = try #require(try await f.store.pop(consumerID: "consumer-1", now: f.now))
            #expect(claimed.taskUID == running.taskUID)
            let ticket = f.store.park(consumerID: "consumer-2", max: nil)
            let blocked = TaskFactory.task("task_generic_action", context: "WS-1", created: f.now + 1)
            _ = try await f.store.add([blocked], now: f.now)
            #expect(try await f.store.task(blocked.taskUID)?.status == .queued)
            _ = try await f.store.done(running.taskUID, lease: LeaseClaim(consumerID: "consumer-1", leaseToken: claimed.leaseToken), now: f.now + 2)
            #expect(await f.store.withdraw(ticket).map(\.taskUID) == [blocked.taskUID])
        }
    }

    @Test("a batched parked pop takes up to its max from one add, in queue order", arguments: StoreBackend.available)
    func batchedParkedPop(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            let ticket = f.store.park(consumerID: "consumer-1", max: 2)
            let tasks = (0..<3).map { TaskFactory.task("task_generic_action", context: "WS-\($0)", created: f.now - 10 + Double($0)) }
            _ = try await f.store.add(tasks, now: f.now)
            #expect(await f.store.withdraw(ticket).map(\.taskUID) == tasks.prefix(2).map(\.taskUID))
            #expect(try await f.store.task(tasks[2].taskUID)?.status == .queued)
        }
    }
}

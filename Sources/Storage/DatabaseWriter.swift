import FluentKit
import QueueCore
import SQLKit
import Synchronization

/// The single writer of a process: every write transaction of the store runs here, one at a time, on a
/// connection of its own (SQLite, ``DedicatedConnection``) or of its pool checked out per batch (PostgreSQL). Adds,
/// pops and dones that arrive while a transaction runs are coalesced into the next one (group commit); within it
/// adds run first, then dones, then pops, so a consumer's done frees its slot before its next pop and a pop can take
/// a task added in the same batch. One writer per process also keeps SQLite's busy waits out of the thread pool.
final class DatabaseWriter: Sendable {
    /// Tasks to add, a pop, a done, or a done and a pop (a consumer's reports and its next claim), answered through
    /// its continuation.
    struct ClaimRequest: Sendable {
        /// A claim: who claims, how many tasks at most, under which rules.
        struct Pop: Sendable {
            var consumerID: String
            /// The most tasks the consumer may hold (its running ones included) with `batch`; 1 otherwise.
            var max: Int
            /// True for a batched pop (``QueueStore/pop(consumerID:max:now:)``): no purge rule; false for a plain
            /// senaite.queue pop (the consumer's running tasks block it and are purged after 10 s).
            var batch: Bool
        }

        /// What the request gets: one outcome per added task and one result per report, in order, and the claimed
        /// tasks.
        struct Answer: Sendable {
            var added: [AddOutcome] = []
            var done: [Result<QueueTask, any Error>]
            /// Not yet decoded: the requester decodes them on its own task (``ClaimedTaskRow``).
            var claimed: [ClaimedTaskRow]
        }

        /// Tasks to add (`add`), inserted before the reports and claims of the batch, so a claim of the same batch
        /// can take them.
        var adds: [StagedTask] = []
        /// Reports of finished tasks, applied before any claim of the batch.
        var dones: [TaskLease]
        /// The claim, if any.
        var pop: Pop?
        /// Claim only when every report succeeded (a plain done-and-pop).
        var popOnlyIfDone: Bool
        /// Epoch seconds.
        var now: Double
        /// Who gets the answer.
        var reply: Reply

        /// Where a claim request's answer goes.
        enum Reply: Sendable {
            /// The caller waiting in ``DatabaseWriter/claim(adds:dones:pop:popOnlyIfDone:now:)``.
            case caller(CheckedContinuation<Answer, any Error>)
            /// A long-poll's parked pop (``ParkedPops``), claimed for by a batch that added or finished tasks.
            case parked(ParkedPopTicket, ParkedPops)
        }

        /// True for a parked pop's claim (``Reply/parked(_:_:)``).
        var isParked: Bool {
            if case .parked = reply { return true }
            return false
        }

        /// Answers the request.
        func succeed(_ answer: Answer) {
            switch reply {
            case .caller(let continuation): continuation.resume(returning: answer)
            case .parked(let ticket, let pops):
                // Decoded here (a long-poll answered when work arrived: no backlog to hold up). A task whose body
                // does not decode is left out; it stays running under its lease until that expires.
                pops.answer(ticket, claimed: answer.claimed.compactMap { try? $0.decoded() })
            }
        }

        /// Answers the request with `error`; a parked pop stays parked (its long-poll never sees the error).
        func fail(_ error: any Error) {
            switch reply {
            case .caller(let continuation): continuation.resume(throwing: error)
            case .parked(let ticket, let pops): pops.answer(ticket, claimed: [])
            }
        }
    }

    /// Work for the writer: claims (coalesced) or one write transaction (run alone), which answers its caller
    /// and returns the error it failed with, if any.
    enum Job: Sendable {
        case claim(ClaimRequest)
        /// A write transaction; `provesRoom`: its success shows the disk has room again (``FullDiskGate/written()``).
        case write(@Sendable (Result<any SQLDatabase, any Error>) async -> (any Error)?, provesRoom: Bool)

        /// Answers the job's caller with `error` without running it.
        func fail(_ error: any Error) async {
            switch self {
            case .claim(let request): request.fail(error)
            case .write(let body, _): _ = await body(.failure(error))
            }
        }
    }

    /// Submits a claim request and waits for its answer.
    func claim(adds: [StagedTask] = [], dones: [TaskLease], pop: ClaimRequest.Pop?, popOnlyIfDone: Bool = false, now: Double)
        async throws -> ClaimRequest.Answer
    {
        try await withCheckedThrowingContinuation { continuation in
            submit(.claim(ClaimRequest(adds: adds, dones: dones, pop: pop, popOnlyIfDone: popOnlyIfDone, now: now,
                                       reply: .caller(continuation))))
        }
    }

    private struct State {
        var pending: [Job] = []
        var draining = false
        /// True from the start of a drain until its connection is handed back.
        var holdingConnection = false
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
        /// A drain that holds its connection while nothing is pending (``holdsConnection``), waiting for work.
        var parked: CheckedContinuation<Void, Never>?
        /// Set by ``waitUntilIdle()``: drains no longer park, so the connection is handed back.
        var closing = false
    }

    /// Where the writer's connection comes from.
    enum Source: Sendable {
        /// Checked out of a Fluent database's pool per burst of work (or held, ``holdsConnection``).
        case pool(any Database)
        /// A connection of the writer's own, used as is, whose statements block the calling thread; the drain runs
        /// on `executor`'s thread (see ``DedicatedConnection``).
        case dedicated(DedicatedConnection)
    }

    let source: Source
    /// Whether a drain keeps its connection while idle, until ``waitUntilIdle()`` (see ``init(database:holdsConnection:)``).
    let holdsConnection: Bool
    /// Seconds one statement of the writer may take before its connection is presumed dead (``BoundedSQLDatabase``).
    static let statementTimeoutSeconds: Double = 30
    private let state = Mutex(State())
    /// Holds the claim runner. A class box: a closure kept directly in a `Mutex` is re-wrapped in a
    /// reabstraction thunk on every read and write-back, so calls through it grow slower and slower.
    private final class ClaimRunner: Sendable {
        let run: @Sendable ([ClaimRequest], any SQLDatabase) async -> (any Error)?
        init(_ run: @escaping @Sendable ([ClaimRequest], any SQLDatabase) async -> (any Error)?) { self.run = run }
    }

    private let claimRunner = Mutex<ClaimRunner?>(nil)
    /// Holds claims back while the disk is full (``FullDiskGate``); fed by every write job and batch that fails.
    let fullDisk = FullDiskGate()
    /// Long-polls' pops parked here: a claim batch that adds or finishes tasks claims for them too (``run(_:on:)``).
    let parkedPops = ParkedPops()

    /// - Parameters:
    ///   - database: the database whose pool the writer checks connections out of.
    ///   - holdsConnection: keep the connection checked out between batches, from the first write until
    ///     ``waitUntilIdle()``, instead of checking it out again for every burst of work (two event-loop hops and a
    ///     pool lookup each, about 100 us on this 2-core machine, measured with `limsqueue bench store`). Only for a
    ///     pool nobody else uses (the process's own SQLite writer pool): a pool shared with readers would starve them.
    ///     PostgreSQL never holds (a connection held across batches would stay dead after a server restart).
    init(database: any Database, holdsConnection: Bool = false) {
        self.source = .pool(database)
        self.holdsConnection = holdsConnection
    }

    /// A writer on a connection of its own (SQLite: ``DedicatedConnection``), kept for the writer's life: no pool,
    /// no checkout per burst.
    init(dedicated: DedicatedConnection) {
        self.source = .dedicated(dedicated)
        self.holdsConnection = false
    }

    /// Work pending for the writer (tasks added, reported and asked for; each other write counts as 16) from which
    /// the next batch runs while the last one's sync is under way (``WALGroupSync/start(inline:)``). Smaller ones
    /// wait for the sync and grow meanwhile: with consumers taking one task per pop, overlapping every sync made more
    /// and smaller transactions and cost 6 % (`bench queue --durability full`, 3 alternating pairs: 1,773/1,697/1,800
    /// -> 1,670/1,604/1,668 tasks/s), while batched consumers gained 8 % from it.
    static let overlappedSyncWork = 16

    static func work(of jobs: [Job]) -> Int {
        jobs.reduce(0) { total, job in
            switch job {
            case .claim(let request): total + request.adds.count + request.dones.count + (request.pop?.max ?? 0)
            case .write: total + overlappedSyncWork
            }
        }
    }

    /// Gives a committed transaction's answer: at once, or once the write-ahead log is synced when the connection
    /// defers its syncs (``DedicatedConnection/durableAfter``, started by the drain after each batch); `answer` gets
    /// the sync's error, if any. Only for transactions run by the drain.
    func answerWhenDurable(_ answer: @escaping @Sendable ((any Error)?) -> Void) {
        if case .dedicated(let dedicated) = source, let sync = dedicated.durableAfter {
            sync.afterSync(answer)
        } else {
            answer(nil)
        }
    }

    /// Sets what executes one batch of claim requests on the writer's connection, answers each, and returns the
    /// error the batch failed with, if any.
    func setClaimRunner(_ run: @escaping @Sendable ([ClaimRequest], any SQLDatabase) async -> (any Error)?) {
        let box = ClaimRunner(run)
        claimRunner.withLock { $0 = box }
    }

    /// Queues a job; starts the drain loop when none runs.
    func submit(_ job: Job) {
        submit([job])
    }

    /// Queues jobs together, in order: they land in the same batch (or in order across batches).
    func submit(_ jobs: [Job]) {
        let (start, parked) = state.withLock { state -> (Bool, CheckedContinuation<Void, Never>?) in
            state.pending.append(contentsOf: jobs)
            guard !state.draining else {
                defer { state.parked = nil }
                return (false, state.parked)
            }
            state.draining = true
            state.holdingConnection = true
            return (true, nil)
        }
        if let parked {
            parked.resume()
        } else if start {
            switch source {
            case .dedicated(let dedicated):
                Task(executorPreference: dedicated.executor) { await self.drain() }
            case .pool(let database):
                // On the pool's event loop, where its connections do their I/O: each statement's answer resumes the
                // drain on the thread that read it, instead of hopping to the cooperative pool and back.
                Task(executorPreference: EventLoopTaskExecutor(eventLoop: database.eventLoop)) { await self.drain() }
            }
        }
    }

    /// Runs `body` as one write transaction on the writer's connection and returns its result.
    /// - Parameter provesRoom: whether its success ends a full-disk refusal of claims (``FullDiskGate``): false for
    ///   housekeeping that may write nothing (a hold pass). Default: true.
    func write<T: Sendable>(provesRoom: Bool = true, _ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            submit(.write({ connection in
                do {
                    let value = try await body(try connection.get())
                    self.answerWhenDurable { error in
                        if let error { continuation.resume(throwing: error) } else { continuation.resume(returning: value) }
                    }
                    return nil
                } catch {
                    continuation.resume(throwing: error)
                    return error
                }
            }, provesRoom: provesRoom))
        }
    }

    /// Takes everything pending. When nothing is, ends the drain (returns nil) or, with `parking` (a writer that
    /// ``holdsConnection``), keeps the drain and its connection and waits for the next submit; once
    /// ``waitUntilIdle()`` was called it ends the drain instead.
    private func takePending(parking: Bool) async -> [Job]? {
        while true {
            let jobs = state.withLock { state -> [Job]?? in
                if !state.pending.isEmpty {
                    defer { state.pending = [] }
                    return .some(state.pending)
                }
                guard parking, !state.closing else {
                    state.draining = false
                    return .some(nil)
                }
                return .none
            }
            if let jobs { return jobs }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let wake = state.withLock { state -> Bool in
                    if !state.pending.isEmpty || state.closing { return true }
                    state.parked = continuation
                    return false
                }
                if wake { continuation.resume() }
            }
        }
    }

    /// Waits until no drain holds the writer's connection (before closing the databases) and every answer waiting
    /// for a sync of the write-ahead log was given. A held connection (``holdsConnection``) is handed back: drains
    /// stop parking from now on.
    func waitUntilIdle() async {
        await waitUntilDrained()
        if case .dedicated(let dedicated) = source { await dedicated.durableAfter?.flush() }
    }

    private func waitUntilDrained() async {
        await withCheckedContinuation { continuation in
            let (idle, parked) = state.withLock { state -> (Bool, CheckedContinuation<Void, Never>?) in
                state.closing = true
                defer { state.parked = nil }
                if !state.holdingConnection { return (true, state.parked) }
                state.idleWaiters.append(continuation)
                return (false, state.parked)
            }
            parked?.resume()
            if idle { continuation.resume() }
        }
    }

    private func drain() async {
        defer {
            let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                guard !state.draining else { return [] }
                state.holdingConnection = false
                defer { state.idleWaiters = [] }
                return state.idleWaiters
            }
            for waiter in waiters { waiter.resume() }
        }
        // PostgreSQL: one pool checkout per batch: the pool hands out a live connection each time, pruning one the
        // database server closed (a PostgreSQL restart), where a connection held across batches would stay dead.
        // SQLite (a file: its connection never drops): the connection is kept while batches keep coming, saving a
        // pool checkout (two event-loop hops) per batch.
        if case .dedicated(let dedicated) = source {
            while let jobs = await takePending(parking: false) {
                await run(jobs, on: dedicated.connection)
                // The batch's answers wait for a sync of the log: beside the next batch when that one is large enough
                // to be worth a transaction of its own, else here (the next batch grows meanwhile).
                if let sync = dedicated.durableAfter {
                    sync.start(inline: state.withLock { Self.work(of: $0.pending) } < Self.overlappedSyncWork)
                }
            }
            return
        }
        guard case .pool(let database) = source else { return }
        let drained = Mutex(false)
        while !drained.withLock({ $0 }), let jobs = await takePending(parking: false) {
            let started = Mutex(false)
            do {
                try await database.withConnection { connection in
                    let sql = BoundedSQLDatabase(base: try connection.sqlDatabase(), seconds: Self.statementTimeoutSeconds)
                    started.withLock { $0 = true }
                    await self.run(jobs, on: sql)
                    guard !sql.bounded else { return }
                    while let more = await self.takePending(parking: self.holdsConnection) { await self.run(more, on: sql) }
                    drained.withLock { $0 = true }
                }
            } catch {
                // The connection could not be had: answer this batch with the error (once run, it answered itself).
                guard !started.withLock({ $0 }) else { continue }
                for job in jobs { await job.fail(error) }
            }
        }
    }

    /// Runs `jobs` (the writes one by one, then the claims as one batch).
    ///
    /// Once a job fails because another process held the database's lock past the busy timeout (30 s on SQLite),
    /// the jobs after it get that answer at once instead of each waiting out the timeout again: behind a lock held
    /// 80 s, requests queued on the writer answered 503 after 55-60 s (found by a tryout).
    /// The jobs queued meanwhile get the same answer (``failPending(_:)``).
    private func run(_ jobs: [Job], on sql: any SQLDatabase) async {
        var claims: [ClaimRequest] = []
        var busy: (any Error)?
        for job in jobs {
            if let busy {
                await job.fail(busy)
                continue
            }
            switch job {
            case .claim(let request):
                claims.append(request)
            case .write(let body, let provesRoom):
                if let error = await body(.success(sql)) {
                    if Self.isBusy(error) { busy = error }
                    fullDisk.note(error)
                } else if provesRoom {
                    fullDisk.written()
                }
            }
        }
        if !claims.isEmpty {
            // Work the batch adds or frees goes to parked long-polls in the same transaction: at most one parked pop
            // per added or finished task (each frees at most one claim), the longest parked first.
            let freeing = claims.reduce(0) { $0 + $1.adds.count + $1.dones.count }
            for (ticket, pop) in parkedPops.take(limit: freeing) {
                claims.append(ClaimRequest(dones: [], pop: pop, popOnlyIfDone: false, now: 0, reply: .parked(ticket, parkedPops)))
            }
            if let runner = claimRunner.withLock({ $0 }) {
                if let error = await runner.run(claims, sql) {
                    if Self.isBusy(error) { busy = error }
                    fullDisk.note(error)
                }
            } else {
                for claim in claims { claim.fail(QueueError(.badRequest, "The store is not ready")) }
            }
        }
        if let busy { await failPending(busy) }
    }

    /// Answers every job queued now with `error`; jobs submitted later run as usual.
    private func failPending(_ error: any Error) async {
        let jobs = state.withLock { state -> [Job] in
            defer { state.pending = [] }
            return state.pending
        }
        for job in jobs { await job.fail(error) }
    }

    /// True for a failure because another process held the database's lock (``QueueCore/StorageCondition/busy``).
    static func isBusy(_ error: any Error) -> Bool {
        (error as? any StorageFailure)?.storageCondition == .busy
    }
}

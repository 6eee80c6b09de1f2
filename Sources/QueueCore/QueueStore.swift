/// A durable queue: the operations of senaite.queue's server utility (reference 1.2), each atomic.
///
/// Implemented by `SQLQueueStore` (Storage) on SQLite and PostgreSQL through one code path.
/// Times are epoch seconds passed in by the caller (an injected ``WallClock``), never read inside.
/// Every method may also throw the storage's own errors (connection lost, ...).
public protocol QueueStore: Sendable {
    /// Adds tasks in one transaction. A task whose uid is already queued, running or failed is ignored
    /// (`.duplicate`); a `unique` task is ignored (`.notUnique`) while a *queued* task with the same name and
    /// context exists. Added tasks get status queued.
    /// Source: reference 1.2 `add` (#17: unique ignores running and failed tasks).
    func add(_ tasks: [QueueTask], now: Double) async throws -> [AddOutcome]

    /// Claims the next task for `consumerID` (reference 1.2 `pop` and reference 4): first times out running
    /// tasks whose lease has ended, then applies ``ClaimRules``. The returned task is running, with `started`,
    /// `consumer_id` and a fresh `lease_token`. nil when nothing may be claimed now.
    func pop(consumerID: String, now: Double) async throws -> QueueTask?

    /// Finishes a running task: it leaves the queue for the history.
    /// - Throws: `.notFound`, `.notRunning`, or `.leaseLost` when `lease` names a claim that no longer holds.
    func done(_ taskUID: String, lease: LeaseClaim, now: Double) async throws -> QueueTask

    /// Finishes a running task and claims the next one for `consumerID` in the same transaction (a consumer's
    /// acknowledgement and its next fetch in one round trip). The done is applied first, so the consumer's slot is
    /// free for the claim. Throws as ``done(_:lease:now:)``; the claim is nil when nothing may be claimed.
    func doneAndPop(_ taskUID: String, lease: LeaseClaim, consumerID: String, now: Double) async throws -> (done: QueueTask, next: QueueTask?)

    /// Claims up to `max` tasks for `consumerID` in one transaction (an extension for consumers that run several
    /// tasks at once; plain senaite.queue clients use ``pop(consumerID:now:)``). The tasks are the ones `max`
    /// one-by-one pops would have claimed, in the same order, under the same rules (leases expired first, one task
    /// per name and context at a time, `max_consumers`), except the purge rule: the consumer's running tasks are
    /// its buffer, not a sign that it restarted, and count against `max` (a consumer holding `max` tasks gets
    /// none). Tasks of a consumer that died are freed by their lease.
    /// - Parameter max: the most tasks the consumer may hold, its own running ones included; 1 or more.
    /// - Returns: the claimed tasks (running, each with its own `lease_token`), in queue order; empty when none.
    func pop(consumerID: String, max: Int, now: Double) async throws -> [QueueTask]

    /// Finishes several running tasks in one transaction; each claim is checked on its own, so a stale lease
    /// refuses only its task. Results are in input order: the finished task, or the error ``done(_:lease:now:)``
    /// would have thrown (`.notFound`, `.notRunning`, `.leaseLost`).
    func done(_ reports: [TaskLease], now: Double) async throws -> [Result<QueueTask, any Error>]

    /// ``done(_:now:)`` and then ``pop(consumerID:max:now:)`` in the same transaction: a consumer reports its
    /// finished tasks and refills its buffer in one round trip. The claim happens whatever the reports' results.
    func doneAndPop(_ reports: [TaskLease], consumerID: String, max: Int, now: Double) async throws
        -> (done: [Result<QueueTask, any Error>], next: [QueueTask])

    /// Fails several running tasks in one transaction (``fail(_:message:lease:now:)`` for each). Results are in
    /// input order: the task as it is now (queued again or failed), or the error for that task alone.
    func fail(_ reports: [TaskFailureReport], now: Double) async throws -> [Result<QueueTask, any Error>]

    /// Fails a running task (``QueueTask/failed(message:now:retry:)``). Throws as ``done(_:lease:now:)``.
    func fail(_ taskUID: String, message: String, lease: LeaseClaim, now: Double) async throws -> QueueTask

    /// Fails a running task; `retry` false fails it for good whatever retries remain (a failure that cannot
    /// succeed on a retry). Throws as ``done(_:lease:now:)``.
    func fail(_ taskUID: String, message: String, lease: LeaseClaim, now: Double, retry: Bool) async throws -> QueueTask

    /// Times out a running task (``QueueTask/timedOut(now:)``). Throws as ``done(_:lease:now:)``.
    func timeout(_ taskUID: String, lease: LeaseClaim, now: Double) async throws -> QueueTask

    /// Puts a task of any status back in the queue with retries reset (reference 1.3 `requeue`).
    /// With a non-empty `lease` (a consumer releasing its task at shutdown) the task must still be held by it.
    /// - Throws: `.notFound`; `.leaseLost` when `lease` is given and no longer holds the task.
    func requeue(_ taskUID: String, lease: LeaseClaim, now: Double) async throws -> QueueTask

    /// Gives a task claimed under `lease` back unused (``QueueTask/released()``: queued, retries kept; the attempt
    /// is recorded as interrupted): a server does this when the client it claimed the task for is gone.
    /// - Throws: `.notFound`; `.leaseLost` when `lease` no longer holds the task.
    func release(_ taskUID: String, lease: LeaseClaim, now: Double) async throws -> QueueTask

    /// ``requeue(_:lease:now:)`` (no lease) of a task only while its status is one of `statuses`, checked in the
    /// same transaction (an operator's `--status` selection: a task that started running since it was selected is
    /// left alone). - Throws: `.notFound`; ``TaskStatusChanged`` when its status is no longer one of `statuses`.
    func requeue(_ taskUID: String, onlyIf statuses: Set<TaskStatus>, now: Double) async throws -> QueueTask

    /// Removes a task of any status. - Throws: `.notFound`.
    func delete(_ taskUID: String, now: Double) async throws -> QueueTask

    /// ``delete(_:now:)`` of a task only while its status is one of `statuses`, checked in the same transaction.
    /// - Throws: `.notFound`; ``TaskStatusChanged`` when its status is no longer one of `statuses`.
    func delete(_ taskUID: String, onlyIf statuses: Set<TaskStatus>, now: Double) async throws -> QueueTask

    /// Removes many tasks, each as ``delete(_:onlyIf:now:)`` (or ``delete(_:now:)`` where `onlyIf` is nil) would, in
    /// few transactions: an operator's `limsqueue delete --name X` of 30,000 tasks took 4 minutes one by one.
    /// - Returns: one result per target, in order: the task as it was, or the error its own delete would throw
    ///   (`.notFound`, also for a uid given again; ``TaskStatusChanged``).
    func delete(_ targets: [(taskUID: String, onlyIf: Set<TaskStatus>?)], now: Double) async throws -> [Result<QueueTask, any Error>]

    /// Re-queues many tasks, each as ``requeue(_:onlyIf:now:)`` (or ``requeue(_:lease:now:)`` without a lease where
    /// `onlyIf` is nil) would, in few transactions (`limsqueue requeue --status failed` of a large backlog).
    /// - Returns: one result per target, in order: the task re-queued, or the error its own requeue would throw.
    func requeue(_ targets: [(taskUID: String, onlyIf: Set<TaskStatus>?)], now: Double) async throws -> [Result<QueueTask, any Error>]

    /// The task with that uid, or nil.
    func task(_ taskUID: String) async throws -> QueueTask?

    /// Tasks of the given statuses in queue order; only those created after `since` when given.
    func tasks(status: Set<TaskStatus>, since: Double?) async throws -> [QueueTask]

    /// The uid, status and ghost flag of every task of the given statuses, in the order of
    /// ``tasks(status:since:)``: what a client's list is compared with (`diff`) without reading every task whole.
    func taskKeys(status: Set<TaskStatus>) async throws -> [TaskKey]

    /// The tasks with these uids that exist, keyed by uid (any order of `uids`, any length).
    func tasks(uids: [String]) async throws -> [String: QueueTask]

    /// Tasks of any status whose context is `uid` or whose `uids` contain it, optionally of one name.
    /// Source: reference 1.2 `get_tasks_for`.
    func tasks(for uid: String, name: String?) async throws -> [QueueTask]

    /// Object uids (contexts and `uids`) of tasks of the given statuses. Source: reference 1.2 `get_uids`.
    /// A `Set<String>` folds two uids that differ only in Unicode normalization into one; ``objectUIDList(status:)``
    /// keeps them apart.
    func objectUIDs(status: Set<TaskStatus>) async throws -> Set<String>

    /// ``objectUIDs(status:)`` as a list: each uid once as stored, two that differ only in Unicode normalization
    /// being two, ordered by their UTF-8 bytes (code point order, as Python sorts text). Source: reference 1.2 `get_uids`.
    func objectUIDList(status: Set<TaskStatus>) async throws -> [String]

    /// Those of `uids` that are an object (context or one of `uids`) of a task of the given statuses: the guards'
    /// question for the objects a unit of work holds, at a cost that follows `uids`, not the queue's length.
    func objectUIDs(status: Set<TaskStatus>, among uids: [String]) async throws -> Set<String>

    /// Smallest `created` of queued and running tasks, or -1 when there are none.
    /// Source: reference 1.2 `since_time`.
    func sinceTime() async throws -> Double

    /// Earliest `created + delay` after `now` of queued tasks (when the next delayed task becomes due), epoch
    /// seconds; nil when no queued task becomes due after `now`. Tasks due at or before `now` are not counted.
    func nextAvailableAt(after now: Double) async throws -> Double?

    /// A number that grows whenever work may have become claimable (add, requeue, done, fail, delete),
    /// in this process or another one on the same database.
    func changeCounter() async throws -> Int

    /// Waits until this process signals a change, or `seconds` pass. Never throws; returns early on cancel.
    func waitForChange(seconds: Double) async

    /// Starts waiting for this process's change signal now, synchronously: a signal from here on reaches the
    /// returned waiter, which ``waitForSignal(_:seconds:)`` then waits on (exactly once). A long-poll registers
    /// before it starts the tasks it waits with, so a wake that comes while they start is not lost.
    func signalWaiter() -> Int

    /// Waits on `waiter` (from ``signalWaiter()``) until this process signals a change or `seconds` pass: true when
    /// this process signalled a change (then there is no need to look at ``changeCounter()`` before trying again),
    /// false when the time ran out or the task was cancelled.
    func waitForSignal(_ waiter: Int, seconds: Double) async -> Bool

    /// Parks a long-polling pop (`max` nil: one task by senaite.queue's rules; else a batched pop of up to `max`)
    /// with this process's writer: a later batch that adds or finishes tasks claims for it in its own transaction,
    /// before its change wakes anyone. The caller must end it with ``withdraw(_:)`` before it answers its client
    /// (even when it stops early), and may wait for its tasks with ``waitForParkedAnswer(_:)``.
    func park(consumerID: String, max: Int?) -> ParkedPopTicket

    /// Returns once tasks were claimed for a parked pop, at once when it is no longer parked, and early when the
    /// calling task is cancelled.
    func waitForParkedAnswer(_ ticket: ParkedPopTicket) async

    /// Ends a parked pop: the tasks claimed for it (running, leased to its consumer), empty when none. Waits for a
    /// claim in flight for it, so claimed tasks are never lost.
    func withdraw(_ ticket: ParkedPopTicket) async -> [QueueTask]

    /// Hands a wake of ``waitForSignal(_:seconds:)`` on to the next waiter of this process: call it when a long-poll
    /// the signal woke claims nothing (or ends without trying). An add wakes one long-poll per added task, not
    /// every one; this passes the wake along when the woken one could not take the work.
    func passOnSignal()

    /// Current settings.
    func settings() async throws -> QueueSettings

    /// Stores settings; re-ranks queued tasks when `top_priority_tasks` changed.
    func updateSettings(_ settings: QueueSettings) async throws

    /// Finished attempts recorded since `since` (epoch seconds), newest first, at most `limit`.
    func history(since: Double, limit: Int) async throws -> [HistoryEntry]

    /// ``TaskKindStatistics`` of every attempt finished since `since` (epoch seconds), sorted by name: what
    /// ``TaskKindStatistics/summarize(_:)`` gives for that history, aggregated where the history is stored
    /// (no attempt is read into the process, however long the window).
    func kindStatistics(since: Double) async throws -> [TaskKindStatistics]

    /// Number of tasks per status: with `ghosts` true every task, with false system (ghost) tasks left out (as the
    /// monitor's status cards, `limsqueue status` and `/metrics`' `limsqueue_tasks` show them, ghosts apart).
    func counts(ghosts: Bool) async throws -> [TaskStatus: Int]

    /// The queue now and the attempts that ended in the last `windowSeconds` (``QueueStatusSnapshot``), aggregated
    /// where they are stored: what ``QueueStatusSnapshot/make(tasks:history:now:windowSeconds:)`` gives for every
    /// task and that history (means up to rounding), without reading them into the process.
    /// - Parameter now: epoch seconds.
    func statusSnapshot(now: Double, windowSeconds: Double) async throws -> QueueStatusSnapshot

    /// The monitor's chart of the last `windowSeconds` (``QueueActivity``), aggregated where the tasks and the history
    /// are stored: what ``QueueActivity/make(tasks:history:now:windowSeconds:bucketSeconds:)`` gives for every task
    /// and the window's history.
    /// - Parameters: now: epoch seconds; windowSeconds, bucketSeconds: seconds.
    func activity(now: Double, windowSeconds: Double, bucketSeconds: Double) async throws -> QueueActivity

    /// When each consumer was last seen in the history: its latest attempt that ended within `since...now` (epoch
    /// seconds), by consumer id (empty ids left out).
    func consumersLastSeen(since: Double, now: Double) async throws -> [String: Double]

    /// One page of the tasks `filter` lists, in queue order (as ``tasks(status:since:)``), with the total and each
    /// task's position: what ``TaskPage/make(_:filter:offset:limit:)`` gives for every task. Reads the page's rows
    /// only (and, for `.all`, the index entries before it).
    /// - Parameters: offset: tasks skipped (0...); limit: tasks at most.
    func taskPage(_ filter: TaskListFilter, offset: Int, limit: Int) async throws -> TaskPage

    /// The tasks `username` acts for (ghosts included) with a status in `status`, newest first, skipping `offset`,
    /// at most `limit` (nil: all). Reads the user's rows only: failed ones by index, queued and running ones from
    /// the active queue without parsing the others.
    func tasks(username: String, status: Set<TaskStatus>, offset: Int, limit: Int?) async throws -> [QueueTask]

    /// How many tasks `username` acts for (ghosts included) have a status in `status`.
    func taskCount(username: String, status: Set<TaskStatus>) async throws -> Int

    /// Deletes history entries finished before `now - history_days`. Returns how many were deleted.
    func pruneHistory(now: Double) async throws -> Int
}

/// The claim a done/fail/timeout request says it holds. Empty for plain senaite.queue clients, which behave as
/// in the original (any running task may be finished).
public struct LeaseClaim: Sendable, Hashable {
    public var consumerID: String?
    public var leaseToken: String?

    public init(consumerID: String? = nil, leaseToken: String? = nil) {
        self.consumerID = consumerID
        self.leaseToken = leaseToken
    }

    /// No claim: a plain senaite.queue client.
    public static let none = LeaseClaim()

    /// True when neither a consumer id nor a lease token is given.
    public var isEmpty: Bool { consumerID == nil && leaseToken == nil }

    /// Checks that `task` may be finished by this claim.
    /// - Throws: `.leaseLost` when the claim names a consumer or token that no longer holds the running task;
    ///   `.notRunning` when the task is not running and no claim was given.
    public func check(_ task: QueueTask) throws {
        if isEmpty {
            guard task.status == .running else {
                throw QueueError(.notRunning, "Task is not running")
            }
            return
        }
        let holds = task.status == .running
            && (consumerID == nil || consumerID == task.consumerID)
            && (leaseToken == nil || leaseToken == task.leaseToken)
        guard holds else {
            throw QueueError(.leaseLost, "Lease lost: task \(task.taskUID) is no longer held by this claim")
        }
    }
}

/// A task uid with the claim a report says it holds (one item of a batched done or fail).
/// A task as a list compares it: its uid, status and ghost flag (``QueueStore/taskKeys(status:)``).
public struct TaskKey: Sendable, Equatable {
    public var taskUID: String
    public var status: TaskStatus
    public var ghost: Bool

    public init(taskUID: String, status: TaskStatus, ghost: Bool) {
        self.taskUID = taskUID
        self.status = status
        self.ghost = ghost
    }
}

public struct TaskLease: Sendable, Equatable {
    /// The task's uid (lowercase hex, 32 characters).
    public var taskUID: String
    /// The claim; ``LeaseClaim/none`` for a plain report.
    public var lease: LeaseClaim

    public init(taskUID: String, lease: LeaseClaim) {
        self.taskUID = taskUID
        self.lease = lease
    }
}

/// One item of a batched fail: the task, its claim and the error message.
public struct TaskFailureReport: Sendable, Equatable {
    /// The task's uid and claim.
    public var task: TaskLease
    /// The error message recorded with the attempt (senaite.queue's `error_message`).
    public var message: String
    /// False when a retry cannot cure the failure: the task fails now whatever retries remain (``QueueTask/failed(message:now:retry:)``).
    public var retry: Bool

    public init(task: TaskLease, message: String, retry: Bool = true) {
        self.task = task
        self.message = message
        self.retry = retry
    }
}

/// What `add` did with one task.
public enum AddOutcome: String, Sendable, Equatable {
    case added
    /// A task with the same uid is already in the queue.
    case duplicate
    /// `unique` and a queued task with the same name and context exists.
    case notUnique
}

/// One finished attempt of a task, kept `history_days` days.
public struct HistoryEntry: Sendable, Equatable {
    /// How the attempt ended.
    public enum Outcome: String, Sendable, CaseIterable {
        /// Processed; the task left the queue.
        case done
        /// Failed with retries left; the task was queued again.
        case retried
        /// Failed with no retries left; the task stays failed.
        case failed
        /// Timed out by its consumer or by lease expiry on pop; queued again or failed as `fail`.
        case timeout
        /// Failed by the purge-on-pop rule (its consumer popped again).
        case purged
        /// Removed or requeued by an operator while it ran.
        case interrupted
    }

    public var taskUID: String
    public var name: String
    public var contextPath: String
    public var username: String
    public var consumerID: String?
    public var outcome: Outcome
    public var errorMessage: String?
    /// Creation time of the attempt's task, epoch seconds.
    public var created: Double
    /// Claim time, epoch seconds (nil if it never ran).
    public var started: Double?
    /// End time, epoch seconds.
    public var finished: Double

    public init(taskUID: String, name: String, contextPath: String, username: String, consumerID: String?,
                outcome: Outcome, errorMessage: String?, created: Double, started: Double?, finished: Double) {
        self.taskUID = taskUID
        self.name = name
        self.contextPath = contextPath
        self.username = username
        self.consumerID = consumerID
        self.outcome = outcome
        self.errorMessage = errorMessage
        self.created = created
        self.started = started
        self.finished = finished
    }
}

/// The clock of the queue: wall-clock instants and the in-process waits measured on them (a consumer's backoff,
/// `min_seconds` booking and deadline, the batch report timer, a long-poll's deadline). Injected so that tests
/// control it: with `QueueTesting`'s `ManualClock` no test sleeps out a lease, a booking or a backoff.
///
/// One protocol rather than a Swift `Clock` beside it: leases, bookings and delays are compared against ``now()``,
/// so the waits must move with it; a manual clock that advances wakes exactly the sleepers whose instant it
/// passed.
public protocol WallClock: Sendable {
    /// Now, epoch seconds.
    func now() -> Double

    /// Suspends the current task until `duration` of this clock's time has passed.
    /// - Parameter duration: how long; zero or less returns at once.
    /// - Throws: `CancellationError` when the task is cancelled first.
    func sleep(for duration: Duration) async throws
}

extension Duration {
    /// This duration in seconds, as a `Double` (epoch-seconds arithmetic with ``WallClock/now()``).
    public var inSeconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}

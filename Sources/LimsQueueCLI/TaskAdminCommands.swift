import ArgumentParser
import QueueCore
import Storage

/// Which tasks an operator command acts on: uids given, and/or every task matching `--status` and `--name`.
struct TaskSelection: ParsableArguments {
    @Argument(help: "Task uids (32 hex characters each).") var uids: [String] = []
    @Option(name: .long, help: "Every task with this status: queued, failed, or (with --force) running (repeatable).") var status: [String] = []
    @Option(name: .long, help: "Every task with this name (repeatable), e.g. task_action_submit.") var name: [String] = []
    @Flag(name: .long, help: """
        Also act on running tasks. A consumer working on one goes on with it (its lab action may still happen, and \
        a re-queued one may then run twice); its done is refused afterwards (lease lost).
        """)
    var force = false

    /// The statuses acted on without `--force`: a running task is held by a consumer whose work goes on whatever
    /// the queue's row says. Found by a tryout: `delete --status running` removed tasks consumers held, silently.
    static let statusesWithoutForce: Set<TaskStatus> = [.queued, .failed]

    func validate() throws {
        guard !uids.isEmpty || !status.isEmpty || !name.isEmpty else {
            throw ValidationError("give task uids, or --status and/or --name to select tasks")
        }
        for uid in uids where !TaskUID.isValid(uid) { throw ValidationError("UID must be 32 hex characters, got '\(TerminalText.safe(uid, maxLength: 40))'") }
        for value in status where TaskStatus(rawValue: value) == nil {
            throw ValidationError("--status must be queued, running or failed, got '\(value)'")
        }
        if status.contains(TaskStatus.running.rawValue), !force {
            throw ValidationError("""
                --status running selects tasks consumers are working on now: their work goes on whatever this command \
                does. Add --force to act on them anyway.
                """)
        }
    }

    /// The tasks to act on: the given uids, then those of the tasks matching the filters (both filters when both
    /// are given; a missing filter matches everything), without repeats. A task selected by `--status` carries the
    /// statuses, so the change applies only while it still has one of them; without `--force` no target applies
    /// to a running task (the check is made in the change's own transaction, so a task a consumer claims after
    /// the selection is left alone too).
    func resolve(in store: any QueueStore) async throws -> [TaskAdminTarget] {
        let allowed: Set<TaskStatus>? = force ? nil : Self.statusesWithoutForce
        var seen: Set<String> = []
        var result = uids.map { $0.lowercased() }.filter { seen.insert($0).inserted }
            .map { TaskAdminTarget(uid: $0, given: true, onlyIf: allowed, runningNeedsForce: !force) }
        guard !status.isEmpty || !name.isEmpty else { return result }
        let selected = Set(status.compactMap(TaskStatus.init(rawValue:)))
        let statuses = status.isEmpty ? Set(TaskStatus.allCases) : selected
        let onlyIf: Set<TaskStatus>? = status.isEmpty ? allowed : selected.intersection(allowed ?? selected)
        let names = Set(name)
        for task in try await store.tasks(status: statuses, since: nil) where names.isEmpty || names.contains(task.name) {
            if seen.insert(task.taskUID).inserted {
                result.append(TaskAdminTarget(uid: task.taskUID, given: false, onlyIf: onlyIf,
                                              runningNeedsForce: !force && status.isEmpty))
            }
        }
        return result
    }
}

/// One task an operator command acts on.
struct TaskAdminTarget: Sendable, Equatable {
    var uid: String
    /// Given by uid (an unknown one is an error) rather than selected by a filter.
    var given: Bool
    /// Selected by `--status`, or running tasks spared (no `--force`): act only while the task still has one of
    /// these statuses.
    var onlyIf: Set<TaskStatus>? = nil
    /// Running tasks are spared because `--force` was not given (so a running one is reported with that hint).
    var runningNeedsForce = false
}

/// What an operator command did to one task.
enum TaskAdminOutcome: Hashable {
    /// Changed as asked.
    case changed
    /// Selected by `--status`/`--name` but gone when its turn came (a consumer finished it meanwhile): not a failure.
    case left
    /// Selected by a filter, but running and spared (no `--force`): not a failure.
    case spared
    /// Given by uid, but running and spared (no `--force`): a failure (the operator named it).
    case sparedGiven
    /// Refused: an unknown uid given, or another refusal.
    case refused
}

/// Runs `action` on each of `targets` (uid, and whether it was given by uid rather than selected by a filter),
/// returning one outcome and line of text per task. Found by a fresh user: a requeue of every queued task beside
/// running consumers reported the tasks they had finished as "no such task" and exited 1.
func applyTaskAdmin(_ targets: [TaskAdminTarget], on store: any QueueStore, verb: String,
                    _ action: @Sendable (any QueueStore, TaskAdminTarget) async throws -> QueueTask) async throws
    -> [(outcome: TaskAdminOutcome, text: String)]
{
    var lines: [(outcome: TaskAdminOutcome, text: String)] = []
    for target in targets {
        let result: Result<QueueTask, any Error>
        do { result = .success(try await action(store, target)) } catch { result = .failure(error) }
        lines.append(try taskAdminLine(target, result, verb: verb))
    }
    return lines
}

/// ``applyTaskAdmin(_:on:verb:_:)`` with an action that takes many targets at once and answers each, in order
/// (``DeleteCommand/batchAction``, ``RequeueCommand/batchAction``).
func applyTaskAdmin(_ targets: [TaskAdminTarget], on store: any QueueStore, verb: String,
                    batch: @Sendable (any QueueStore, [TaskAdminTarget]) async throws -> [Result<QueueTask, any Error>]) async throws
    -> [(outcome: TaskAdminOutcome, text: String)]
{
    let results = try await batch(store, targets)
    return try zip(targets, results).map { try taskAdminLine($0, $1, verb: verb) }
}

/// What an operator command's change of one task came to, and its line of text.
/// - Throws: an error other than the queue's own refusals (a database failure): the command stops with it.
func taskAdminLine(_ target: TaskAdminTarget, _ result: Result<QueueTask, any Error>, verb: String) throws
    -> (outcome: TaskAdminOutcome, text: String)
{
    let uid = target.uid
    do {
        let task = try result.get()
        return (.changed, "Task \(verb): \(task.taskUID) (\(TerminalText.safe(task.name, maxLength: 80)), retries \(task.retries))")
    } catch let error as QueueError where error.code == .notFound && !target.given {
        return (.left, "\(uid): left the queue meanwhile (finished or removed)")
    } catch let changed as TaskStatusChanged where changed.status == .running && target.runningNeedsForce {
        return (target.given ? .sparedGiven : .spared,
                "\(uid): running: a consumer is working on it; left as it is (--force acts on running tasks too)")
    } catch let changed as TaskStatusChanged {
        // Found by a fresh user: `delete --status queued` beside running consumers deleted tasks they had started.
        return (.left, "\(uid): \(changed.status.rawValue) now, no longer selected; left as it is")
    } catch let error as QueueError {
        return (.refused, "\(uid): \(TerminalText.safe(CLIError(error).description))")
    }
}

/// Lines printed per outcome for tasks selected by a filter (changed, left the queue, running left alone); the others
/// are counted. A tryout's `delete --name X` printed 30,000 lines, and one beside a busy consumer 91 "left" lines.
let taskAdminChangedLinesShown = 20

/// Runs `batch` on the selected tasks, printing a line per task given by uid and per refusal, and the first
/// ``taskAdminChangedLinesShown`` lines of each other outcome, then a summary; exits non-zero when a task could not
/// be changed (see ``applyTaskAdmin(_:on:verb:_:)``).
private func runTaskAdmin(_ selection: TaskSelection, _ common: CommonOptions, verb: String,
                          _ batch: @escaping @Sendable (any QueueStore, [TaskAdminTarget]) async throws -> [Result<QueueTask, any Error>])
    async throws
{
    let (targets, lines) = try await StorageEnvironment.with(dataDir: common.dataDir, database: common.databaseURL,
                                                             durability: common.durabilityLevel, existing: true,
                                                             logger: common.logger("limsqueue.cli")) { environment in
        let targets = try await selection.resolve(in: environment.store)
        return (targets, try await applyTaskAdmin(targets, on: environment.store, verb: verb, batch: batch))
    }
    var shown: [TaskAdminOutcome: Int] = [:]
    for (target, line) in zip(targets, lines) {
        if !target.given, line.outcome != .refused {
            shown[line.outcome, default: 0] += 1
            if shown[line.outcome, default: 0] > taskAdminChangedLinesShown { continue }
        }
        print(line.text)
    }
    for (outcome, what) in [(TaskAdminOutcome.changed, verb), (.left, "left as they are"), (.spared, "running left alone")] {
        let more = shown[outcome, default: 0] - taskAdminChangedLinesShown
        if more > 0 { print("... and \(more) more \(what)") }
    }
    let changed = lines.filter { $0.outcome == .changed }.count
    let left = lines.filter { $0.outcome == .left }.count
    let spared = lines.filter { $0.outcome == .spared || $0.outcome == .sparedGiven }.count
    print("\(changed) of \(lines.count) task(s) \(verb)" + (left > 0 ? ", \(left) had left the queue meanwhile" : "")
          + (spared > 0 ? ", \(spared) running left alone (--force acts on them)" : ""))
    if lines.contains(where: { $0.outcome == .refused || $0.outcome == .sparedGiven }) { throw ExitCode.failure }
}

/// `limsqueue requeue [UID ...] [--status S] [--name N] [--force]`: puts tasks back in the queue with retries reset
/// (running tasks only with `--force`).
struct RequeueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "requeue",
        abstract: "Put tasks back in the queue (retries reset): by uid, or every task matching --status/--name; running ones only with --force.")

    @OptionGroup var common: CommonOptions
    @OptionGroup var selection: TaskSelection

    /// Re-queues targets, each only while it has one of its `onlyIf` statuses when given, in transactions of many
    /// (``QueueCore/QueueStore/requeue(_:now:)``).
    static let batchAction: @Sendable (any QueueStore, [TaskAdminTarget]) async throws -> [Result<QueueTask, any Error>] = { store, targets in
        try await store.requeue(targets.map { (taskUID: $0.uid, onlyIf: $0.onlyIf) }, now: SystemWallClock().now())
    }

    /// Re-queues one target (``batchAction`` of one).
    static let action: @Sendable (any QueueStore, TaskAdminTarget) async throws -> QueueTask = { store, target in
        try await batchAction(store, [target])[0].get()
    }

    func run() async throws {
        try await runTaskAdmin(selection, common, verb: "re-queued", Self.batchAction)
    }
}

/// `limsqueue delete [UID ...] [--status S] [--name N] [--force]`: removes tasks from the queue (running tasks only
/// with `--force`).
struct DeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Remove tasks from the queue: by uid, or every task matching --status/--name; running ones only with --force.")

    @OptionGroup var common: CommonOptions
    @OptionGroup var selection: TaskSelection

    /// Deletes targets, each only while it has one of its `onlyIf` statuses when given, in transactions of many
    /// (``QueueCore/QueueStore/delete(_:now:)``).
    static let batchAction: @Sendable (any QueueStore, [TaskAdminTarget]) async throws -> [Result<QueueTask, any Error>] = { store, targets in
        try await store.delete(targets.map { (taskUID: $0.uid, onlyIf: $0.onlyIf) }, now: SystemWallClock().now())
    }

    /// Deletes one target (``batchAction`` of one).
    static let action: @Sendable (any QueueStore, TaskAdminTarget) async throws -> QueueTask = { store, target in
        try await batchAction(store, [target])[0].get()
    }

    func run() async throws {
        try await runTaskAdmin(selection, common, verb: "deleted", Self.batchAction)
    }
}

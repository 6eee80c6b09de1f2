import ArgumentParser
import QueueCore
import Storage

/// Which tasks an operator command acts on: uids given, and/or every task matching `--status` and `--name`.
struct TaskSelection: ParsableArguments {
    @Argument(help: "Task uids (32 hex characters each).") var uids: [String] = []
    @Option(name: .long, help: "Every task with this status: queued, running or failed (repeatable).") var status: [String] = []
    @Option(name: .long, help: "Every task with this name (repeatable), e.g. task_action_submit.") var name: [String] = []

    func validate() throws {
        guard !uids.isEmpty || !status.isEmpty || !name.isEmpty else {
            throw ValidationError("give task uids, or --status and/or --name to select tasks")
        }
        for uid in uids where !TaskUID.isValid(uid) { throw ValidationError("UID must be 32 hex characters, got '\(uid)'") }
        for value in status where TaskStatus(rawValue: value) == nil {
            throw ValidationError("--status must be queued, running or failed, got '\(value)'")
        }
    }

    /// The uids to act on: the given ones, then those of the tasks matching the filters (both filters when both
    /// are given; a missing filter matches everything), without repeats.
    func resolve(in store: any QueueStore) async throws -> [String] {
        var seen: Set<String> = []
        var result = uids.map { $0.lowercased() }.filter { seen.insert($0).inserted }
        guard !status.isEmpty || !name.isEmpty else { return result }
        let statuses = status.isEmpty ? Set(TaskStatus.allCases) : Set(status.compactMap(TaskStatus.init(rawValue:)))
        let names = Set(name)
        for task in try await store.tasks(status: statuses, since: nil) where names.isEmpty || names.contains(task.name) {
            if seen.insert(task.taskUID).inserted { result.append(task.taskUID) }
        }
        return result
    }
}

/// Runs `action` on each selected task, printing one line per task and a summary; exits non-zero when a task
/// could not be changed (unknown uid, or one that left the queue meanwhile).
private func runTaskAdmin(_ selection: TaskSelection, _ common: CommonOptions, verb: String,
                 _ action: @escaping @Sendable (any QueueStore, String) async throws -> QueueTask) async throws {
    let lines = try await StorageEnvironment.with(dataDir: common.dataDir, database: common.databaseURL, durability: common.durabilityLevel, existing: true,
                                                  logger: common.logger("limsqueue.cli")) { environment -> [(ok: Bool, text: String)] in
        var lines: [(ok: Bool, text: String)] = []
        for uid in try await selection.resolve(in: environment.store) {
            do {
                let task = try await CLIError.explaining { try await action(environment.store, uid) }
                lines.append((true, "Task \(verb): \(task.taskUID) (\(task.name), retries \(task.retries))"))
            } catch let error as CLIError {
                lines.append((false, "\(uid): \(error.description)"))
            }
        }
        return lines
    }
    for line in lines { print(line.text) }
    let done = lines.filter(\.ok).count
    print("\(done) of \(lines.count) task(s) \(verb)")
    if done < lines.count { throw ExitCode.failure }
}

/// `limsqueue requeue [UID ...] [--status S] [--name N]`: puts tasks back in the queue with retries reset.
struct RequeueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "requeue", abstract: "Put tasks back in the queue (retries reset): by uid, or every task matching --status/--name.")

    @OptionGroup var common: CommonOptions
    @OptionGroup var selection: TaskSelection

    func run() async throws {
        try await runTaskAdmin(selection, common, verb: "re-queued") { store, uid in
            try await store.requeue(uid, lease: .none, now: SystemWallClock().now())
        }
    }
}

/// `limsqueue delete [UID ...] [--status S] [--name N]`: removes tasks from the queue.
struct DeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete", abstract: "Remove tasks from the queue: by uid, or every task matching --status/--name.")

    @OptionGroup var common: CommonOptions
    @OptionGroup var selection: TaskSelection

    func run() async throws {
        try await runTaskAdmin(selection, common, verb: "deleted") { store, uid in
            try await store.delete(uid, now: SystemWallClock().now())
        }
    }
}

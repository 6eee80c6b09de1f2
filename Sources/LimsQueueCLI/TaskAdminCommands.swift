import ArgumentParser
import QueueCore
import Storage

/// `limsqueue requeue UID`: puts a task back in the queue with retries reset.
struct RequeueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "requeue", abstract: "Put a task back in the queue (retries reset).")

    @OptionGroup var common: CommonOptions
    @Argument(help: "The task's uid (32 hex characters).") var uid: String

    func validate() throws {
        guard TaskUID.isValid(uid) else { throw ValidationError("UID must be 32 hex characters, got '\(uid)'") }
    }

    func run() async throws {
        let uid = self.uid.lowercased()
        let task = try await StorageEnvironment.with(dataDir: common.dataDir, database: common.databaseURL, durability: common.durabilityLevel, logger: common.logger("limsqueue.cli")) {
            environment in try await CLIError.explaining { try await environment.store.requeue(uid, lease: .none, now: SystemWallClock().now()) }
        }
        print("Task re-queued: \(task.taskUID) (\(task.name), retries \(task.retries))")
    }
}

/// `limsqueue delete UID`: removes a task from the queue.
struct DeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Remove a task from the queue.")

    @OptionGroup var common: CommonOptions
    @Argument(help: "The task's uid (32 hex characters).") var uid: String

    func validate() throws {
        guard TaskUID.isValid(uid) else { throw ValidationError("UID must be 32 hex characters, got '\(uid)'") }
    }

    func run() async throws {
        let uid = self.uid.lowercased()
        let task = try await StorageEnvironment.with(dataDir: common.dataDir, database: common.databaseURL, durability: common.durabilityLevel, logger: common.logger("limsqueue.cli")) {
            environment in try await CLIError.explaining { try await environment.store.delete(uid, now: SystemWallClock().now()) }
        }
        print("Task deleted: \(task.taskUID) (\(task.name))")
    }
}

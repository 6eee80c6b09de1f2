import ArgumentParser
import Foundation
import QueueCore
import Storage

/// `limsqueue tasks`: lists the tasks of the queue.
struct TasksCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tasks", abstract: "List queued, running or failed tasks.")

    @OptionGroup var common: CommonOptions

    @Option(name: .long, help: "Only tasks of this status: queued, running or failed. Default: all.")
    var status: String?

    @Flag(name: .long, help: "Print complete task dicts as JSON.")
    var json = false

    func validate() throws {
        if let status, TaskStatus(rawValue: status) == nil {
            throw ValidationError("--status must be queued, running or failed")
        }
    }

    func run() async throws {
        let statuses: Set<TaskStatus> = status.flatMap(TaskStatus.init(rawValue:)).map { [$0] } ?? Set(TaskStatus.allCases)
        let tasks = try await StorageEnvironment.with(dataDir: common.dataDir, database: common.databaseURL, durability: common.durabilityLevel, existing: true, logger: common.logger("limsqueue.cli")) {
            try await $0.store.tasks(status: statuses, since: nil)
        }
        if json {
            // The project's writer: a number sent verbatim (`1e400`, a 23-digit integer) is printed as sent.
            print(JSONValue.array(tasks.map { .object($0.wireDictionary) }).prettyJSONString)
            return
        }
        print(TaskTable.render(tasks))
    }
}

/// A plain-text table of tasks for operators.
enum TaskTable {
    /// Most characters of an error message shown in the table (`--json` shows it whole).
    static let errorWidth = 120

    /// The table: a header, a line per task (every cell through ``cell(_:)``) and a count.
    static func render(_ tasks: [QueueTask]) -> String {
        guard !tasks.isEmpty else { return "no tasks" }
        let header = ["TASK", "STATUS", "PRI", "RETRIES", "NAME", "CONTEXT", "USER", "CREATED", "ERROR"]
        let formatter = ISO8601DateFormatter()
        let rows = tasks.map { task in
            [
                task.shortUID, (task.status?.rawValue ?? "-") + (task.ghost ? " (ghost)" : ""), String(task.priority),
                String(task.retries), task.name, task.contextPath, task.username,
                formatter.string(from: Date(timeIntervalSince1970: task.created)), task.errorMessage ?? "",
            ].map(cell)
        }
        let widths = header.indices.map { column in ([header] + rows).map { TerminalText.width($0[column]) }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            TerminalText.trimmedEnd(zip(cells, widths).map { TerminalText.padded($0, to: $1) }.joined(separator: "  "))
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n") + "\n\(tasks.count) task(s)"
    }

    /// `text` as one safe line of the table (``TerminalText/safe(_:maxLength:)``), at most ``errorWidth`` characters.
    static func cell(_ text: String) -> String {
        TerminalText.safe(text, maxLength: errorWidth)
    }
}

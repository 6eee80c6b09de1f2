import ArgumentParser

/// `limsqueue`: the LimsQueue command.
@main
struct LimsQueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "limsqueue",
        abstract: "A durable, senaite.queue-compatible task queue for laboratory information systems.",
        subcommands: [
            ServeCommand.self, ServerCommand.self, WebCommand.self, ConsumerCommand.self,
            TasksCommand.self, StatusCommand.self, RequeueCommand.self, DeleteCommand.self, SettingsCommand.self,
            KeygenCommand.self, KeyCommand.self, MigrateCommand.self, ReindexCommand.self, BackupCommand.self, RestoreCommand.self, UsersCommand.self, BenchCommand.self, SetupCommand.self, DemoCommand.self,
        ]
    )

    /// Parses and runs the command; an error that ends it is shown in an operator's words (``CLIError/readable(_:)``).
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: CLIError.readable(error))
        }
    }
}

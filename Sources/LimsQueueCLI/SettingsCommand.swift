import ArgumentParser
import QueueCore
import Storage

/// `limsqueue settings [get KEY | set KEY VALUE]`: shows or changes the queue settings.
struct SettingsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settings",
        abstract: "Show all settings, or get or set one.",
        discussion: "Keys: " + QueueSettings.fields.map { field in
            field.range.map { "\(field.key) (\($0.lowerBound)...\($0.upperBound))" } ?? field.key
        }.joined(separator: ", ")
    )

    @OptionGroup var common: CommonOptions

    /// Unrecognized words are taken too, so a negative value (`set default -1`) reaches the range check instead of
    /// being read as an unknown option (found by a tryout).
    @Argument(parsing: .allUnrecognized, help: "get KEY, or set KEY VALUE; nothing shows all settings.")
    var words: [String] = []

    func validate() throws {
        switch words.first {
        case nil: return
        case "get": guard words.count == 2 else { throw ValidationError("usage: limsqueue settings get KEY") }
        case "set": guard words.count >= 3 else { throw ValidationError("usage: limsqueue settings set KEY VALUE") }
        default: throw ValidationError("expected 'get KEY' or 'set KEY VALUE', got '\(words.joined(separator: " "))'")
        }
        if words.count >= 2, !QueueSettings.fields.contains(where: { $0.key == words[1] }) {
            throw ValidationError("unknown setting '\(words[1])'; known: \(QueueSettings.fields.map(\.key).joined(separator: ", "))")
        }
    }

    func run() async throws {
        let words = self.words
        let output = try await StorageEnvironment.with(dataDir: common.dataDir, database: common.databaseURL, durability: common.durabilityLevel, existing: true, logger: common.logger("limsqueue.cli")) { environment in
            var settings = try await environment.store.settings()
            switch words.first {
            case "get":
                return try settings.value(forKey: words[1])
            case "set":
                do {
                    try settings.set(words[1], to: words[2...].joined(separator: " "))
                } catch let error as QueueError {
                    // A value out of range is not a usage error: no usage text after it (a tryout saw the top
                    // level's `limsqueue <subcommand>` printed under it).
                    throw CLIError(error.message)
                }
                try await environment.store.updateSettings(settings)
                return "\(words[1]) = \(try settings.value(forKey: words[1]))"
            default:
                return try QueueSettings.fields.map { "\($0.key) = \(try settings.value(forKey: $0.key))" }.joined(separator: "\n")
            }
        }
        print(output)
    }
}

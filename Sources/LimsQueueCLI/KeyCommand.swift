import ArgumentParser
import Storage

/// `limsqueue key`: prints the auth key in use (LIMSQUEUE_AUTH_KEY, else the database's), for SENAITE's
/// "Auth secret key" setting and for consumers on other hosts.
struct KeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key",
        abstract: "Print the auth key in use (env LIMSQUEUE_AUTH_KEY, else the database's) for clients and remote consumers."
    )

    @OptionGroup var common: CommonOptions

    func run() async throws {
        let key = try await StorageEnvironment.with(dataDir: common.dataDir, database: common.databaseURL, durability: common.durabilityLevel, existing: true, logger: common.logger("limsqueue.cli")) {
            try await $0.authKey()
        }
        print(key)
    }
}

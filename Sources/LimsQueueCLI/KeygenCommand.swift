import ArgumentParser
import QueueAuth
import Storage

/// `limsqueue keygen`: prints a new auth key; with `--store` it also replaces the key in the database.
struct KeygenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Print a new auth key (32 random bytes, url-safe base64) for LIMSQUEUE_AUTH_KEY."
    )

    @OptionGroup var common: CommonOptions

    @Flag(name: .long, help: "Also store it in the database as the queue's auth key (servers read it on start).")
    var store = false

    func run() async throws {
        let key = Fernet.generateKey()
        if store {
            try await StorageEnvironment.with(dataDir: common.dataDir, database: common.databaseURL, durability: common.durabilityLevel,
                                              existing: true, logger: common.logger("limsqueue.cli")) {
                try await $0.store.setAuthKey(key)
            }
        }
        print(key)
    }
}

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

/// `limsqueue migrate`: applies pending schema migrations.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "migrate", abstract: "Apply pending database migrations.")

    @OptionGroup var common: CommonOptions

    func run() async throws {
        let (path, applied) = try await StorageEnvironment.with(dataDir: common.dataDir, database: common.databaseURL, durability: common.durabilityLevel,
                                                                logger: common.logger("limsqueue.cli")) { ($0.path, $0.appliedMigrations) }
        // Says what it did: "migrated" for a database already up to date told a tryout nothing.
        if let newest = applied.last {
            print("migrated \(path): \(applied.count) step(s) applied, the newest \(newest)")
        } else {
            print("\(path): schema already up to date (\(StorageMigrations.all.count) steps), nothing applied")
        }
    }
}

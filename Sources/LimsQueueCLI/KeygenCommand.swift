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
        // SQLite: processes that hold the file while a migration is due are most likely nodes of the older version,
        // which would go on writing without what the new schema adds (search index rows of their new samples).
        let holders = common.databaseURL == nil
            ? RestoreCommand.openers(of: ["", "-wal"].map { StorageEnvironment.sqlitePath(dataDir: common.dataDir) + $0 }) : []
        let (path, applied) = try await StorageEnvironment.with(dataDir: common.dataDir, database: common.databaseURL, durability: common.durabilityLevel,
                                                                logger: common.logger("limsqueue.cli")) { ($0.path, $0.appliedMigrations) }
        // Says what it did: "migrated" for a database already up to date told a tryout nothing.
        if let newest = applied.last {
            print("migrated \(path): \(applied.count) step(s) applied, the newest \(newest)")
            if !holders.isEmpty {
                print("warning: \(holders.joined(separator: ", ")) had the database open while it was migrated. Stop every node before "
                      + "migrating (README, Upgrading); if a node of an older version wrote samples or worksheets meanwhile, run "
                      + "`limsqueue reindex` once they are stopped, so that searches find them")
            }
        } else {
            print("\(path): schema already up to date (\(StorageMigrations.all.count) steps), nothing applied")
        }
    }
}

/// `limsqueue reindex`: rebuilds the catalog's search index from the stored samples and worksheets.
struct ReindexCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reindex",
        abstract: "Rebuild the search index of samples and worksheets (after a node of an older version wrote beside a newer one)."
    )

    @OptionGroup var common: CommonOptions

    func run() async throws {
        let holders = common.databaseURL == nil
            ? RestoreCommand.openers(of: ["", "-wal"].map { StorageEnvironment.sqlitePath(dataDir: common.dataDir) + $0 }) : []
        let (path, rows) = try await StorageEnvironment.with(dataDir: common.dataDir, database: common.databaseURL, durability: common.durabilityLevel,
                                                             existing: true, logger: common.logger("limsqueue.cli")) {
            ($0.path, try await $0.lab.rebuildSearchIndex())
        }
        print("reindexed \(path): \(rows) search index rows")
        if !holders.isEmpty {
            print("warning: \(holders.joined(separator: ", ")) had the database open: a node of a version before the search index "
                  + "writes samples it does not index; stop it and run `limsqueue reindex` again")
        }
    }
}

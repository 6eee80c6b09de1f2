import ArgumentParser
import Storage

/// `limsqueue migrate`: applies pending schema migrations.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "migrate", abstract: "Apply pending database migrations.")

    @OptionGroup var common: CommonOptions

    func run() async throws {
        // SQLite: processes that hold the file while a migration is due are most likely nodes of the older version,
        // which would go on writing without what the new schema adds (search index rows of their new samples).
        let holders = StorageEnvironment.otherProcesses(dataDir: common.dataDir, database: common.databaseURL)
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

import ArgumentParser

/// `limsqueue reindex`: rebuilds the catalog's search index from the stored samples, worksheets and clients.
struct ReindexCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reindex",
        abstract: "Rebuild the search index of samples, worksheets and clients (after a node of an older version wrote beside a newer one)."
    )

    @OptionGroup var common: CommonOptions

    func run() async throws {
        let holders = StorageEnvironment.otherProcesses(dataDir: common.dataDir, database: common.databaseURL)
        let (path, rows) = try await StorageEnvironment.with(dataDir: common.dataDir, database: common.databaseURL, durability: common.durabilityLevel,
                                                             existing: true, logger: common.logger("limsqueue.cli")) {
            ($0.path, try await $0.lab.rebuildSearchIndex())
        }
        print("reindexed \(path): \(rows) search index rows")
        if !holders.isEmpty {
            // The holders' versions are not known here: a node of this version keeps the index itself.
            print("note: \(holders.joined(separator: ", ")) had the database open. Nodes of this version keep the index; "
                  + "if one is of a version before limsqueue-0015-client-search-words (or 0014), it writes objects it does not index: "
                  + "stop it and run `limsqueue reindex` again")
        }
    }
}

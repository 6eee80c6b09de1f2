import ArgumentParser
import Foundation
import HummingbirdBcrypt
import LIMSCore
import QueueCore
import SetupImport
import SetupWorkbook
import Storage
import Synchronization

/// `limsqueue setup ...`: loads a lab's setup.
struct SetupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "setup",
        abstract: "Load a lab's setup: SENAITE's setup-data workbook and reference samples.",
        subcommands: [SetupImportCommand.self, SetupReferenceSamplesCommand.self]
    )
}

/// `limsqueue setup import FILE.xlsx`: imports SENAITE's setup-data workbook.
struct SetupImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import SENAITE's setup-data workbook (.xlsx).",
        discussion: """
            Every sheet is checked first; if any row is bad, every problem is listed (sheet, row, field) and nothing \
            is imported. Importing the same workbook again updates the objects instead of duplicating them. Prints \
            one line per imported type, `<portal type>: <count>`.
            """
    )

    @OptionGroup var common: CommonOptions
    @Argument(help: "The workbook, e.g. ../shared/data/senaite-setup-test.xlsx") var file: String

    /// bcrypt cost of imported users' passwords. Default: 10.
    @Option(name: .long, help: "bcrypt cost for imported passwords (4...14).") var bcryptCost: UInt8 = 10

    func validate() throws {
        guard FileManager.default.fileExists(atPath: file) else { throw ValidationError("no such file: \(file)") }
        guard (4...14).contains(bcryptCost) else { throw ValidationError("--bcrypt-cost must be in 4...14") }
    }

    func run() async throws {
        let logger = common.logger("limsqueue.setup")
        let workbook: XLSXWorkbook
        do {
            workbook = try XLSXWorkbook(contentsOf: URL(fileURLWithPath: file))
        } catch {
            throw CLIError("cannot read \(file): \(error)")
        }
        let report = try await StorageEnvironment.with(dataDir: common.dataDir, database: common.databaseURL, durability: common.durabilityLevel, logger: logger) { environment in
            try await LabSetup.importWorkbook(workbook, into: environment, bcryptCost: bcryptCost, progress: ProgressBar())
        }
        for line in report.lines { print(line) }
    }
}

/// `limsqueue setup reference-samples`: one valid reference sample per reference definition that has none.
struct SetupReferenceSamplesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reference-samples",
        abstract: "Create one valid blank or control reference sample per reference definition that has none."
    )

    @OptionGroup var common: CommonOptions

    @Option(name: .long, help: "Days until the new reference samples expire.") var days: Int = 365

    func validate() throws {
        guard (1...3650).contains(days) else { throw ValidationError("--days must be in 1...3650") }
    }

    func run() async throws {
        let days = self.days
        let created = try await StorageEnvironment.with(dataDir: common.dataDir, database: common.databaseURL, durability: common.durabilityLevel,
                                                        existing: true, logger: common.logger("limsqueue.setup")) {
            try await LabSetup.createReferenceSamples(in: $0, validDays: days)
        }
        print("ReferenceSample: \(created.count)")
        for line in created { print("  \(line)") }
    }
}

/// Setup steps shared by the CLI, the main job's first start and the demo.
enum LabSetup {
    /// Imports a workbook in one unit of work over the setup objects, clients and contacts (never the samples and
    /// analyses), then re-indexes the security of the subtree of every client it created or changed (linked client
    /// users must find their clients' objects; a `user:` token only sits on a client and its subtree), walked in
    /// chunks as `task_reindex_object_security` walks it. A re-import of an unchanged workbook changes nothing and
    /// re-indexes nothing; it read and re-indexed the whole lab (4 min 17 s and 4 GB at 200,000 samples).
    /// - Throws: ``CLIError`` listing every problem of a bad workbook; storage errors.
    static func importWorkbook(_ workbook: XLSXWorkbook, into environment: StorageEnvironment, bcryptCost: UInt8,
                               progress: ProgressBar) async throws -> ImportReport {
        let now = SystemWallClock().now()
        let report: ImportReport
        let clients: [String]
        // The unit of work runs its body again after reserving id counters (and on a conflict): each password is
        // hashed once (bcrypt, 60-80 ms each at cost 10 in a release build), not once per run.
        let hashes = PasswordHashes(cost: bcryptCost)
        do {
            (report, clients) = try await environment.lab.perform(withWhole: [.client, .contact]) { state in
                let report = try SetupImporter.importWorkbook(
                    workbook, into: &state, uids: TimeOrderedUIDGenerator(), now: now,
                    passwordHasher: hashes.hash,
                    progress: { sheet, done, total in progress.update(sheet, done: done, total: total) }
                )
                let touched = state.changes.created.union(state.changes.changed).filter { state.clients.peek($0) != nil }
                return (report, touched.sorted())
            }
        } catch let error as ImportError {
            progress.finish()
            throw CLIError("the workbook was not imported; fix these rows:\n" + error.problems.map { "  \($0)" }.joined(separator: "\n"))
        }
        progress.finish()
        let tree = try environment.lab.securityTree
        for client in clients {
            var cursor: SecurityWalkCursor?
            repeat {
                let chunk = try await SecurityWalk.chunk(from: client, cursor: cursor, size: 1_000, tree: tree)
                if !chunk.uids.isEmpty { try await environment.lab.reindexSecurity(chunk.uids) }
                cursor = chunk.cursor
            } while cursor != nil
        }
        return report
    }

    /// Creates a reference sample for every reference definition without a valid one.
    /// - Returns: one description line per created sample.
    static func createReferenceSamples(in environment: StorageEnvironment, validDays: Int) async throws -> [String] {
        let now = SystemWallClock().now()
        return try await environment.lab.perform { state, _ in // reference definitions and samples are setup objects
            var lines: [String] = []
            for definition in state.referenceDefinitions.values.sorted(by: { $0.title < $1.title }) {
                let covered = state.referenceSamples.values.contains { $0.definitionUID == definition.uid && $0.isValid(at: now) }
                guard !covered else { continue }
                let sample = try state.createReferenceSample(
                    title: definition.title, definitionUID: definition.uid, expiryDate: now + Double(validDays) * 86_400,
                    uids: TimeOrderedUIDGenerator(), now: now)
                lines.append("\(sample.id) \(sample.blank ? "blank" : "control") of \(definition.title)")
            }
            return lines
        }
    }
}

/// The bcrypt hashes of the workbook's passwords made during one import, each made once whatever the runs of the
/// unit of work's body. Held for the import only.
private final class PasswordHashes: Sendable {
    let cost: UInt8
    private let made = Mutex<[String: String]>([:])

    init(cost: UInt8) { self.cost = cost }

    /// The hash of `password`: made with bcrypt at ``cost`` the first time, the same one after.
    func hash(_ password: String) -> String {
        if let known = made.withLock({ $0[password] }) { return known }
        let hash = Bcrypt.hash(password, cost: cost)
        made.withLock { $0[password] = hash }
        return hash
    }
}

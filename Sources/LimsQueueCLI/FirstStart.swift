import ArgumentParser
import Foundation
import Logging
import SetupWorkbook
import Storage

/// Options of `serve`'s first start on an empty lab.
struct FirstStartOptions: ParsableArguments {
    @Option(name: .long, help: """
        SENAITE setup-data workbook (.xlsx) imported on first start when the lab is empty. Default: env \
        SENAITE_SETUP_XLSX, else ../shared/data/senaite-setup-test.xlsx or data/senaite-setup-test.xlsx when present.
        """)
    var setup: String?

    @Option(name: .long, help: "Received demo samples created on first start after the import (0 for none).")
    var demoSamples: Int = 50

    @Flag(name: .long, help: "Never import anything on first start (serve an empty lab).")
    var noSetup = false

    func validate() throws {
        guard (0...10_000).contains(demoSamples) else { throw ValidationError("--demo-samples must be in 0...10000") }
        if let setup, !FileManager.default.fileExists(atPath: setup) { throw ValidationError("--setup: no such file: \(setup)") }
    }

    /// The workbook to import: `--setup`, else `SENAITE_SETUP_XLSX`, else a demo workbook found beside the working
    /// directory; nil when none.
    var workbookPath: String? {
        if let setup { return setup }
        if let fromEnvironment = ProcessInfo.processInfo.environment["SENAITE_SETUP_XLSX"], !fromEnvironment.isEmpty,
           FileManager.default.fileExists(atPath: fromEnvironment) { return fromEnvironment }
        return Self.demoWorkbookCandidates.first { FileManager.default.fileExists(atPath: $0) }
    }

    /// Where a demo workbook is looked for, relative to the current directory (not to the binary or the data dir).
    static let demoWorkbookCandidates = ["../shared/data/senaite-setup-test.xlsx", "data/senaite-setup-test.xlsx"]
}

extension LabSetup {
    /// On an empty lab (no users, no clients), imports the setup workbook, creates reference samples and
    /// `demoSamples` received samples, so `serve` on a fresh data dir serves a working demo lab. Does nothing when
    /// the lab has data, or with `--no-setup`.
    /// - Throws: ``CLIError`` for an unreadable or invalid workbook; ``CLIError`` saying where it looked and what to
    ///   do when the lab has no users and no workbook is given or found (a lab without users answers every login
    ///   401); storage errors.
    static func firstStart(_ options: FirstStartOptions, environment: StorageEnvironment, logger: Logger) async throws {
        guard !options.noSetup else { return }
        guard try await environment.lab.isEmptyLab() else { return }
        guard let path = options.workbookPath else {
            let directory = FileManager.default.currentDirectoryPath as NSString
            let looked = FirstStartOptions.demoWorkbookCandidates
                .map { (directory.appendingPathComponent($0) as NSString).standardizingPath }
            let variable = ProcessInfo.processInfo.environment["SENAITE_SETUP_XLSX"] ?? ""
            let fromVariable = variable.isEmpty ? "SENAITE_SETUP_XLSX not set" : "no file at SENAITE_SETUP_XLSX=\(variable)"
            throw CLIError("the lab at \(environment.path) has no users, so every login would fail, and no setup workbook was found "
                           + "(--setup not given, \(fromVariable), none at \(looked.joined(separator: " or "))). "
                           + "Start with --setup FILE.xlsx, or run `limsqueue setup import FILE.xlsx` first, or add a lab manager "
                           + "(`limsqueue migrate`, then `limsqueue users add NAME --role LabManager`); --no-setup serves the "
                           + "empty lab anyway.")
        }
        logger.notice("empty lab: importing the setup workbook", metadata: ["lims.setup": .string(path)])
        let workbook: XLSXWorkbook
        do {
            workbook = try XLSXWorkbook(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw CLIError("cannot read \(path): \(error)")
        }
        let report = try await importWorkbook(workbook, into: environment, bcryptCost: 10, progress: ProgressBar(enabled: false))
        let references = try await createReferenceSamples(in: environment, validDays: 365)
        var samples: [String] = []
        if options.demoSamples > 0 {
            samples = try await DemoLab.createSamples(count: options.demoSamples, seed: 1, in: environment, progress: ProgressBar(enabled: false))
        }
        logger.notice("demo lab ready", metadata: [
            "lims.imported": .string(report.lines.joined(separator: "; ")),
            "lims.reference_samples": .stringConvertible(references.count), "lims.samples": .stringConvertible(samples.count),
        ])
    }
}

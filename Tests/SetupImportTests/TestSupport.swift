import Foundation
import LIMSCore
import SetupImport
import SetupWorkbook

enum TestSupport {
    /// The demo workbook: `SENAITE_SETUP_XLSX` (README's variable) or `SETUP_XLSX`, default
    /// `../shared/data/senaite-setup-test.xlsx` beside the repository.
    static let demoURL = URL(fileURLWithPath: ProcessInfo.processInfo.environment["SENAITE_SETUP_XLSX"]
        ?? ProcessInfo.processInfo.environment["SETUP_XLSX"]
        ?? URL(fileURLWithPath: #filePath)   // <repo>/Tests/SetupImportTests/TestSupport.swift
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("shared/data/senaite-setup-test.xlsx").path)

    /// A deterministic, visibly non-clear-text hasher.
    static func hash(_ password: String) -> String { "hashed(\(String(password.reversed())))" }

    static let now = 1_700_000_000.0

    @discardableResult
    static func importDemo(into state: inout LabState, uids: any UIDGenerator = SequentialUIDGenerator()) throws
        -> ImportReport {
        let workbook = try XLSXWorkbook(contentsOf: demoURL)
        return try SetupImporter.importWorkbook(workbook, into: &state, uids: uids, now: now, passwordHasher: hash)
    }

    /// Object counts per portal type, for comparing states.
    static func counts(_ state: LabState) -> [PortalType: Int] {
        Dictionary(grouping: state.allObjects, by: { type(of: $0).portalType }).mapValues(\.count)
    }
}

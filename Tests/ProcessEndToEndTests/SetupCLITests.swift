import Foundation
import LIMSCore
import Logging
import Storage
import TestSupport
import Testing
@testable import LimsQueueCLI

/// `limsqueue setup import`, `setup reference-samples` and `demo samples` on SENAITE's demo workbook.
@Suite("Setup and demo commands", .serialized)
struct SetupCLITests {
    /// The demo workbook: `SENAITE_SETUP_XLSX` (as README says), else `../shared/data/senaite-setup-test.xlsx` beside the
    /// repository (found by a fresh user: a clone elsewhere failed these suites although the variable was set).
    static let workbook = ProcessInfo.processInfo.environment["SENAITE_SETUP_XLSX"]
        ?? URL(fileURLWithPath: #filePath)   // <repo>/Tests/ProcessEndToEndTests/SetupCLITests.swift
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("shared/data/senaite-setup-test.xlsx").path

    func run(_ arguments: [String], dataDir: String) async throws -> (status: Int32, output: String) {
        try await runLimsQueue(arguments, dataDir: dataDir)
    }

    func objectCounts(_ directory: String) async throws -> [PortalType: Int] {
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let state = try await StorageEnvironment.with(dataDir: directory, logger: logger) { try await $0.lab.load() }
        return Dictionary(grouping: state.allObjects, by: { type(of: $0).portalType }).mapValues(\.count)
    }

    @Test("the demo workbook imports with SENAITE's counts; importing again duplicates nothing")
    func importTwice() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let first = try await run(["setup", "import", Self.workbook, "--bcrypt-cost", "4"], dataDir: directory.path)
        #expect(first.status == 0, "\(first.output)")
        for line in ["Client: 5", "Contact: 7", "LabContact: 8", "SampleType: 12", "Method: 11", "Instrument: 21",
                     "AnalysisCategory: 3", "AnalysisService: 25", "WorksheetTemplate: 1", "ReferenceDefinition: 3"] {
            #expect(first.output.contains(line), "missing '\(line)' in:\n\(first.output)")
        }
        let before = try await objectCounts(directory.path)
        #expect(before[.client] == 5 && before[.analysisService] == 25 && before[.worksheetTemplate] == 1)
        let second = try await run(["setup", "import", Self.workbook, "--bcrypt-cost", "4"], dataDir: directory.path)
        #expect(second.status == 0)
        #expect(try await objectCounts(directory.path) == before)

        let references = try await run(["setup", "reference-samples"], dataDir: directory.path)
        #expect(references.output.contains("ReferenceSample: 3"))
        #expect(try await run(["setup", "reference-samples"], dataDir: directory.path).output.contains("ReferenceSample: 0"))

        let samples = try await run(["demo", "samples", "--count", "30"], dataDir: directory.path)
        #expect(samples.status == 0 && samples.output.contains("AnalysisRequest: 30"), "\(samples.output)")
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        // Closed however the checks end: a failed #require used to leave its pools open, and AsyncKit's deinit
        // assertion then stopped the whole test process.
        try await StorageEnvironment.with(dataDir: directory.path, logger: logger) { environment in
            let state = try await environment.lab.load()
            #expect(state.samples.values.allSatisfy { $0.workflowState == "sample_received" })
            #expect(state.samples.values.allSatisfy { (3...8).contains(state.analyses(ofSample: $0.uid).count) })
            // A client contact's user lists only its own client's samples.
            let clientUsers = state.users.values.filter { $0.roles.contains(.client) && $0.linkedContactUID != nil }
            func sampleCount(_ user: User) -> Int {
                let clientUID = state.contacts[user.linkedContactUID!]?.clientUID
                return state.samples.values.filter { $0.clientUID == clientUID }.count
            }
            let clientUser = try #require(clientUsers.max { sampleCount($0) < sampleCount($1) })
            let contact = try #require(state.contacts[clientUser.linkedContactUID!])
            let visible = try await environment.lab.search(.sample, visibleTo: clientUser)
            let own = state.samples.values.filter { $0.clientUID == contact.clientUID }.map(\.uid)
            #expect(!own.isEmpty && own.count < state.samples.count)
            #expect(Set(visible) == Set(own))
        }
    }

    @Test("a re-import that links a client's contact again re-indexes that client's samples: its user finds them; an unchanged one re-indexes nothing")
    func reimportReindexesChangedClients() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        #expect(try await run(["setup", "import", Self.workbook, "--bcrypt-cost", "4"], dataDir: directory.path).status == 0)
        #expect(try await run(["demo", "samples", "--count", "30"], dataDir: directory.path).status == 0)
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        // Unlinked, and its client's subtree re-indexed: the user sees none of its client's samples.
        let (user, own) = try await StorageEnvironment.with(dataDir: directory.path, logger: logger) { environment -> (User, Set<String>) in
            let state = try await environment.lab.load()
            let user = try #require(state.users.values.filter { $0.roles.contains(.client) && $0.linkedContactUID != nil }
                .max { lhs, rhs in
                    state.samples.values.filter { $0.clientUID == state.contacts[lhs.linkedContactUID!]?.clientUID }.count
                        < state.samples.values.filter { $0.clientUID == state.contacts[rhs.linkedContactUID!]?.clientUID }.count
                })
            let contact = try #require(state.contacts[user.linkedContactUID!])
            let order = try await environment.lab.perform { state in try state.unlinkUser(fromContact: contact.uid) }
            try await environment.lab.reindexSecurity(order)
            let unlinked = try #require(try await environment.lab.user(named: user.userid))
            #expect(try await environment.lab.search(.sample, visibleTo: unlinked).isEmpty)
            return (unlinked, Set(state.samples.values.filter { $0.clientUID == contact.clientUID }.map(\.uid)))
        }
        #expect(!own.isEmpty)
        // The workbook links it again: the import changes the client and re-indexes its subtree.
        #expect(try await run(["setup", "import", Self.workbook, "--bcrypt-cost", "4"], dataDir: directory.path).status == 0)
        try await StorageEnvironment.with(dataDir: directory.path, logger: logger) { environment in
            let linked = try #require(try await environment.lab.user(named: user.userid))
            #expect(Set(try await environment.lab.search(.sample, visibleTo: linked)) == own)
        }
    }

    @Test("a file that is not a workbook is refused with a clear message and nothing is imported")
    func badFile() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let bogus = directory.path + "/bogus.xlsx"
        try Data("not a zip".utf8).write(to: URL(fileURLWithPath: bogus))
        let result = try await run(["setup", "import", bogus], dataDir: directory.path)
        #expect(result.status != 0 && result.output.contains("cannot read"))
        #expect(try await run(["setup", "import", directory.path + "/missing.xlsx"], dataDir: directory.path).output.contains("no such file"))
        #expect(try await objectCounts(directory.path).isEmpty)
    }
}

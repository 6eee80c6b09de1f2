import Foundation
import LIMSCore
import SetupImport
import SetupWorkbook
import Testing

/// Small workbooks built in the test: all-or-nothing validation and the sheets the demo leaves empty.
@Suite("Synthetic setup workbooks")
struct SyntheticWorkbookTests {
    typealias Sheet = WorkbookBuilder.Sheet

    static let clients = Sheet(name: "Clients", keys: ["Name", "ClientID", "EmailAddress"],
                               rows: [["Happy Hills", "HH", "hh@example.com"]])
    static let categories = Sheet(name: "Analysis Categories", keys: ["title", "description"],
                                  rows: [["Metals", "Trace metals"]])

    static func workbook(_ sheets: [Sheet]) throws -> XLSXWorkbook {
        let url = try WorkbookBuilder.write(sheets)
        defer { try? FileManager.default.removeItem(at: url) } // the workbook keeps no file handle
        return try XLSXWorkbook(contentsOf: url)
    }

    @discardableResult
    static func importing(_ sheets: [Sheet], into state: inout LabState) throws -> ImportReport {
        try SetupImporter.importWorkbook(try workbook(sheets), into: &state, uids: SequentialUIDGenerator(start: 1000),
                                         now: TestSupport.now, passwordHasher: TestSupport.hash)
    }

    /// A state that already holds something, so "unchanged" is meaningful.
    static func seededState() throws -> LabState {
        var state = LabState()
        try TestSupport.importDemo(into: &state)
        return state
    }

    @Test func unknownClientAndMissingKeywordAreBothReportedAndNothingChanges() throws {
        let sheets = [
            Self.clients,
            Sheet(name: "Client Contacts", keys: ["Client_title", "Firstname", "Surname", "Username", "Password"],
                  rows: [["Happy Hills", "Ann", "Able", "annab", "secret"],
                         ["Nowhere Inc", "Bob", "Baker", "", ""]]),
            Self.categories,
            Sheet(name: "Analysis Services", keys: ["title", "Keyword", "AnalysisCategory_title", "Unit"],
                  rows: [["Calcium", "Ca", "Metals", "mg/l"],
                         ["Copper", "", "Metals", "mg/l"]]),
        ]
        var state = try Self.seededState()
        let before = state
        var progressCalls = 0
        let error = try #require(throws: ImportError.self) {
            try SetupImporter.importWorkbook(try Self.workbook(sheets), into: &state, uids: SequentialUIDGenerator(),
                                             now: TestSupport.now, passwordHasher: TestSupport.hash) { _, _, _ in
                progressCalls += 1
            }
        }
        #expect(error.problems == [
            ImportProblem(sheet: "Client Contacts", row: 5, field: "Client_title",
                          reason: "unknown client 'Nowhere Inc' (no client has this Name)"),
            ImportProblem(sheet: "Analysis Services", row: 5, field: "Keyword", reason: "is empty"),
        ])
        #expect(error.description.contains("Sheet 'Client Contacts', row 5, field 'Client_title': unknown client 'Nowhere Inc'"))
        #expect(error.description.contains("Sheet 'Analysis Services', row 5, field 'Keyword': is empty"))
        #expect(error.description.hasPrefix("The setup workbook has 2 problems; nothing was imported:"))
        #expect(state == before)
        #expect(progressCalls == 0)
        #expect(SetupImporter.validate(try Self.workbook(sheets), against: before) == error.problems)
    }

    @Test func brokenWorkbookIntoAnEmptyStateLeavesItEmpty() throws {
        let sheets = [
            Sheet(name: "Client Contacts", keys: ["Client_title", "Firstname", "Surname"],
                  rows: [["Nobody", "Ann", "Able"]]),
        ]
        var state = LabState()
        #expect(throws: ImportError.self) { try Self.importing(sheets, into: &state) }
        #expect(state == LabState())
        #expect(state.changes.isEmpty)
    }

    @Test func everyKindOfProblemIsCollected() throws {
        let sheets = [
            Sheet(name: "Lab Contacts", keys: ["Firstname", "Surname", "Username", "Password", "Groups"],
                  rows: [["Lab", "One", "lab1", "", "Analysts"],          // new user without password
                         ["Lab", "Two", "lab 2", "pw", ""]]),              // user name with a space
            Self.clients,
            Sheet(name: "Client Contacts", keys: ["Client_title", "Firstname", "Surname", "Username", "Password"],
                  rows: [["Happy Hills", "Ann", "Able", "lab1", "pw"]]),   // user name taken by a lab contact row
            Sheet(name: "Sample Types", keys: ["title", "Prefix"],
                  rows: [["Water", "H2O"], ["River water", "H2O"]]),        // prefix repeated
            Self.categories,
            Sheet(name: "Analysis Services", keys: ["title", "Keyword", "AnalysisCategory_title", "DefaultMethod_title"],
                  rows: [["Calcium", "Ca", "Metals", ""],
                         ["Calcium again", "Ca", "Metals", ""],             // duplicate keyword
                         ["Iron", "Fe total", "Metals", ""],                // keyword with a space
                         ["Zinc", "Zn", "Nonmetals", "Magic"]]),            // unknown category and method
            Sheet(name: "Reference Definitions", keys: ["title", "Blank"],
                  rows: [["Blank water", "1"], ["Metals 10", "maybe"]]),    // bad yes/no
            Sheet(name: "Reference Definition Results", keys: ["ReferenceDefinition_title", "service", "result", "min", "max"],
                  rows: [["Blank water", "Calcium", "0", "0", "1"],
                         ["Blank water", "Unobtainium", "0", "0", "1"],     // unknown service
                         ["Metals 10", "Ca", "ten", "9", "11"]]),           // not a number
            Sheet(name: "Worksheet Templates", keys: ["title", "Instrument_title"],
                  rows: [["Hardness", "Nonexistent"]]),                     // unknown instrument
            Sheet(name: "Worksheet Template Services", keys: ["WorksheetTemplate_title", "service"],
                  rows: [["Softness", "Ca"]]),                              // unknown template
            Sheet(name: "Worksheet Template Layouts",
                  keys: ["WorksheetTemplate_title", "pos", "type", "blank_ref", "control_ref", "dup"],
                  rows: [["Hardness", "1", "Blank", "Blank water", "", ""],
                         ["Hardness", "2", "Sample", "", "", ""],           // bad layout type
                         ["Hardness", "3", "Control", "", "Tap water", ""], // unknown reference definition
                         ["Hardness", "4", "Analysis", "", "", ""],
                         ["Hardness", "4", "Analysis", "", "", ""],         // position repeated
                         ["Hardness", "5", "Duplicate", "", "", "1"],       // duplicate of a blank row
                         ["Hardness", "6", "Control", "", "Blank water", ""]]), // a blank used as control
        ]
        var state = LabState()
        let error = try #require(throws: ImportError.self) { try Self.importing(sheets, into: &state) }
        let found = Set(error.problems.map { "\($0.sheet)|\($0.row.map(String.init) ?? "-")|\($0.field ?? "-")" })
        let expected: Set<String> = [
            "Lab Contacts|4|Password", "Lab Contacts|5|Username", "Client Contacts|4|Username",
            "Sample Types|5|Prefix", "Analysis Services|5|Keyword", "Analysis Services|6|Keyword",
            "Analysis Services|7|AnalysisCategory_title", "Analysis Services|7|DefaultMethod_title",
            "Reference Definitions|5|Blank", "Reference Definition Results|5|service",
            "Reference Definition Results|6|result", "Worksheet Templates|4|Instrument_title",
            "Worksheet Template Services|4|WorksheetTemplate_title", "Worksheet Template Layouts|5|type",
            "Worksheet Template Layouts|6|control_ref", "Worksheet Template Layouts|8|pos",
            "Worksheet Template Layouts|9|dup", "Worksheet Template Layouts|10|control_ref",
        ]
        #expect(found == expected, "\(error)")
        #expect(error.problems.count == expected.count, "\(error)")
        let duplicate = error.problems.first { $0.sheet == "Analysis Services" && $0.row == 5 }
        #expect(duplicate?.reason == "duplicate keyword 'Ca': already used on row 4")
        let layout = error.problems.first { $0.sheet == "Worksheet Template Layouts" && $0.row == 5 }
        #expect(layout?.reason.hasPrefix("bad layout type 'Sample'") == true)
        #expect(state == LabState())
    }

    @Test func referenceSamplesAndTheirResultsAreImported() throws {
        let sheets = [
            Self.categories,
            Sheet(name: "Analysis Services", keys: ["title", "Keyword", "AnalysisCategory_title"],
                  rows: [["Calcium", "Ca", "Metals"], ["Copper", "Cu", "Metals"]]),
            Sheet(name: "Reference Definitions", keys: ["title", "Blank"],
                  rows: [["Blank water", "1"], ["Metals 10", "0"]]),
            Sheet(name: "Reference Definition Results", keys: ["ReferenceDefinition_title", "service", "result", "min", "max"],
                  rows: [["Metals 10", "Calcium", "10", "9", "11"], ["Metals 10", "Cu", "10", "9", "11"]]),
            Sheet(name: "Reference Samples",
                  keys: ["id", "description", "Supplier_title", "ReferenceDefinition_title", "Blank", "ExpiryDate",
                         "DateDisposed"],
                  rows: [["RS-1", "Control lot A", "Acme", "Metals 10", "", "2030-06-30", ""],
                         ["RS-2", "Old blank", "Acme", "Blank water", "", "2020-01-31", "2020-02-01"]]),
            Sheet(name: "Reference Sample Results",
                  keys: ["ReferenceSample_id", "AnalysisService_title", "result", "min", "max"],
                  rows: [["RS-1", "Copper", "10.5", "9.5", "11.5"]]),
        ]
        var state = LabState()
        let report = try Self.importing(sheets, into: &state)
        #expect(report.count(.referenceSample).created == 2)
        #expect(report.notes.contains { $0.contains("'Reference Samples': columns not imported") && $0.contains("Supplier_title") })
        let definition = try #require(state.referenceDefinitions.values.first { $0.title == "Metals 10" })
        let ca = try #require(state.analysisServices.values.first { $0.keyword == "Ca" })
        let cu = try #require(state.analysisServices.values.first { $0.keyword == "Cu" })
        let control = try #require(state.referenceSamples.values.first { $0.title == "RS-1" })
        #expect(control.id.hasPrefix("SA-"))
        #expect(!control.blank)
        #expect(control.definitionUID == definition.uid)
        #expect(control.expected[ca.uid] == ReferenceValue(result: "10", min: "9", max: "11"))
        #expect(control.expected[cu.uid] == ReferenceValue(result: "10.5", min: "9.5", max: "11.5"))
        let expiry = try #require(control.expiryDate)
        #expect(ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: expiry)) == "2030-06-30T00:00:00Z")
        #expect(control.isValid(at: TestSupport.now))
        let blank = try #require(state.referenceSamples.values.first { $0.title == "RS-2" })
        #expect(blank.blank)
        #expect(blank.dateDisposed != nil)
        #expect(!blank.isValid(at: TestSupport.now))

        state.clearChanges()
        let again = try Self.importing(sheets, into: &state)
        #expect(again.count(.referenceSample).updated == 2)
        #expect(again.totalCreated == 0)
        #expect(state.referenceSamples.count == 2)
        #expect(state.changes.isEmpty)
    }

    @Test func serviceMethodAndInstrumentLinksAreMerged() throws {
        let sheets = [
            Sheet(name: "Methods", keys: ["title"], rows: [["Titration"], ["AES"]]),
            Sheet(name: "Instruments", keys: ["title", "Method"], rows: [["Titrator 1", "Titration"], ["AA 1", ""]]),
            Self.categories,
            Sheet(name: "Analysis Services",
                  keys: ["title", "Keyword", "AnalysisCategory_title", "DefaultMethod_title", "DefaultInstrument_title"],
                  rows: [["Calcium", "Ca", "Metals", "AES", "AA 1"]]),
            Sheet(name: "AnalysisService Methods", keys: ["Service_title", "Method_title"],
                  rows: [["Calcium", "Titration"], ["Ca", "AES"]]),
            Sheet(name: "AnalysisService Instruments", keys: ["Service_title", "Instrument_title"],
                  rows: [["Calcium", "Titrator 1"]]),
        ]
        var state = LabState()
        try Self.importing(sheets, into: &state)
        let methods = Dictionary(uniqueKeysWithValues: state.methods.values.map { ($0.title, $0.uid) })
        let instruments = Dictionary(uniqueKeysWithValues: state.instruments.values.map { ($0.title, $0) })
        let ca = try #require(state.analysisServices.values.first)
        #expect(ca.methodUIDs == [methods["AES"]!, methods["Titration"]!])
        #expect(ca.instrumentUIDs == [instruments["AA 1"]!.uid, instruments["Titrator 1"]!.uid])
        #expect(instruments["Titrator 1"]?.methodUIDs == [methods["Titration"]!])
        #expect(instruments["AA 1"]?.methodUIDs == [])
        #expect(state.worksheetTemplates.isEmpty)
        #expect(state.clients.isEmpty)
    }

    @Test func missingSheetsAreNotedNotFatal() throws {
        var state = LabState()
        let report = try Self.importing([Self.clients], into: &state)
        #expect(report.lines.first { $0.hasPrefix("Client:") } == "Client: 1")
        #expect(report.notes.contains("Sheet 'Worksheet Templates' is not in the workbook; skipped"))
        #expect(state.clients.count == 1)
    }

    @Test func rolesColumnAndClientContactOnExistingClient() throws {
        var state = LabState()
        let existing = state.createClient(name: "Happy Hills", clientID: "HH", uids: SequentialUIDGenerator(start: 500),
                                          now: 1)
        let sheets = [
            Sheet(name: "Lab Contacts", keys: ["Firstname", "Surname", "Username", "Password", "Groups", "Roles"],
                  rows: [["Vera", "Fier", "vera", "pw", "Analysts", "Verifier, LabClerk, Publisher"]]),
            Sheet(name: "Client Contacts", keys: ["Client_title", "Firstname", "Surname", "Username", "Password",
                                                  "EmailAddress"],
                  rows: [["Happy Hills", "Ann", "Able", "annab", "pw", "ann@example.com"]]),
        ]
        let report = try Self.importing(sheets, into: &state)
        #expect(state.user(named: "vera")?.roles == [.analyst, .verifier, .labClerk])
        #expect(report.notes.contains { $0.contains("role 'Publisher' is not a LIMSCore role") })
        let ann = try #require(state.user(named: "annab"))
        let contact = try #require(state.contacts.values.first)
        #expect(contact.clientUID == existing.uid)
        #expect(ann.linkedContactUID == contact.uid)
        #expect(ann.email == "ann@example.com")
        #expect(state.clients[existing.uid]?.localRoles["annab"] == [.owner])
        #expect(report.count(.client).total == 0)
    }
}

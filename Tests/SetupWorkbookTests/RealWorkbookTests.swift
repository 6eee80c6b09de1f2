import Foundation
import Testing
@testable import SetupWorkbook

/// Tests against SENAITE's own setup workbook. The path can be overridden with
/// the SENAITE_SETUP_XLSX environment variable.
@Suite("Real SENAITE setup workbook")
struct RealWorkbookTests {
    static let url = URL(fileURLWithPath: ProcessInfo.processInfo.environment["SENAITE_SETUP_XLSX"]
        ?? URL(fileURLWithPath: #filePath)   // <repo>/Tests/SetupWorkbookTests/RealWorkbookTests.swift
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("shared/data/senaite-setup-test.xlsx").path)

    let workbook: XLSXWorkbook

    init() throws {
        workbook = try XLSXWorkbook(contentsOf: Self.url)
    }

    @Test func sheetNamesAreListedInWorkbookOrder() {
        let names = workbook.sheetNames
        #expect(names.count == 60)
        #expect(names.first == "Instructions")
        #expect(names.last == "Constants")
        let expectedOrder = ["Lab Contacts", "Lab Departments", "Clients", "Client Contacts",
                             "Sample Types", "Methods", "Instruments", "Analysis Categories",
                             "Analysis Services", "AnalysisService Methods", "AnalysisService Instruments",
                             "Reference Definitions", "Reference Definition Results", "Reference Samples",
                             "Reference Sample Results", "Worksheet Templates",
                             "Worksheet Template Services", "Worksheet Template Layouts"]
        let positions = expectedOrder.compactMap { names.firstIndex(of: $0) }
        #expect(positions.count == expectedOrder.count)
        #expect(positions == positions.sorted())
        #expect(workbook.dateSystem == .date1900)
    }

    @Test func clientsYieldFiveRecordsWithNamesAndRows() throws {
        let clients = try workbook.setupSheet(named: "Clients")
        #expect(clients.keys.prefix(3) == ["Name", "ClientID", "MemberDiscountApplies"])
        #expect(clients.records.map(\.row) == [4, 5, 6, 7, 8])
        #expect(clients.records.map { $0.string("Name") } == ["Happy Hills", "Klaymore", "Myrtle", "Ruff", "Ŝunnyside"])
        #expect(clients.records.map { $0.string("ClientID") } == ["HH", "KL", "MY", "RUF", "SS"])
        let first = try #require(clients.records.first)
        #expect(try first.bool("MemberDiscountApplies") == true)
        #expect(try first.bool("BulkDiscount") == false)
        #expect(first.string("Phone") == "021 555 4220")
        #expect(first.string("AccountNumber") == nil)
        #expect(first.sheetName == "Clients")
    }

    @Test func analysisServicesYieldKeywords() throws {
        let services = try workbook.setupSheet(named: "Analysis Services")
        #expect(services.records.count == 25)
        #expect(services.records.first?.row == 4)
        #expect(services.records.last?.row == 28)
        let keywords = try services.records.map { try $0.requiredString("Keyword") }
        #expect(keywords == ["Temp", "pHField", "Ca", "COD", "Conductivity", "Cu", "Fe", "Mg", "Mn",
                             "Moist", "Phos", "pH", "Na", "CaCO3", "THCaCO3", "Zn", "T", "DM", "Clos",
                             "Entero", "Ecoli", "Salmon", "Ecolicnt", "Enterocnt", "TVBcnt"])
        let temperature = try #require(services.records.first)
        #expect(temperature.string("title") == "Temperature")
        #expect(temperature.string("Unit") == "Deg. C")
        #expect(try temperature.int("Precision") == 2)
        #expect(try temperature.double("BulkPrice") == 7.5)
        #expect(temperature.string("BulkPrice") == "7.5")
        #expect(temperature.string("UpperDetectionLimit") == "1000000000")
        #expect(try temperature.bool("ManualEntryOfResults") == true)
        #expect(try temperature.bool("Accredited") == false)
        #expect(temperature.string("Calculation_title") == nil)
    }

    @Test func worksheetTemplateLayoutsAreReadable() throws {
        let layouts = try workbook.setupSheet(named: "Worksheet Template Layouts")
        #expect(layouts.keys == ["WorksheetTemplate_title", "pos", "type", "blank_ref", "control_ref", "dup"])
        #expect(layouts.records.count == 20)
        let positions = try layouts.records.map { try $0.requiredInt("pos") }
        #expect(positions == Array(1...20))
        let first = try #require(layouts.records.first)
        #expect(first.string("type") == "Blank")
        #expect(first.string("blank_ref") == "Distilled Water")
        let duplicate = try #require(layouts.records.first { $0.string("type") == "Duplicate" })
        #expect(duplicate.row == 21)
        #expect(try duplicate.int("dup") == 3)
        #expect(try duplicate.int("blank_ref") == nil)
    }

    @Test func styledDateCellsDecodeToDates() throws {
        let definitions = try workbook.setupSheet(named: "Reference Definitions")
        let water = try #require(definitions.records.first)
        #expect(water.string("title") == "Distilled Water")
        guard case .date = water["DateCreated"] else {
            Issue.record("DateCreated should be a date cell, got \(String(describing: water["DateCreated"]))")
            return
        }
        #expect(try water.requiredDate("DateCreated") == utcDate(2023, 10, 2))
        #expect(try water.date("ExpiryDate") == utcDate(2030, 10, 2))
        #expect(water.string("DateCreated") == "2023-10-02")

        let instruments = try workbook.setupSheet(named: "Instruments")
        let cropScan = try #require(instruments.records.first)
        #expect(try cropScan.date("Instalationdate") == utcDate(2012, 6, 26))
        #expect(try cropScan.date("CalibrationExpiryDate") == utcDate(2025, 5, 13))
        #expect(try cropScan.date("VerificationExpiryDate") == nil)
        // A serial number stored in a non-date column stays a number.
        #expect(cropScan["SerialNo"] == .number(30308))
    }

    @Test func recordCountsPerSheet() throws {
        let expected: [String: Int] = [
            "Lab Contacts": 8, "Lab Departments": 5, "Clients": 5, "Client Contacts": 7,
            "Sample Types": 12, "Methods": 11, "Instruments": 21, "Analysis Categories": 3,
            "Analysis Services": 25, "AnalysisService Methods": 0, "AnalysisService Instruments": 0,
            "Worksheet Templates": 1, "Worksheet Template Services": 2, "Worksheet Template Layouts": 20,
            "Reference Definitions": 3, "Reference Definition Results": 20, "Reference Samples": 0,
            "Reference Sample Results": 0,
        ]
        for (name, count) in expected {
            let sheet = try workbook.setupSheet(named: name)
            #expect(sheet.records.count == count, "sheet \(name)")
            #expect(!sheet.keys.isEmpty, "sheet \(name) has keys")
        }
    }

    @Test func requiredStringOnEmptyFieldNamesSheetRowAndField() throws {
        let clients = try workbook.setupSheet(named: "Clients")
        let ruff = try #require(clients.records.first { $0.row == 7 })
        let error = try #require(throws: SetupWorkbookError.self) {
            try ruff.requiredString("AccountNumber")
        }
        #expect(error == .badField(sheet: "Clients", row: 7, field: "AccountNumber", reason: "is empty"))
        #expect(error.description == "Sheet 'Clients', row 7, field 'AccountNumber': is empty")

        let unknown = try #require(throws: SetupWorkbookError.self) { try ruff.requiredString("Nmae") }
        #expect(unknown.description.contains("row 7, field 'Nmae': the sheet has no column"))
    }

    @Test func missingSheetIsNilOrANamedError() throws {
        #expect(try workbook.sheet(named: "No Such Sheet") == nil)
        #expect(try workbook.sheet(named: "clients") == nil)
        let error = try #require(throws: SetupWorkbookError.self) {
            try workbook.setupSheet(named: "No Such Sheet")
        }
        guard case let .missingSheet(name, available) = error else {
            Issue.record("unexpected \(error)")
            return
        }
        #expect(name == "No Such Sheet")
        #expect(available == workbook.sheetNames)
        #expect(error.description.hasPrefix("The workbook has no sheet named 'No Such Sheet'"))
    }

    @Test func everySheetParses() throws {
        for name in workbook.sheetNames {
            let sheet = try #require(try workbook.sheet(named: name))
            #expect(sheet.name == name)
            #expect(sheet[row: 1] != nil, "sheet \(name) has a first row")
        }
    }
}

/// Midnight UTC on the given day.
func utcDate(_ year: Int, _ month: Int, _ day: Int, _ hour: Int = 0, _ minute: Int = 0,
             _ second: Int = 0) -> Date {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(identifier: "UTC")!
    return calendar.date(from: DateComponents(year: year, month: month, day: day,
                                              hour: hour, minute: minute, second: second))!
}

import Foundation
import Testing
@testable import SetupWorkbook

/// Failures to open or parse a workbook, and their messages.
@Suite("Errors")
struct ErrorTests {
    @Test func missingFile() {
        let path = "/nonexistent/folder/setup.xlsx"
        #expect(throws: SetupWorkbookError.unreadableArchive(path: path, reason: "the file does not exist")) {
            try XLSXWorkbook(contentsOf: URL(fileURLWithPath: path))
        }
    }

    @Test func notAZipFile() throws {
        let url = XLSXFixture.temporaryURL()
        try Data("Name,ClientID\nHappy Hills,HH\n".utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let error = try #require(throws: SetupWorkbookError.self) { try XLSXWorkbook(contentsOf: url) }
        guard case let .unreadableArchive(path, reason) = error else {
            Issue.record("unexpected \(error)")
            return
        }
        #expect(path == url.path)
        #expect(reason.contains("not a ZIP archive"))
        #expect(error.description.hasPrefix("Cannot read '\(url.path)' as an Excel (.xlsx) workbook"))
    }

    @Test func folderInsteadOfFile() {
        let url = FileManager.default.temporaryDirectory
        #expect(throws: SetupWorkbookError.unreadableArchive(path: url.path, reason: "it is a folder, not a file")) {
            try XLSXWorkbook(contentsOf: url)
        }
    }

    @Test func zipWithoutWorkbookPart() throws {
        let url = try XLSXFixture.write(["hello.txt": "not a workbook"])
        defer { try? FileManager.default.removeItem(at: url) }
        #expect(throws: SetupWorkbookError.missingPart(part: "xl/workbook.xml")) {
            try XLSXWorkbook(contentsOf: url)
        }
    }

    @Test func missingSheetPart() throws {
        var parts = XLSXFixture.minimalParts(sheetXML: "")
        parts["xl/worksheets/sheet1.xml"] = nil
        let url = try XLSXFixture.write(parts)
        defer { try? FileManager.default.removeItem(at: url) }
        let workbook = try XLSXWorkbook(contentsOf: url)
        #expect(workbook.sheetNames == ["Setup"])
        #expect(throws: SetupWorkbookError.missingPart(part: "xl/worksheets/sheet1.xml")) {
            try workbook.sheet(named: "Setup")
        }
    }

    @Test func malformedSheetXML() throws {
        let url = try XLSXFixture.write(XLSXFixture.minimalParts(
            sheetXML: "<worksheet><sheetData><row r=\"1\"><c r=\"A1\"><v>1</v></row></sheetData>"))
        defer { try? FileManager.default.removeItem(at: url) }
        let workbook = try XLSXWorkbook(contentsOf: url)
        let error = try #require(throws: SetupWorkbookError.self) { try workbook.sheet(named: "Setup") }
        guard case let .malformedXML(part, reason) = error else {
            Issue.record("unexpected \(error)")
            return
        }
        #expect(part == "xl/worksheets/sheet1.xml")
        #expect(reason.contains("line"))
    }

    @Test(arguments: ["<worksheet><sheetData><row r=\"1\">", "<worksheet><sheetData></worksheet>", "   "])
    func truncatedOrMismatchedSheetXML(xml: String) throws {
        let url = try XLSXFixture.write(XLSXFixture.minimalParts(sheetXML: xml))
        defer { try? FileManager.default.removeItem(at: url) }
        let workbook = try XLSXWorkbook(contentsOf: url)
        let error = try #require(throws: SetupWorkbookError.self) { try workbook.sheet(named: "Setup") }
        guard case .malformedXML(part: "xl/worksheets/sheet1.xml", _) = error else {
            Issue.record("unexpected \(error)")
            return
        }
    }

    @Test func brokenSharedStrings() throws {
        let url = try XLSXFixture.write(XLSXFixture.minimalParts(
            sheetXML: "<worksheet/>", sharedStrings: "<sst><si><t>a</si></sst>"))
        defer { try? FileManager.default.removeItem(at: url) }
        let error = try #require(throws: SetupWorkbookError.self) { try XLSXWorkbook(contentsOf: url) }
        #expect(error.description.hasPrefix("The workbook is damaged: part 'xl/sharedStrings.xml' could not be read (not well-formed XML near line 1"), "\(error)")
    }

    @Test func badCellReferenceAndSharedStringIndex() throws {
        for (cell, fragment) in [("<c r=\"1A\"><v>1</v></c>", "cell reference '1A'"),
                                 ("<c r=\"A1\" t=\"s\"><v>7</v></c>", "shared string '7'"),
                                 ("<c r=\"A1\"><v>abc</v></c>", "number 'abc'")] {
            let url = try XLSXFixture.write(XLSXFixture.minimalParts(
                sheetXML: "<worksheet><sheetData><row r=\"1\">\(cell)</row></sheetData></worksheet>"))
            defer { try? FileManager.default.removeItem(at: url) }
            let workbook = try XLSXWorkbook(contentsOf: url)
            let error = try #require(throws: SetupWorkbookError.self) { try workbook.sheet(named: "Setup") }
            #expect(error.description.contains(fragment), "\(error)")
        }
    }

    @Test func malformedWorkbookXML() throws {
        var parts = XLSXFixture.minimalParts(sheetXML: "<worksheet/>")
        parts["xl/workbook.xml"] = "<workbook><sheets><sheet name=\"A\""
        let url = try XLSXFixture.write(parts)
        defer { try? FileManager.default.removeItem(at: url) }
        let error = try #require(throws: SetupWorkbookError.self) { try XLSXWorkbook(contentsOf: url) }
        guard case .malformedXML(part: "xl/workbook.xml", _) = error else {
            Issue.record("unexpected \(error)")
            return
        }
    }
}

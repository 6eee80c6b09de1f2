import Foundation
import Testing
@testable import SetupWorkbook

/// Pure value conversions: cell text, yes/no parsing, dates, formats, references.
@Suite("Values")
struct ValueTests {
    @Test func cellText() {
        #expect(XLSXCell.number(10).text == "10")
        #expect(XLSXCell.number(-3).text == "-3")
        #expect(XLSXCell.number(7.5).text == "7.5")
        #expect(XLSXCell.number(1e20).text == "1e+20")
        #expect(XLSXCell.string("  Happy Hills \n").text == "Happy Hills")
        #expect(XLSXCell.bool(true).text == "TRUE")
        #expect(XLSXCell.error("#REF!").text == "#REF!")
        #expect(XLSXCell.date(utcDate(2024, 2, 29)).text == "2024-02-29")
        #expect(XLSXCell.string("   ").isEmpty)
    }

    @Test(arguments: [("1", true), ("0", false), ("TRUE", true), ("false", false), (" Yes ", true),
                      ("no", false), ("x", true), ("X", true)])
    func boolText(text: String, expected: Bool) {
        #expect(XLSXCell.string(text).boolValue == expected)
    }

    @Test func boolRejects() {
        #expect(XLSXCell.string("maybe").boolValue == nil)
        #expect(XLSXCell.string("").boolValue == nil)
        #expect(XLSXCell.number(2).boolValue == nil)
        #expect(XLSXCell.number(1).boolValue == true)
        #expect(XLSXCell.bool(false).boolValue == false)
    }

    @Test func numbers() {
        #expect(XLSXCell.string(" 7.5 ").doubleValue == 7.5)
        #expect(XLSXCell.string("7,5").doubleValue == nil)
        #expect(XLSXCell.string("10.0").intValue == 10)
        #expect(XLSXCell.number(2.5).intValue == nil)
        #expect(XLSXCell.bool(true).intValue == nil)
    }

    @Test func isoTextDates() {
        #expect(XLSXCell.string("2024-12-31").dateValue == utcDate(2024, 12, 31))
        #expect(XLSXCell.string("2024-12-31 08:30").dateValue == utcDate(2024, 12, 31, 8, 30))
        #expect(XLSXCell.string("2024-12-31T08:30:15").dateValue == utcDate(2024, 12, 31, 8, 30, 15))
        #expect(XLSXCell.string("2024-02-30").dateValue == nil)
        #expect(XLSXCell.string("31/12/2024").dateValue == nil)
        #expect(XLSXCell.number(45201).dateValue == nil)
    }

    @Test func excelSerials() {
        let system = ExcelDateSystem.date1900
        #expect(system.date(fromSerial: 1) == utcDate(1900, 1, 1))
        #expect(system.date(fromSerial: 59) == utcDate(1900, 2, 28))
        #expect(system.date(fromSerial: 60) == utcDate(1900, 2, 28))  // Excel's phantom 1900-02-29
        #expect(system.date(fromSerial: 61) == utcDate(1900, 3, 1))
        #expect(system.date(fromSerial: 45201.5) == utcDate(2023, 10, 2, 12))
        #expect(system.date(fromSerial: -1) == nil)
        #expect(system.date(fromSerial: .nan) == nil)
        #expect(system.serial(from: utcDate(2023, 10, 2)) == 45201)
        #expect(ExcelDateSystem.date1904.date(fromSerial: 1462) == utcDate(1908, 1, 2))
    }

    @Test func dateFormatDetection() {
        #expect(NumberFormats.isDate(id: 14, code: nil))
        #expect(NumberFormats.isDate(id: 22, code: nil))
        #expect(NumberFormats.isDate(id: 47, code: nil))
        #expect(!NumberFormats.isDate(id: 0, code: nil))
        #expect(!NumberFormats.isDate(id: 49, code: nil))
        for code in ["dd/mm/yy", "dd\\-mm\\-yyyy;@", "yyyy-mm-dd hh:mm", "[$-409]d-mmm", "[h]:mm:ss"] {
            #expect(NumberFormats.isDateFormatCode(code), "\(code)")
        }
        for code in ["General", "@", "#", "0.00", "\"BOOL\"e\"AN\"", "#,##0 \"days\"", "0.0_);[Red](0.0)"] {
            #expect(!NumberFormats.isDateFormatCode(code), "\(code)")
        }
    }

    @Test func cellReferences() {
        #expect(CellReference.parse("C7")! == (3, 7))
        #expect(CellReference.parse("AB12")! == (28, 12))
        #expect(CellReference.parse("XFD1048576")! == (16_384, 1_048_576))
        #expect(CellReference.parse("AD")! == (30, nil))
        #expect(CellReference.parse("7C") == nil)
        #expect(CellReference.parse("$A$1") == nil)
        #expect(CellReference.parse("A0") == nil)
        #expect(CellReference.letters(forColumn: 1) == "A")
        #expect(CellReference.letters(forColumn: 28) == "AB")
        #expect(CellReference.letters(forColumn: 16_384) == "XFD")
    }

    @Test func partPaths() {
        #expect(PackageReader.resolve("worksheets/sheet1.xml", relativeTo: "xl/workbook.xml") == "xl/worksheets/sheet1.xml")
        #expect(PackageReader.resolve("/xl/sharedStrings.xml", relativeTo: "xl/workbook.xml") == "xl/sharedStrings.xml")
        #expect(PackageReader.resolve("../media/a.png", relativeTo: "xl/worksheets/sheet1.xml") == "xl/media/a.png")
        #expect(PackageReader.relationshipsPart(for: "xl/workbook.xml") == "xl/_rels/workbook.xml.rels")
        #expect(PackageReader.relationshipsPart(for: "") == "_rels/.rels")
    }

    @Test func ooxmlEscapes() {
        #expect(XMLPartReader.unescapeOOXML("a_x000D_b") == "a\rb")
        #expect(XMLPartReader.unescapeOOXML("snake_x005F_case") == "snake_case")
        #expect(XMLPartReader.unescapeOOXML("plain_xyz_") == "plain_xyz_")
        #expect(XMLPartReader.unescapeOOXML("end_x00") == "end_x00")
    }
}

import Foundation
import Testing
@testable import SetupWorkbook

/// Tests on small workbooks written by the tests themselves, covering cell
/// kinds the real workbook does not use (inline strings, booleans, errors,
/// formulas, sparse cells, namespace prefixes, the 1904 date system).
@Suite("Synthetic workbooks")
struct SyntheticWorkbookTests {
    static let styles = """
        <?xml version="1.0" encoding="UTF-8"?>
        <styleSheet xmlns="\(XLSXFixture.mainNS)">\
        <numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy\\-mm\\-dd"/>\
        <numFmt numFmtId="165" formatCode="&quot;BOOL&quot;e&quot;AN&quot;"/></numFmts>\
        <cellXfs count="4"><xf numFmtId="0" fontId="0"/><xf numFmtId="164" fontId="0"/>\
        <xf numFmtId="22" fontId="0"/><xf numFmtId="165" fontId="0"/></cellXfs>\
        </styleSheet>
        """

    static let sharedStrings = """
        <?xml version="1.0" encoding="UTF-8"?>
        <sst xmlns="\(XLSXFixture.mainNS)" count="3" uniqueCount="3">\
        <si><t>note</t></si>\
        <si><r><rPr><b/></rPr><t xml:space="preserve">Rich </t></r><r><t>text</t></r>\
        <rPh sb="0" eb="1"><t>PHONETIC</t></rPh></si>\
        <si><t>line_x000D_break</t></si>\
        </sst>
        """

    static let sheet = """
        <?xml version="1.0" encoding="UTF-8"?>
        <worksheet xmlns="\(XLSXFixture.mainNS)"><dimension ref="A1:F9"/><sheetData>\
        <row r="1"><c r="A1" t="inlineStr"><is><t>title</t></is></c>\
        <c r="B1" t="inlineStr"><is><t> count </t></is></c>\
        <c r="C1" t="inlineStr"><is><t>active</t></is></c>\
        <c r="D1" t="inlineStr"><is><t>when</t></is></c>\
        <c r="E1" t="s"><v>0</v></c></row>\
        <row r="2"><c r="A2" t="inlineStr"><is><t>Help text</t></is></c></row>\
        <row r="3"><c r="A3" t="inlineStr"><is><t>Title</t></is></c></row>\
        <row r="4"><c r="A4" t="inlineStr"><is><t>Alpha</t></is></c><c r="B4"><v>12</v></c>\
        <c r="C4" t="b"><v>1</v></c><c r="D4" s="1"><v>45201</v></c><c r="E4" t="s"><v>1</v></c>\
        <c r="F4" t="inlineStr"><is><t>unkeyed</t></is></c></row>\
        <row r="6"><c r="B6"><f>1+2</f><v>3</v></c><c r="C6" t="e"><v>#N/A</v></c>\
        <c r="E6" t="inlineStr"><is><r><t xml:space="preserve">  rich </t></r><r><t>inline  </t></r></is></c></row>\
        <row r="7"><c r="A7" t="inlineStr"><is><t>   </t></is></c><c r="B7" s="1"/>\
        <c r="F7" t="inlineStr"><is><t>only unkeyed</t></is></c></row>\
        <row r="8"><c t="inlineStr"><is><t>Beta</t></is></c><c><v>2.5</v></c>\
        <c t="str"><f>IF(1,"yes","no")</f><v>yes</v></c><c s="2"><v>45201.75</v></c>\
        <c t="s"><v>2</v></c></row>\
        <row r="9" spans="1:6"/><row r="10"><c r="A10" s="3"/></row>\
        </sheetData></worksheet>
        """

    let workbook: XLSXWorkbook

    init() throws {
        let url = try XLSXFixture.write(XLSXFixture.minimalParts(
            sheetXML: Self.sheet, sharedStrings: Self.sharedStrings, styles: Self.styles))
        defer { try? FileManager.default.removeItem(at: url) }
        workbook = try XLSXWorkbook(contentsOf: url)
    }

    @Test func rawCellsAreSparseAndTyped() throws {
        #expect(workbook.sheetNames == ["Setup"])
        let sheet = try #require(try workbook.sheet(named: "Setup"))
        #expect(sheet.rows.map(\.number) == [1, 2, 3, 4, 6, 7, 8])
        #expect(sheet[row: 5] == nil)
        #expect(sheet.lastRowNumber == 8)
        #expect(sheet.cell("A4") == .string("Alpha"))
        #expect(sheet.cell("B4") == .number(12))
        #expect(sheet.cell("C4") == .bool(true))
        #expect(sheet.cell("D4") == .date(utcDate(2023, 10, 2)))
        #expect(sheet.cell("E4") == .string("Rich text"))
        #expect(sheet.cell("A6") == nil)
        #expect(sheet.cell("B6") == .number(3))
        #expect(sheet.cell("C6") == .error("#N/A"))
        #expect(sheet.cell("E6") == .string("  rich inline  "))
        #expect(sheet.cell("B7") == nil)
        #expect(sheet[row: 6]?.cells.keys.sorted() == [2, 3, 5])
        // Cells without an r attribute take consecutive columns.
        #expect(sheet.cell("A8") == .string("Beta"))
        #expect(sheet.cell("B8") == .number(2.5))
        #expect(sheet.cell("C8") == .string("yes"))
        #expect(sheet.cell("D8") == .date(utcDate(2023, 10, 2, 18)))
        #expect(sheet.cell("E8") == .string("line\rbreak"))
        #expect(sheet[row: 8]?.cell(inColumn: "D")?.text == "2023-10-02 18:00:00")
    }

    @Test func setupSheetSkipsHelpRowsAndEmptyRows() throws {
        let setup = try workbook.setupSheet(named: "Setup")
        #expect(setup.keys == ["title", "count", "active", "when", "note"])
        #expect(setup.columns["note"] == 5)
        // Row 7 only has whitespace and an unkeyed cell: no record.
        #expect(setup.records.map(\.row) == [4, 6, 8])

        let alpha = setup.records[0]
        #expect(try alpha.requiredString("title") == "Alpha")
        #expect(try alpha.int("count") == 12)
        #expect(try alpha.bool("active") == true)
        #expect(try alpha.date("when") == utcDate(2023, 10, 2))
        #expect(alpha.string("note") == "Rich text")
        #expect(alpha["unkeyed"] == nil)

        let sparse = setup.records[1]
        #expect(sparse.string("title") == nil)
        #expect(try sparse.double("count") == 3)
        #expect(sparse.string("note") == "rich inline")
        let error = try #require(throws: SetupWorkbookError.self) { try sparse.bool("active") }
        #expect(error.description == "Sheet 'Setup', row 6, field 'active': expected yes/no (1/0, true/false, yes/no or x), found '#N/A'")
        #expect(throws: SetupWorkbookError.badField(sheet: "Setup", row: 6, field: "title", reason: "is empty")) {
            try sparse.requiredString("title")
        }

        let beta = setup.records[2]
        #expect(try beta.bool("active") == true)
        #expect(try beta.double("count") == 2.5)
        let notWhole = try #require(throws: SetupWorkbookError.self) { try beta.int("count") }
        #expect(notWhole.description == "Sheet 'Setup', row 8, field 'count': expected a whole number, found '2.5'")
        #expect(try beta.requiredDate("when") == utcDate(2023, 10, 2, 18))
    }

    @Test func prefixedNamespacesAndThe1904DateSystem() throws {
        let main = XLSXFixture.mainNS
        var parts = XLSXFixture.minimalParts(sheetXML: """
            <x:worksheet xmlns:x="\(main)"><x:sheetData>\
            <x:row r="1"><x:c r="A1" t="inlineStr"><x:is><x:t>day</x:t></x:is></x:c></x:row>\
            <x:row r="4"><x:c r="A4" s="1"><x:v>0</x:v></x:c></x:row>\
            <x:row r="5"><x:c r="A5"><x:v>366</x:v></x:c></x:row>\
            </x:sheetData></x:worksheet>
            """, sheetName: "Days", styles: """
            <x:styleSheet xmlns:x="\(main)"><x:cellXfs><x:xf numFmtId="0"/><x:xf numFmtId="14"/></x:cellXfs></x:styleSheet>
            """)
        parts["xl/workbook.xml"] = """
            <x:workbook xmlns:x="\(main)" xmlns:rel="\(XLSXFixture.relNS)">\
            <x:workbookPr date1904="1"/><x:sheets><x:sheet name="Days" sheetId="1" rel:id="rId1"/></x:sheets>\
            </x:workbook>
            """
        let url = try XLSXFixture.write(parts)
        defer { try? FileManager.default.removeItem(at: url) }
        let workbook = try XLSXWorkbook(contentsOf: url)
        #expect(workbook.dateSystem == .date1904)
        let days = try workbook.setupSheet(named: "Days")
        #expect(days.records.count == 2)
        #expect(try days.records[0].date("day") == utcDate(1904, 1, 1))
        // A plain number in a date field is read as a serial of the workbook's system.
        #expect(try days.records[1].date("day") == utcDate(1905, 1, 1))
    }
}

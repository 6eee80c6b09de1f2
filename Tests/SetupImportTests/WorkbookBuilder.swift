import Foundation
import ZIPFoundation

/// Writes small multi-sheet .xlsx files (inline-string cells) for tests.
enum WorkbookBuilder {
    /// One sheet: `keys` become row 1, rows 2–3 get placeholder titles, `rows` start at row 4.
    struct Sheet {
        var name: String
        var keys: [String]
        var rows: [[String]]
    }

    static let mainNS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    static let relNS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    static let pkgNS = "http://schemas.openxmlformats.org/package/2006/relationships"

    /// Writes the workbook to a fresh temporary file and returns its URL.
    static func write(_ sheets: [Sheet]) throws -> URL {
        var parts: [String: String] = [:]
        var overrides = ""
        var sheetEntries = ""
        var rels = ""
        for (index, sheet) in sheets.enumerated() {
            let number = index + 1
            parts["xl/worksheets/sheet\(number).xml"] = sheetXML(sheet)
            overrides += "<Override PartName=\"/xl/worksheets/sheet\(number).xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml\"/>"
            sheetEntries += "<sheet name=\"\(escape(sheet.name))\" sheetId=\"\(number)\" r:id=\"rId\(number)\"/>"
            rels += "<Relationship Id=\"rId\(number)\" Type=\"\(relNS)/worksheet\" Target=\"worksheets/sheet\(number).xml\"/>"
        }
        parts["[Content_Types].xml"] = """
            <?xml version="1.0" encoding="UTF-8"?>
            <Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">\
            <Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>\
            <Default Extension="xml" ContentType="application/xml"/>\
            <Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>\
            \(overrides)</Types>
            """
        parts["_rels/.rels"] = """
            <?xml version="1.0" encoding="UTF-8"?>
            <Relationships xmlns="\(pkgNS)">\
            <Relationship Id="rId1" Type="\(relNS)/officeDocument" Target="xl/workbook.xml"/>\
            </Relationships>
            """
        parts["xl/workbook.xml"] = """
            <?xml version="1.0" encoding="UTF-8"?>
            <workbook xmlns="\(mainNS)" xmlns:r="\(relNS)"><sheets>\(sheetEntries)</sheets></workbook>
            """
        parts["xl/_rels/workbook.xml.rels"] = """
            <?xml version="1.0" encoding="UTF-8"?>
            <Relationships xmlns="\(pkgNS)">\(rels)</Relationships>
            """
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("setupimport-\(UUID().uuidString).xlsx")
        let archive = try Archive(url: url, accessMode: .create)
        for (path, text) in parts.sorted(by: { $0.key < $1.key }) {
            let data = Data(text.utf8)
            try archive.addEntry(with: path, type: .file, uncompressedSize: Int64(data.count),
                                 compressionMethod: .deflate) { position, size in
                data.subdata(in: Int(position)..<Int(position) + size)
            }
        }
        return url
    }

    private static func sheetXML(_ sheet: Sheet) -> String {
        let all = [sheet.keys, ["Title"], ["Help"]] + sheet.rows
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><worksheet xmlns=\"\(mainNS)\"><sheetData>"
        for (r, row) in all.enumerated() {
            xml += "<row r=\"\(r + 1)\">"
            for (c, value) in row.enumerated() where !value.isEmpty {
                xml += "<c r=\"\(column(c + 1))\(r + 1)\" t=\"inlineStr\"><is><t>\(escape(value))</t></is></c>"
            }
            xml += "</row>"
        }
        return xml + "</sheetData></worksheet>"
    }

    private static func column(_ number: Int) -> String {
        var n = number
        var letters = ""
        while n > 0 {
            let rem = (n - 1) % 26
            letters = String(UnicodeScalar(65 + rem)!) + letters
            n = (n - 1) / 26
        }
        return letters
    }

    private static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}

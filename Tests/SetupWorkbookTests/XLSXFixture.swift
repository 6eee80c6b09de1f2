import Foundation
import ZIPFoundation

/// Builds small .xlsx files on disk for tests.
enum XLSXFixture {
    static let mainNS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    static let relNS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    static let pkgNS = "http://schemas.openxmlformats.org/package/2006/relationships"

    /// A fresh, unique path in the temporary directory.
    static func temporaryURL(_ suffix: String = ".xlsx") -> URL {
        FileManager.default.temporaryDirectory
            .appendingPathComponent("setupworkbook-\(UUID().uuidString)\(suffix)")
    }

    /// Writes a ZIP with the given parts (path → XML text) and returns its URL.
    static func write(_ parts: [String: String]) throws -> URL {
        let url = temporaryURL()
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

    /// The parts every minimal workbook needs, around one sheet part.
    static func minimalParts(sheetXML: String, sheetName: String = "Setup",
                             sharedStrings: String? = nil, styles: String? = nil,
                             workbookPr: String = "") -> [String: String] {
        var parts: [String: String] = [
            "[Content_Types].xml": """
                <?xml version="1.0" encoding="UTF-8"?>
                <Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">\
                <Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>\
                <Default Extension="xml" ContentType="application/xml"/>\
                <Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>\
                <Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>\
                </Types>
                """,
            "_rels/.rels": """
                <?xml version="1.0" encoding="UTF-8"?>
                <Relationships xmlns="\(pkgNS)">\
                <Relationship Id="rId1" Type="\(relNS)/officeDocument" Target="xl/workbook.xml"/>\
                </Relationships>
                """,
            "xl/workbook.xml": """
                <?xml version="1.0" encoding="UTF-8"?>
                <workbook xmlns="\(mainNS)" xmlns:r="\(relNS)">\(workbookPr)\
                <sheets><sheet name="\(sheetName)" sheetId="1" r:id="rId1"/></sheets></workbook>
                """,
            "xl/_rels/workbook.xml.rels": """
                <?xml version="1.0" encoding="UTF-8"?>
                <Relationships xmlns="\(pkgNS)">\
                <Relationship Id="rId1" Type="\(relNS)/worksheet" Target="worksheets/sheet1.xml"/>\
                <Relationship Id="rId2" Type="\(relNS)/styles" Target="styles.xml"/>\
                <Relationship Id="rId3" Type="\(relNS)/sharedStrings" Target="/xl/sharedStrings.xml"/>\
                </Relationships>
                """,
            "xl/worksheets/sheet1.xml": sheetXML,
        ]
        if let sharedStrings { parts["xl/sharedStrings.xml"] = sharedStrings }
        if let styles { parts["xl/styles.xml"] = styles }
        return parts
    }
}

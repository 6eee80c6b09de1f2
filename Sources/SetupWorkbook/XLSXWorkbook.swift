import Foundation

/// A read-only, in-memory view of an `.xlsx` workbook.
///
/// `init(contentsOf:)` opens the ZIP once, resolves sheet names to their parts
/// through `xl/workbook.xml` and `xl/_rels/workbook.xml.rels`, parses the
/// shared strings and styles, and keeps each sheet's raw XML; a sheet's cells
/// are parsed on demand by `sheet(named:)`. No file handle stays open, and the
/// value is `Sendable`. Time and memory are linear in the size of the parts.
public struct XLSXWorkbook: Sendable {
    /// Sheet (tab) names in workbook order, hidden sheets included.
    public let sheetNames: [String]
    /// The date system (`date1904` flag) used to read date cells.
    public let dateSystem: ExcelDateSystem

    private let sheetParts: [String: String]
    private let sheetData: [String: Data]
    private let sharedStrings: [String]
    private let dateStyles: [Bool]

    /// Opens and indexes the workbook at `url`.
    /// - Throws: `SetupWorkbookError.unreadableArchive` (missing file, not a
    ///   ZIP), `.missingPart` (no workbook part or its relationships) or
    ///   `.malformedXML` (broken workbook, relationships, styles or shared strings).
    public init(contentsOf url: URL) throws {
        let package = try PackageReader(url: url)

        let workbookPart = try Self.officeDocumentPart(in: package)
        let workbook = try OOXMLParts.decode(
            OOXMLParts.Workbook.self, from: try package.requiredData(workbookPart), part: workbookPart)

        let relsPart = PackageReader.relationshipsPart(for: workbookPart)
        let rels = try OOXMLParts.decode(
            OOXMLParts.Relationships.self, from: try package.requiredData(relsPart), part: relsPart)
        var targets: [String: String] = [:]
        var sharedStringsPart = "xl/sharedStrings.xml"
        var stylesPart = "xl/styles.xml"
        for rel in rels.Relationship ?? [] where rel.TargetMode?.lowercased() != "external" {
            let part = PackageReader.resolve(rel.Target, relativeTo: workbookPart)
            targets[rel.Id] = part
            if rel.Type.hasSuffix("/sharedStrings") { sharedStringsPart = part }
            if rel.Type.hasSuffix("/styles") { stylesPart = part }
        }

        var names: [String] = []
        var parts: [String: String] = [:]
        var data: [String: Data] = [:]
        for sheet in workbook.sheets.sheet ?? [] {
            guard let part = targets[sheet.relationshipID] else {
                throw SetupWorkbookError.malformedXML(
                    part: relsPart,
                    reason: "sheet '\(sheet.name)' points to relationship '\(sheet.relationshipID)', which is not listed")
            }
            guard parts[sheet.name] == nil else {
                throw SetupWorkbookError.malformedXML(
                    part: workbookPart, reason: "sheet name '\(sheet.name)' is used twice")
            }
            names.append(sheet.name)
            parts[sheet.name] = part
            data[sheet.name] = try package.data(part)
        }

        let styles = try package.data(stylesPart).map {
            try OOXMLParts.decode(OOXMLParts.Styles.self, from: $0, part: stylesPart)
        }
        sharedStrings = try package.data(sharedStringsPart).map {
            try SharedStringsParser.parse($0, part: sharedStringsPart)
        } ?? []
        dateStyles = styles?.dateStyleFlags() ?? []
        dateSystem = workbook.usesDate1904 ? .date1904 : .date1900
        sheetNames = names
        sheetParts = parts
        sheetData = data
    }

    /// Parses and returns the sheet with this exact (case-sensitive) name, or
    /// `nil` when the workbook has no such sheet.
    /// - Throws: `SetupWorkbookError.missingPart` when the sheet's part is
    ///   absent from the archive, `.malformedXML` when it cannot be parsed.
    public func sheet(named name: String) throws -> XLSXSheet? {
        guard let part = sheetParts[name] else { return nil }
        guard let data = sheetData[name] else { throw SetupWorkbookError.missingPart(part: part) }
        return try WorksheetParser.parse(data, part: part, sheetName: name, sharedStrings: sharedStrings,
                                         dateStyles: dateStyles, dateSystem: dateSystem)
    }

    /// Like `sheet(named:)`, but a missing sheet is an error.
    /// - Throws: `SetupWorkbookError.missingSheet` (listing the sheets present),
    ///   plus the errors of `sheet(named:)`.
    public func requiredSheet(named name: String) throws -> XLSXSheet {
        guard let sheet = try sheet(named: name) else {
            throw SetupWorkbookError.missingSheet(name: name, available: sheetNames)
        }
        return sheet
    }

    /// The sheet read with SENAITE's setup conventions (keys in row 1, data
    /// from row 4). Throws like `requiredSheet(named:)`.
    public func setupSheet(named name: String) throws -> SetupSheet {
        SetupSheet(try requiredSheet(named: name))
    }

    /// The main workbook part, found through the package relationships
    /// (`_rels/.rels`), falling back to `xl/workbook.xml`.
    private static func officeDocumentPart(in package: PackageReader) throws -> String {
        let rootRels = PackageReader.relationshipsPart(for: "")
        if let data = try package.data(rootRels) {
            let rels = try OOXMLParts.decode(OOXMLParts.Relationships.self, from: data, part: rootRels)
            if let main = rels.Relationship?.first(where: { $0.Type.hasSuffix("/officeDocument") }) {
                let part = PackageReader.resolve(main.Target, relativeTo: "")
                if package.contains(part) { return part }
            }
        }
        return "xl/workbook.xml"
    }
}

import Foundation

/// Everything that can go wrong while reading a SENAITE setup workbook.
///
/// Each case carries enough context to tell a lab IT person what to fix;
/// `description` renders it as one plain English sentence, e.g.
/// `Sheet 'Clients', row 7, field 'Name': is empty`.
public enum SetupWorkbookError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file could not be opened as a ZIP archive (missing file, a folder,
    /// an old binary `.xls`, a truncated download, ...).
    /// `path` is the file path as given; `reason` says what was wrong.
    case unreadableArchive(path: String, reason: String)

    /// A part that every workbook needs is absent from the archive.
    /// `part` is the path inside the ZIP, e.g. `xl/workbook.xml`.
    case missingPart(part: String)

    /// A part exists but is not well-formed XML or lacks required structure.
    /// `part` is the path inside the ZIP; `reason` is the parser's complaint.
    case malformedXML(part: String, reason: String)

    /// No sheet with this exact (case-sensitive) name exists.
    /// `available` lists the sheet names present, in workbook order.
    case missingSheet(name: String, available: [String])

    /// A field of a data row is empty, missing or not of the expected kind.
    /// `row` is the 1-based spreadsheet row number as shown by Excel/LibreOffice;
    /// `field` is the key from row 1 of the sheet.
    case badField(sheet: String, row: Int, field: String, reason: String)

    /// A one-line, human-readable message.
    public var description: String {
        switch self {
        case let .unreadableArchive(path, reason):
            return "Cannot read '\(path)' as an Excel (.xlsx) workbook: \(reason)"
        case let .missingPart(part):
            return "The workbook is damaged or not an .xlsx file: it has no '\(part)' part"
        case let .malformedXML(part, reason):
            return "The workbook is damaged: part '\(part)' could not be read (\(reason))"
        case let .missingSheet(name, available):
            let list = available.map { "'\($0)'" }.joined(separator: ", ")
            return "The workbook has no sheet named '\(name)' (sheet names are case-sensitive). "
                + "Sheets present: \(list.isEmpty ? "none" : list)"
        case let .badField(sheet, row, field, reason):
            return "Sheet '\(sheet)', row \(row), field '\(field)': \(reason)"
        }
    }
}

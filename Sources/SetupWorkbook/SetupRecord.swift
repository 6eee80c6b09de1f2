import Foundation

/// One data row of a `SetupSheet`, addressed by the field keys of row 1.
///
/// Optional accessors (`string`, `int`, `double`, `bool`, `date`) return `nil`
/// for an empty cell or a key the sheet does not have, and throw
/// `SetupWorkbookError.badField` when the cell holds something of the wrong
/// kind. `required…` accessors also throw when the field is empty or its column
/// is missing. Every error names the sheet, the spreadsheet row and the field.
public struct SetupRecord: Sendable {
    /// What all records of one sheet share.
    struct Context: Sendable {
        let sheetName: String
        let keys: Set<String>
        let dateSystem: ExcelDateSystem
    }

    /// The 1-based spreadsheet row number (≥ 4).
    public let row: Int
    /// The cells of this row under keyed columns, by key; empty cells are absent.
    public let values: [String: XLSXCell]
    private let context: Context

    init(row: Int, values: [String: XLSXCell], context: Context) {
        self.row = row
        self.values = values
        self.context = context
    }

    /// The name of the sheet this record came from.
    public var sheetName: String { context.sheetName }

    /// The raw cell under `key`, or `nil` when the cell is empty or the key unknown.
    public subscript(key: String) -> XLSXCell? { values[key] }

    /// The trimmed text of the field (see `XLSXCell.text`); `nil` when empty.
    public func string(_ key: String) -> String? {
        guard let text = values[key]?.text, !text.isEmpty else { return nil }
        return text
    }

    /// The trimmed text of the field.
    /// - Throws: `badField` "is empty", or "has no column …" when row 1 lacks the key.
    public func requiredString(_ key: String) throws -> String {
        try required(key, string(key))
    }

    /// The field as a whole number (10, 10.0, "10" or "10.0"); `nil` when empty.
    /// - Throws: `badField` when it is not a whole number.
    public func int(_ key: String) throws -> Int? {
        try read(key, expecting: "a whole number") { $0.intValue }
    }

    /// The field as a number (a number cell or numeric text like "7.5"); `nil` when empty.
    /// - Throws: `badField` when it is not a number.
    public func double(_ key: String) throws -> Double? {
        try read(key, expecting: "a number") { cell in
            if case .bool = cell { return nil }
            return cell.doubleValue
        }
    }

    /// The field as yes/no: boolean cells, 1/0, and (case-insensitive)
    /// "1"/"0", "true"/"false", "yes"/"no", "x" (= yes); `nil` when empty.
    /// - Throws: `badField` for any other value.
    public func bool(_ key: String) throws -> Bool? {
        try read(key, expecting: "yes/no (1/0, true/false, yes/no or x)") { $0.boolValue }
    }

    /// The field as a date (UTC wall-clock): a date cell, a plain number taken
    /// as an Excel serial in the workbook's date system, or ISO text
    /// "yyyy-MM-dd[ HH:mm[:ss]]"; `nil` when empty.
    /// - Throws: `badField` for anything else.
    public func date(_ key: String) throws -> Date? {
        try read(key, expecting: "a date (a date cell, or text like 2024-12-31)") { cell in
            if case let .number(serial) = cell { return context.dateSystem.date(fromSerial: serial) }
            return cell.dateValue
        }
    }

    /// `int(_:)`, but empty is an error. - Throws: `badField`.
    public func requiredInt(_ key: String) throws -> Int { try required(key, int(key)) }

    /// `double(_:)`, but empty is an error. - Throws: `badField`.
    public func requiredDouble(_ key: String) throws -> Double { try required(key, double(key)) }

    /// `bool(_:)`, but empty is an error. - Throws: `badField`.
    public func requiredBool(_ key: String) throws -> Bool { try required(key, bool(key)) }

    /// `date(_:)`, but empty is an error. - Throws: `badField`.
    public func requiredDate(_ key: String) throws -> Date { try required(key, date(key)) }

    /// A `badField` error for this record, for callers' own validation
    /// (e.g. "refers to unknown client 'XY'").
    public func fieldError(_ key: String, _ reason: String) -> SetupWorkbookError {
        .badField(sheet: context.sheetName, row: row, field: key, reason: reason)
    }

    private func read<T>(_ key: String, expecting kind: String,
                         _ convert: (XLSXCell) -> T?) throws -> T? {
        guard let cell = values[key], !cell.isEmpty else { return nil }
        guard let value = convert(cell) else {
            throw fieldError(key, "expected \(kind), found '\(cell.text)'")
        }
        return value
    }

    private func required<T>(_ key: String, _ value: T?) throws -> T {
        if let value { return value }
        guard context.keys.contains(key) else {
            throw fieldError(key, "the sheet has no column with this key in row 1")
        }
        throw fieldError(key, "is empty")
    }
}

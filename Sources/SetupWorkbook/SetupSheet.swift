/// A sheet read with SENAITE's setup-data conventions.
///
/// Row 1 holds the field keys (`title`, `Name`, `ClientID`, ...), rows 2 and 3
/// hold human titles and help and are ignored, and data starts on row 4.
/// Key cells are trimmed; columns with an empty key are ignored; if a key
/// appears twice, its first (leftmost) column wins.
public struct SetupSheet: Sendable {
    /// The first spreadsheet row that holds data.
    public static let firstDataRow = 4

    /// The sheet (tab) name.
    public let name: String
    /// The field keys of row 1, left to right, without duplicates.
    public let keys: [String]
    /// The 1-based column number of each key.
    public let columns: [String: Int]
    /// One record per row ≥ 4 that has at least one non-empty cell under a keyed
    /// column, in row order. Fully empty rows (e.g. trailing formatted rows) are skipped.
    public let records: [SetupRecord]

    /// Reads keys and records from `sheet`. Never fails: problems with
    /// individual fields surface when a record's accessors are used.
    public init(_ sheet: XLSXSheet) {
        var keys: [String] = []
        var columns: [String: Int] = [:]
        for (column, cell) in (sheet[row: 1]?.cells ?? [:]).sorted(by: { $0.key < $1.key }) {
            let key = cell.text
            guard !key.isEmpty, columns[key] == nil else { continue }
            keys.append(key)
            columns[key] = column
        }
        let context = SetupRecord.Context(sheetName: sheet.name, keys: Set(keys),
                                          dateSystem: sheet.dateSystem)
        var records: [SetupRecord] = []
        for row in sheet.rows where row.number >= Self.firstDataRow {
            var values: [String: XLSXCell] = [:]
            var hasContent = false
            for (key, column) in columns {
                guard let cell = row[column] else { continue }
                values[key] = cell
                if !cell.isEmpty { hasContent = true }
            }
            if hasContent { records.append(SetupRecord(row: row.number, values: values, context: context)) }
        }
        self.name = sheet.name
        self.keys = keys
        self.columns = columns
        self.records = records
    }
}

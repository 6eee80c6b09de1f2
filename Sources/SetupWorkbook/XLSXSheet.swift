/// The cell values of one worksheet, kept sparse.
///
/// Only rows with at least one value are stored; trailing empty or style-only
/// rows and cells are dropped. Row and column numbers are 1-based, exactly as
/// the spreadsheet shows them, so messages can cite them.
public struct XLSXSheet: Sendable, Equatable {
    /// The sheet (tab) name.
    public let name: String
    /// The date system of the workbook the sheet came from; needed to read
    /// plain numbers as dates.
    public let dateSystem: ExcelDateSystem
    /// Non-empty rows in ascending row order.
    public let rows: [XLSXRow]
    private let rowPositions: [Int: Int]

    /// Creates a sheet from rows in any order; rows are sorted by number and
    /// rows without cells are dropped. Duplicate row numbers keep the last.
    public init(name: String, rows: [XLSXRow], dateSystem: ExcelDateSystem = .date1900) {
        var byNumber: [Int: XLSXRow] = [:]
        for row in rows where !row.cells.isEmpty { byNumber[row.number] = row }
        let sorted = byNumber.values.sorted { $0.number < $1.number }
        self.name = name
        self.dateSystem = dateSystem
        self.rows = sorted
        self.rowPositions = Dictionary(uniqueKeysWithValues: sorted.enumerated().map { ($1.number, $0) })
    }

    /// The row with this 1-based number, or `nil` when it has no values.
    public subscript(row number: Int) -> XLSXRow? {
        rowPositions[number].map { rows[$0] }
    }

    /// The cell at 1-based `row` and `column`, or `nil` when empty.
    public subscript(row number: Int, column column: Int) -> XLSXCell? {
        self[row: number]?[column]
    }

    /// The cell at an A1-style reference such as "C7"; `nil` when empty or
    /// when the reference is not of that form.
    public func cell(_ reference: String) -> XLSXCell? {
        guard let parsed = CellReference.parse(reference), let row = parsed.row else { return nil }
        return self[row: row, column: parsed.column]
    }

    /// The largest row number holding a value (0 for an empty sheet).
    public var lastRowNumber: Int { rows.last?.number ?? 0 }
}

/// One spreadsheet row that has at least one non-empty cell.
public struct XLSXRow: Sendable, Equatable {
    /// The 1-based row number as shown by Excel/LibreOffice.
    public let number: Int
    /// Cells keyed by 1-based column number (A = 1). Columns without a value are absent.
    public let cells: [Int: XLSXCell]

    /// Creates a row; `number` and the keys of `cells` are 1-based.
    public init(number: Int, cells: [Int: XLSXCell]) {
        self.number = number
        self.cells = cells
    }

    /// The cell in a 1-based column, or `nil` when that column is empty.
    public subscript(column: Int) -> XLSXCell? { cells[column] }

    /// The cell in the column with these letters ("A", "AB"), or `nil` when
    /// the column is empty or the letters are not a column name.
    public func cell(inColumn letters: String) -> XLSXCell? {
        guard let parsed = CellReference.parse(letters), parsed.row == nil else { return nil }
        return cells[parsed.column]
    }
}

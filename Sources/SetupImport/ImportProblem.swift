import SetupWorkbook

/// One bad spot of a setup workbook: which sheet, which spreadsheet row (1-based, as Excel shows it), which
/// field (the key of row 1) and what is wrong with it. `row`/`field` are nil for a problem with a whole sheet.
public struct ImportProblem: Sendable, Equatable, Hashable, CustomStringConvertible {
    public let sheet: String
    public let row: Int?
    public let field: String?
    public let reason: String

    public init(sheet: String, row: Int?, field: String?, reason: String) {
        self.sheet = sheet
        self.row = row
        self.field = field
        self.reason = reason
    }

    /// `Sheet 'Clients', row 7, field 'Name': is empty` (the same wording as ``SetupWorkbookError``).
    public var description: String {
        var text = "Sheet '\(sheet)'"
        if let row { text += ", row \(row)" }
        if let field { text += ", field '\(field)'" }
        return text + ": " + reason
    }

    /// The problem a ``SetupWorkbookError`` describes, attributed to `sheet` when the error names none.
    init(_ error: any Error, sheet: String) {
        switch error {
        case let SetupWorkbookError.badField(errorSheet, row, field, reason):
            self.init(sheet: errorSheet, row: row, field: field, reason: reason)
        default:
            self.init(sheet: sheet, row: nil, field: nil, reason: String(describing: error))
        }
    }
}

/// The import was refused: ``problems`` lists every bad row found (in import order), and nothing was changed.
public struct ImportError: Error, Sendable, Equatable, CustomStringConvertible {
    public let problems: [ImportProblem]

    public init(problems: [ImportProblem]) {
        self.problems = problems
    }

    /// A header line followed by one line per problem.
    public var description: String {
        let header = problems.count == 1
            ? "The setup workbook has 1 problem; nothing was imported:"
            : "The setup workbook has \(problems.count) problems; nothing was imported:"
        return ([header] + problems.map { "  - \($0)" }).joined(separator: "\n")
    }
}

/// Parsing and formatting of A1-style cell references ("C7", "AB12").
///
/// Columns are 1-based (A = 1, Z = 26, AA = 27, XFD = 16384); rows are 1-based.
enum CellReference {
    /// Excel's largest column, XFD.
    static let maxColumn = 16_384

    /// Splits "AB12" into (column: 28, row: 12). A bare column ("AB") yields
    /// `row == nil`. Returns `nil` for anything else, including "$A$1".
    static func parse(_ reference: String) -> (column: Int, row: Int?)? {
        var column = 0
        var row = 0
        var digits = 0
        for byte in reference.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"):
                guard digits == 0 else { return nil }
                let value = Int((byte | 0x20) - UInt8(ascii: "a")) + 1
                column = column * 26 + value
                guard column <= maxColumn else { return nil }
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                guard column > 0 else { return nil }
                row = row * 10 + Int(byte - UInt8(ascii: "0"))
                digits += 1
                guard digits <= 7 else { return nil }
            default:
                return nil
            }
        }
        guard column > 0 else { return nil }
        if digits == 0 { return (column, nil) }
        return row > 0 ? (column, row) : nil
    }

    /// The letters of a 1-based column number: 1 → "A", 28 → "AB".
    static func letters(forColumn column: Int) -> String {
        var number = column
        var scalars: [Character] = []
        while number > 0 {
            let remainder = (number - 1) % 26
            scalars.append(Character(Unicode.Scalar(UInt8(65 + remainder))))
            number = (number - 1) / 26
        }
        return String(scalars.reversed())
    }
}

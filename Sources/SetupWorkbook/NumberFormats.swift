import Foundation

/// Decides which number formats display a number as a date or time.
///
/// Excel keeps no "date" cell type: a date is a number whose style points at a
/// date-like number format. Builtin ids 14–22 and 45–47 are dates/times; custom
/// formats are dates when their first section contains d, m, y, h or s outside
/// quoted text, escapes and `[...]` brackets.
enum NumberFormats {
    /// Builtin format ids that are dates or times.
    static let builtinDateIDs: Set<Int> = Set(14...22).union(45...47)

    /// Whether the format with this id (and custom code, if any) is a date format.
    static func isDate(id: Int, code: String?) -> Bool {
        if let code { return isDateFormatCode(code) }
        return builtinDateIDs.contains(id)
    }

    /// Whether a custom format code such as `dd/mm/yyyy` or `dd\-mm\-yyyy;@`
    /// shows a date or time. `General`, `@`, `0.00` and `"BOOL"e"AN"` are not.
    static func isDateFormatCode(_ code: String) -> Bool {
        let lowered = code.lowercased()
        if lowered == "general" || lowered == "standard" { return false }
        var inQuotes = false
        var inBrackets = false
        var skipNext = false
        for char in code {
            if skipNext { skipNext = false; continue }
            if inQuotes {
                if char == "\"" { inQuotes = false }
                continue
            }
            if inBrackets {
                if char == "]" { inBrackets = false }
                continue
            }
            switch char {
            case "\"": inQuotes = true
            case "[": inBrackets = true
            case "\\", "_", "*": skipNext = true   // escaped char, padding, fill
            case ";": return false                  // only the first section counts
            default:
                if "dmyhsDMYHS".contains(char) { return true }
            }
        }
        return false
    }
}

/// Text from clients (task names, context paths, error messages, consumer ids) made safe to print on an operator's
/// terminal, one line per item.
///
/// Escaped as `\n`, `\t`, `\r`, `\\` or `\u{…}`: control characters (an `ESC [2J` in a task name cleared the
/// screen, a carriage return overwrote the line; found by tryouts), line and paragraph separators, and invisible
/// format characters (the bidirectional controls: U+202E turned `bidi\u{202E}gnp.exe` into "bidiexe.png" on
/// screen; zero-width spaces, the byte order mark, the soft hyphen), except the zero-width joiner of emoji. A
/// backslash is doubled, so a name holding the text `\u{202E}` cannot pass for an escaped control. Other text is
/// kept as it is.
enum TerminalText {
    /// Format characters kept: the zero-width joiner and non-joiner, which join emoji and some scripts' letters.
    static let keptFormatCharacters: Set<UInt32> = [0x200C, 0x200D]

    /// `text` with the characters above escaped, cut to `maxLength` characters (the last one an ellipsis) when given.
    static func safe(_ text: String, maxLength: Int? = nil) -> String {
        var shown = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": shown += "\\n"
            case "\t": shown += "\\t"
            case "\r": shown += "\\r"
            case "\\": shown += "\\\\"
            case _ where scalar.properties.generalCategory == .control
                || scalar.properties.generalCategory == .lineSeparator
                || scalar.properties.generalCategory == .paragraphSeparator
                || (scalar.properties.generalCategory == .format && !keptFormatCharacters.contains(scalar.value)):
                shown += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            default: shown.unicodeScalars.append(scalar)
            }
        }
        guard let maxLength, shown.count > maxLength else { return shown }
        return String(shown.prefix(maxLength - 1)) + "…"
    }

    /// `text` followed by spaces up to `width` characters (never cut). Foundation's `padding(toLength:)` counts
    /// UTF-16 units: an emoji counted two and a cell at its column's width was cut inside it (a tryout's
    /// `noop-é🧪` showed as `noop-é\u{FFFD}` in `status`).
    static func padded(_ text: String, to width: Int) -> String {
        let count = text.count
        return count >= width ? text : text + String(repeating: " ", count: width - count)
    }
}

/// Text from clients (task names, context paths, error messages, consumer ids) made safe to print on an operator's
/// terminal, one line per item.
///
/// Escaped as `\n`, `\t`, `\r` or `\u{…}`: control characters (an `ESC [2J` in a task name cleared the screen, a
/// carriage return overwrote the line; found by tryouts), line and paragraph separators, and the bidirectional
/// controls (U+202E turned `bidi\u{202E}gnp.exe` into "bidiexe.png" on screen). Other text is kept as it is.
enum TerminalText {
    /// Bidirectional formatting characters: marks, embeddings, overrides and isolates.
    static let bidiControls: Set<UInt32> = [0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069]

    /// `text` with the characters above escaped, cut to `maxLength` characters (the last one an ellipsis) when given.
    static func safe(_ text: String, maxLength: Int? = nil) -> String {
        var shown = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": shown += "\\n"
            case "\t": shown += "\\t"
            case "\r": shown += "\\r"
            case _ where scalar.properties.generalCategory == .control
                || scalar.properties.generalCategory == .lineSeparator
                || scalar.properties.generalCategory == .paragraphSeparator
                || bidiControls.contains(scalar.value):
                shown += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            default: shown.unicodeScalars.append(scalar)
            }
        }
        guard let maxLength, shown.count > maxLength else { return shown }
        return String(shown.prefix(maxLength - 1)) + "…"
    }
}

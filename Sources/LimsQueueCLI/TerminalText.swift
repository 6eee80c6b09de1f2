/// Text from clients (task names, context paths, error messages, consumer ids) made safe to print on an operator's
/// terminal, one line per item.
///
/// Escaped as `\n`, `\t`, `\r`, `\\` or `\u{…}`: control characters (an `ESC [2J` in a task name cleared the
/// screen, a carriage return overwrote the line; found by tryouts), line and paragraph separators, and invisible
/// format characters (the bidirectional controls: U+202E turned `bidi\u{202E}gnp.exe` into "bidiexe.png" on
/// screen; zero-width spaces, the byte order mark, the soft hyphen) and the other characters that show as nothing
/// or as blank (``QueueCore/Unicode/Scalar/isInvisible``: `a\u{200D}b` looked exactly like `ab`), except the joiners
/// and variation selectors that emoji and some scripts need: kept beside a character that is not ASCII. A
/// backslash is doubled, so a name holding the text `\u{202E}` cannot pass for an escaped control. Other text is
/// kept as it is.
enum TerminalText {
    /// Invisible characters kept beside a character that is not ASCII: the zero-width non-joiner and joiner (emoji
    /// sequences, Persian and Indic letters) and the text and emoji variation selectors.
    static let keptFormatCharacters: Set<UInt32> = [0x200C, 0x200D, 0xFE0E, 0xFE0F]

    /// `\u{…}`, the code point in hexadecimal.
    static func escaped(_ scalar: Unicode.Scalar) -> String {
        "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
    }

    /// Whether the invisible `scalar` between `previous` and `next` stays as it is: one of ``keptFormatCharacters``
    /// with a neighbour that is not ASCII (and not itself invisible).
    static func kept(_ scalar: Unicode.Scalar, after previous: Unicode.Scalar?, before next: Unicode.Scalar?) -> Bool {
        guard keptFormatCharacters.contains(scalar.value) else { return false }
        return [previous, next].contains { neighbour in neighbour.map { !$0.isASCII && !$0.isInvisible } ?? false }
    }

    /// `text` with the characters above escaped (every character when it would show nothing: only spaces or
    /// invisible characters), cut to `maxLength` terminal columns (``width(_:)``; the last one an
    /// ellipsis) when given: a CJK name cut at 80 characters took 160 columns and widened its whole table.
    static func safe(_ text: String, maxLength: Int? = nil) -> String {
        var shown = ""
        let scalars = Array(text.unicodeScalars)
        for (index, scalar) in scalars.enumerated() {
            let previous = index > 0 ? scalars[index - 1] : nil
            let next = index + 1 < scalars.count ? scalars[index + 1] : nil
            switch scalar {
            case "\n": shown += "\\n"
            case "\t": shown += "\\t"
            case "\r": shown += "\\r"
            case "\\": shown += "\\\\"
            case _ where scalar.properties.generalCategory == .lineSeparator
                || scalar.properties.generalCategory == .paragraphSeparator
                || (scalar.isInvisible && !kept(scalar, after: previous, before: next)):
                shown += escaped(scalar)
            default: shown.unicodeScalars.append(scalar)
            }
        }
        // A name of only spaces or of invisible characters (a zero-width joiner) would show as an empty cell: every
        // character escaped instead (a tryout).
        if !text.isEmpty, width(shown) == 0 || shown.unicodeScalars.allSatisfy({ $0.properties.isWhitespace || $0.isInvisible }) {
            shown = text.unicodeScalars.map(escaped).joined()
        }
        guard let maxLength, width(shown) > maxLength else { return shown }
        var cut = "", columns = 0
        for character in shown {
            let next = width(of: character)
            if columns + next > maxLength - 1 { break }
            cut.append(character)
            columns += next
        }
        return cut + "…"
    }

    /// `text` followed by spaces up to `width` terminal columns (``width(_:)``; never cut). Foundation's
    /// `padding(toLength:)` counts UTF-16 units: an emoji counted two and a cell at its column's width was cut inside
    /// it (a tryout's `noop-é🧪` showed as `noop-é\u{FFFD}` in `status`).
    static func padded(_ text: String, to width: Int) -> String {
        let columns = self.width(text)
        return columns >= width ? text : text + String(repeating: " ", count: width - columns)
    }

    /// `line` without its trailing spaces; leading ones (a name that starts with spaces) are kept.
    static func trimmedEnd(_ line: String) -> String {
        String(line.reversed().drop { $0 == " " }.reversed())
    }

    /// Columns `text` takes on a terminal: 2 for a wide character (East Asian wide and fullwidth ones: CJK,
    /// kana, Hangul syllables, fullwidth forms; and emoji shown as emoji), 0 for one that is only format or
    /// combining marks, 1 for the rest (as the C library's `wcwidth` counts them; a tryout's CJK and emoji rows were
    /// out of line, each of their characters counted as one column).
    static func width(_ text: String) -> Int {
        text.reduce(0) { $0 + width(of: $1) }
    }

    /// ``width(_:)`` of one character (a grapheme cluster: an emoji sequence is one, of width 2).
    static func width(of character: Character) -> Int {
        guard let first = character.unicodeScalars.first else { return 0 }
        if character.unicodeScalars.allSatisfy({ [.format, .nonspacingMark, .enclosingMark].contains($0.properties.generalCategory) }) {
            return 0
        }
        if isWide(first.value) { return 2 }
        // Emoji: shown as emoji by default, or asked to be (variation selector 16), or a sequence of them.
        if first.properties.isEmojiPresentation || character.unicodeScalars.contains("\u{FE0F}")
            || (first.properties.isEmoji && character.unicodeScalars.count > 1 && character.unicodeScalars.contains("\u{200D}")) {
            return 2
        }
        return 1
    }

    /// East Asian Wide (W) and Fullwidth (F) code points (Unicode's EastAsianWidth.txt, the blocks wcwidth takes).
    static func isWide(_ value: UInt32) -> Bool {
        switch value {
        case 0x1100...0x115F, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xA000...0xA4CF,
             0xA960...0xA97F, 0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE10...0xFE19, 0xFE30...0xFE6F, 0xFF00...0xFF60,
             0xFFE0...0xFFE6, 0x1B000...0x1B2FF, 0x1F200...0x1F2FF, 0x20000...0x2FFFD, 0x30000...0x3FFFD:
            return true
        default:
            return false
        }
    }
}

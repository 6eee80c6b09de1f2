/// Characters that show as nothing, or as blank space that is not a space: what a name must not hide behind.
///
/// Source: Unicode's `Default_Ignorable_Code_Point` property (zero-width joiners and spaces, soft hyphen, variation
/// selectors, the combining grapheme joiner, Hangul fillers), the control, format, private-use and unassigned
/// categories (Cc, Cf, Co, Cn: a right-to-left override U+202E shows a name reversed), and the blank letters and
/// symbols a tryout found beside them (U+2800 braille pattern blank, U+3164 Hangul filler, U+115F, U+1160, U+FFA0).
extension Unicode.Scalar {
    /// Code points that look blank without being white space or ignorable.
    static let blankLooking: Set<UInt32> = [0x2800, 0x3164, 0x115F, 0x1160, 0xFFA0]

    /// True for a character that shows as nothing or as blank (see the extension's documentation).
    public var isInvisible: Bool {
        if properties.isDefaultIgnorableCodePoint || Self.blankLooking.contains(value) { return true }
        switch properties.generalCategory {
        case .control, .format, .privateUse, .unassigned: return true
        default: return false
        }
    }

    /// `U+XXXX`, at least four hexadecimal digits, as Unicode writes a code point.
    public var codePointName: String {
        let hex = String(value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }
}

extension String {
    /// The text as an error message or a log line quotes a value a client sent: whole up to `limit` characters,
    /// else its start and its length (a tryout's 5,000-character path came back whole in a 404).
    public func quotedPrefix(_ limit: Int = 200) -> String {
        guard count > limit else { return self }
        return prefix(limit) + "... (\(count) characters)"
    }
}

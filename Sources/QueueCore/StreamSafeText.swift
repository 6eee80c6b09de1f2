extension String {
    /// The most combining characters (non-starters) in a row that Unicode's stream-safe text format allows: 30.
    /// Source: UAX #15, section 13 (Stream-Safe Text Format).
    public static let maxNonStartersInARow = 30

    /// True when the text has at most ``maxNonStartersInARow`` combining characters (canonical combining class not 0)
    /// in a row. Hashing or comparing a `String` puts it in canonical order, whose cost grows with the square of such
    /// a run; text from a request that becomes a dictionary key (JSON object keys, query parameter names) is checked
    /// first, so that one request cannot hold a core for seconds. ASCII text is checked by its bytes alone.
    public var isStreamSafe: Bool {
        var text = self
        if text.withUTF8({ $0.allSatisfy { $0 < 0x80 } }) { return true }
        var run = 0
        for scalar in unicodeScalars {
            // Every scalar with a non-zero combining class is at U+0300 or above.
            if scalar.value >= 0x300, scalar.properties.canonicalCombiningClass.rawValue != 0 {
                run += 1
                if run > Self.maxNonStartersInARow { return false }
            } else {
                run = 0
            }
        }
        return true
    }
}

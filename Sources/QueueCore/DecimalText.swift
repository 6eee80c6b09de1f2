extension Double {
    /// A number given as text in decimal notation, as JSON writes numbers (`-12`, `0.5`, `1e3`; leading zeros
    /// allowed): form-encoded clients send numbers as text. Nil for anything else, among it what `Double(_:)` would
    /// read: hexadecimal (`0x10`, `0x1p4`), `inf`, `nan`, padded text. A tryout's `delay: "0x1p4"` was stored as 16 s.
    /// - Parameter allowingOverflow: read a magnitude beyond `Double`'s range (`"1e400"`) as an infinity of its sign
    ///   instead of nil, for fields that are clamped rather than checked. Default: false.
    public init?(decimalText text: String, allowingOverflow: Bool = false) {
        guard text.wholeMatch(of: /-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?/) != nil, let value = Double(text),
              value.isFinite || allowingOverflow else {
            return nil
        }
        self = value
    }
}

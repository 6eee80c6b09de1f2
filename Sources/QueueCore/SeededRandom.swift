/// A small deterministic random number generator (SplitMix64): the same seed gives the same sequence. For
/// reproducible demo data (`limsqueue demo samples`) and seeded test scripts; never for secrets or lease tokens.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    /// The generator's state; the next value is derived from it.
    public var state: UInt64

    /// - Parameter seed: the first state.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

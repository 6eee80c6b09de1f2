/// An expected reference result for one service: the value and its accepted range, as SENAITE stores them
/// (strings, so that the lab's formatting survives).
///
/// Source: senaite.core `ReferenceDefinition.ReferenceValues` / `ReferenceSample.ReferenceValues`.
public struct ReferenceValue: Sendable, Codable, Equatable {
    public var result: String
    public var min: String
    public var max: String

    public init(result: String, min: String = "", max: String = "") {
        self.result = result
        self.min = min
        self.max = max
    }
}

import Foundation

/// A `String` compared and hashed by its UTF-8 bytes, for keys that must keep apart texts Swift calls equal.
///
/// `String` equality is Unicode canonical equivalence: a composed "é" and "e" with a combining accent are equal,
/// while the databases compare stored text byte by byte. Keys that stand for stored or sent text (a task body, an
/// object uid written to the uid index, a JSON object's keys checked for look-alike pairs) use this, so that each
/// form is kept as it was given.
public struct ExactText: Hashable, Sendable {
    /// The text.
    public let text: String

    /// The text as a key compared by its bytes.
    public init(_ text: String) {
        self.text = text
    }

    public static func == (lhs: ExactText, rhs: ExactText) -> Bool {
        var (left, right) = (lhs.text, rhs.text)
        // memcmp: `elementsEqual` on the buffers compared byte by byte (2 % of the writer's thread in `perf` of
        // `bench queue --batched`, from the decoded-body cache's lookups).
        return left.withUTF8 { left in
            right.withUTF8 { right in
                left.count == right.count && (left.isEmpty || memcmp(left.baseAddress!, right.baseAddress!, left.count) == 0)
            }
        }
    }

    public func hash(into hasher: inout Hasher) {
        var text = text
        text.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}

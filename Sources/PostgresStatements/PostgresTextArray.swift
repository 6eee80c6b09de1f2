import NIOCore
import PostgresNIO

/// A `text[]` bind whose elements may be NULL, in PostgreSQL's binary array format.
///
/// PostgresNIO encodes `[String]` but not `[String?]` (its `Optional` is no array element), and PostgresKit's
/// fallback for other `Encodable` values goes through its legacy per-element path. Bulk writes pass a nullable
/// column of many rows as one array (`unnest($1::text[], ...)`), so they need NULL elements.
///
/// Format (PostgreSQL's `array_send`): dimensions (0 for an empty array, else 1), a has-nulls flag, the element
/// type's oid (25, `text`), then for one dimension its length and lower bound (1), then each element as a 32-bit
/// length (-1 for NULL) followed by its UTF-8 bytes.
public struct PostgresTextArray: PostgresNonThrowingEncodable, PostgresDynamicTypeEncodable, Encodable, Sendable, Equatable {
    /// The elements, NULL as nil.
    public var elements: [String?]

    /// An array of `elements`.
    public init(_ elements: [String?]) {
        self.elements = elements
    }

    public static var psqlType: PostgresDataType { .textArray }
    public static var psqlFormat: PostgresFormat { .binary }

    public func encode<JSONEncoder: PostgresJSONEncoder>(into buffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>) {
        buffer.writeInteger(elements.isEmpty ? 0 : 1, as: Int32.self)
        buffer.writeInteger(elements.contains(nil) ? 1 : 0, as: Int32.self)
        buffer.writeInteger(PostgresDataType.text.rawValue)
        guard !elements.isEmpty else { return }
        buffer.writeInteger(Int32(elements.count))
        buffer.writeInteger(1, as: Int32.self)
        for element in elements {
            guard let element else {
                buffer.writeInteger(-1, as: Int32.self)
                continue
            }
            // The length is written once the bytes are, in front of them.
            let lengthIndex = buffer.writerIndex
            buffer.writeInteger(0, as: Int32.self)
            let length = buffer.writeString(element)
            buffer.setInteger(Int32(length), at: lengthIndex)
        }
    }

    /// As a list of strings and nulls (for an `Encodable` consumer other than PostgreSQL's binds).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(elements)
    }
}

import NIOCore
import PostgresNIO
import PostgresStatements
import Testing

/// ``PostgresTextArray`` in PostgreSQL's binary array format (`array_send`), byte by byte; the round trip through
/// a server is in the storage suites (`BulkInsertTests`).
@Suite("PostgreSQL text[] binds with NULL elements")
struct PostgresTextArrayTests {
    static func bytes(_ array: PostgresTextArray) -> [UInt8] {
        var buffer = ByteBuffer()
        array.encode(into: &buffer, context: .default)
        return Array(buffer.readableBytesView)
    }

    static func int32(_ value: Int32) -> [UInt8] {
        withUnsafeBytes(of: value.bigEndian) { Array($0) }
    }

    @Test("elements with a NULL: one dimension, the has-nulls flag, oid 25, length and lower bound, then each element's length (-1 for NULL) and UTF-8 bytes")
    func withNulls() {
        // "é{" is 3 bytes in UTF-8: an element's length counts bytes, not characters.
        let expected = Self.int32(1) + Self.int32(1) + Self.int32(25) + Self.int32(3) + Self.int32(1)
            + Self.int32(2) + Array("ab".utf8) + Self.int32(-1) + Self.int32(3) + Array("é{".utf8)
        #expect(Self.bytes(PostgresTextArray(["ab", nil, "é{"])) == expected)
        #expect(PostgresTextArray.psqlType == .textArray && PostgresTextArray.psqlFormat == .binary)
    }

    @Test("no NULL: the has-nulls flag is 0; an empty string is a zero-length element, not NULL")
    func withoutNulls() {
        let expected = Self.int32(1) + Self.int32(0) + Self.int32(25) + Self.int32(2) + Self.int32(1)
            + Self.int32(0) + Self.int32(1) + Array("x".utf8)
        #expect(Self.bytes(PostgresTextArray(["", "x"])) == expected)
    }

    @Test("an empty array has no dimension and nothing after the element type")
    func empty() {
        #expect(Self.bytes(PostgresTextArray([])) == Self.int32(0) + Self.int32(0) + Self.int32(25))
    }
}

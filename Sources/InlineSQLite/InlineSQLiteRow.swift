import SQLiteKit
import SQLiteNIO
import SQLKit

/// The result columns of a prepared statement: names in order and a name-to-index map, read once per statement
/// and shared by its rows.
final class InlineSQLiteColumns: Sendable {
    let names: [String]
    /// The first column of each name (SQLite allows two columns of one name; SQLKit reads by name).
    let indexes: [String: Int]

    init(names: [String]) {
        self.names = names
        var indexes: [String: Int] = [:]
        for (index, name) in names.enumerated() where indexes[name] == nil { indexes[name] = index }
        self.indexes = indexes
    }
}

/// One result row of an ``InlineSQLiteConnection`` statement, read through SQLKit's `SQLRow`. Values decode as
/// sqlite-kit's rows do (``SQLiteDataDecoder``).
struct InlineSQLiteRow: SQLRow {
    let columns: InlineSQLiteColumns
    let values: [SQLiteData]
    let decoder: SQLiteDataDecoder

    var allColumns: [String] { columns.names }

    func contains(column: String) -> Bool {
        columns.indexes[column] != nil
    }

    func decodeNil(column: String) throws -> Bool {
        guard let index = columns.indexes[column] else { return true }
        return values[index] == .null
    }

    /// - Throws: ``InlineSQLiteMissingColumn`` when the row has no such column; the decoder's error when the value
    ///   does not decode as `D`.
    func decode<D: Decodable>(column: String, as: D.Type) throws -> D {
        guard let index = columns.indexes[column] else { throw InlineSQLiteMissingColumn(column: column) }
        let value = values[index]
        if let converted = Self.converted(value, as: D.self) { return converted }
        return try decoder.decode(D.self, from: value)
    }

    /// `value` as `D` when `D` is one of the types the stores read most (`String`, `Int`, `Double`, `Bool` and
    /// their optionals), converted exactly as ``SQLiteDataDecoder`` converts them (`SQLiteDataConvertible`'s
    /// `init?(sqliteData:)`; a null optional is nil) but without its dynamic casts and protocol lookups (2-3 % of
    /// the writer thread in `perf` of `limsqueue bench store`). Nil for any other type, and when the conversion
    /// fails (the decoder then throws its own error).
    private static func converted<D>(_ value: SQLiteData, as type: D.Type) -> D? {
        if D.self == String.self { return String(sqliteData: value).map { unsafeBitCast($0, to: D.self) } }
        if D.self == Int.self { return Int(sqliteData: value).map { unsafeBitCast($0, to: D.self) } }
        if D.self == Double.self { return Double(sqliteData: value).map { unsafeBitCast($0, to: D.self) } }
        if D.self == Bool.self { return Bool(sqliteData: value).map { unsafeBitCast($0, to: D.self) } }
        if D.self == String?.self { return optional(value, String.init(sqliteData:)) }
        if D.self == Int?.self { return optional(value, Int.init(sqliteData:)) }
        if D.self == Double?.self { return optional(value, Double.init(sqliteData:)) }
        if D.self == Bool?.self { return optional(value, Bool.init(sqliteData:)) }
        return nil
    }

    /// `D` is `Wrapped?`: nil for a null, else the wrapped conversion (nil when it fails).
    private static func optional<Wrapped, D>(_ value: SQLiteData, _ convert: (SQLiteData) -> Wrapped?) -> D? {
        if case .null = value { return unsafeBitCast(Wrapped?.none, to: D.self) }
        return convert(value).map { unsafeBitCast(Wrapped?.some($0), to: D.self) }
    }
}

/// A column a caller asked a row for that its statement does not return.
public struct InlineSQLiteMissingColumn: Error, CustomStringConvertible, Sendable {
    public let column: String
    public var description: String { "no column \(column) in the row" }
}

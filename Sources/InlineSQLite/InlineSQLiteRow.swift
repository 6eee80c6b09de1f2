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
        return try decoder.decode(D.self, from: values[index])
    }
}

/// A column a caller asked a row for that its statement does not return.
public struct InlineSQLiteMissingColumn: Error, CustomStringConvertible, Sendable {
    public let column: String
    public var description: String { "no column \(column) in the row" }
}

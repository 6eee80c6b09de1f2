import PostgresKit
import PostgresNIO
import SQLKit

/// A row of a prepared statement (``PreparingPostgresDatabase``), read through SQLKit's `SQLRow` as PostgresKit's
/// own rows are (`PostgresRow.sql()`), with the common column types decoded by the cell at once.
///
/// Why: PostgresKit's row looks up, for every value, whether the asked type conforms to `PostgresDecodable` (a
/// runtime protocol cast) before the cell decodes it; with the lab's reads that was 6.5 % of all samples of
/// `limsqueue bench lims` on PostgreSQL (perf, release). `String`, `Int`, `Double`, `Bool` and their optionals are
/// decoded here with the same cell call PostgresKit ends in; any other type, and any value the cell refuses (which
/// PostgresKit may still read: a `numeric` as `Double`, an enum as `String`), go through PostgresKit's row, so the
/// values and the errors are PostgresKit's.
struct PreparedStatementRow: SQLRow {
    let row: PostgresRow
    let view: PostgresRandomAccessRow

    init(_ row: PostgresRow) {
        self.row = row
        self.view = row.makeRandomAccess()
    }

    var allColumns: [String] { view.map(\.columnName) }

    func contains(column: String) -> Bool { view.contains(column) }

    func decodeNil(column: String) throws -> Bool {
        !view.contains(column) || view[column].bytes == nil
    }

    /// - Throws: PostgresKit's errors (a missing column, a value that does not decode as `T`).
    func decode<T: Decodable>(column: String, as type: T.Type) throws -> T {
        if view.contains(column), let value = Self.direct(view[column], as: T.self) { return value }
        return try row.sql().decode(column: column, as: T.self)
    }

    /// The cell's value as `T` for the common types, nil for other types or when the cell refuses it (a NULL read
    /// as an optional is a value: `.some(nil)`).
    static func direct<T>(_ cell: PostgresCell, as type: T.Type) -> T? {
        if T.self == String.self { return decoded(cell, String.self, as: T.self) }
        if T.self == String?.self { return decoded(cell, String?.self, as: T.self) }
        if T.self == Int.self { return decoded(cell, Int.self, as: T.self) }
        if T.self == Int?.self { return decoded(cell, Int?.self, as: T.self) }
        if T.self == Double.self { return decoded(cell, Double.self, as: T.self) }
        if T.self == Double?.self { return decoded(cell, Double?.self, as: T.self) }
        if T.self == Bool.self { return decoded(cell, Bool.self, as: T.self) }
        if T.self == Bool?.self { return decoded(cell, Bool?.self, as: T.self) }
        return nil
    }

    /// `cell` decoded as `V`, handed out as `T` (the same type, checked by the caller); nil when the cell refuses it.
    private static func decoded<V: PostgresDecodable, T>(_ cell: PostgresCell, _ value: V.Type, as type: T.Type) -> T? {
        do {
            return unsafeBitCast(try cell.decode(V.self), to: T.self)
        } catch {
            return nil
        }
    }
}

import SQLKit
@testable import Storage
import TestSupport
import Testing

/// ``MultiRowStatement``: the text it keeps is the one SQLKit writes for the same statement, and its rows reach the
/// database as they were given, on each ``TestSupport/StoreBackend``.
@Suite("Multi-row statements")
struct MultiRowStatementTests {
    @Test("the text and binds are SQLKit's for the same rows; one text per row count", arguments: StoreBackend.available)
    func sameAsSQLKit(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            let sql = try f.store.sql
            for count in [1, 2, 7] {
                let rows: [[any Encodable & Sendable]] = (0..<count).map { index in
                    ["task-\(index)", index, Double(index) / 4, index.isMultiple(of: 2) ? nil : "note" as String?]
                }
                let statement = MultiRowStatement(head: "INSERT INTO t (a, b, c, d)", rows: rows,
                                                  tail: "ON CONFLICT DO NOTHING RETURNING a", on: sql)
                let groups = rows.map { row in SQLGroupExpression(row.map { SQLBind($0) }) }
                let reference = sql.serialize(SQLQueryString("INSERT INTO t (a, b, c, d) VALUES \(SQLList(groups)) ON CONFLICT DO NOTHING RETURNING a"))
                let ours = sql.serialize(statement)
                #expect(ours.sql == reference.sql)
                #expect(ours.binds.map { "\($0)" } == reference.binds.map { "\($0)" })
                let again = MultiRowStatement(head: "INSERT INTO t (a, b, c, d)", rows: rows.reversed(),
                                              tail: "ON CONFLICT DO NOTHING RETURNING a", on: sql)
                #expect(again.text == statement.text)
            }
        }
    }

    @Test("rows inserted through it read back as given, nulls included, and RETURNING answers each", arguments: StoreBackend.available)
    func roundTrip(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            // A connection that writes (the store's readers are read-only on SQLite).
            let sql = try f.store.database.sqlDatabase()
            try await sql.raw("CREATE TABLE multi_row_check (a TEXT PRIMARY KEY, b BIGINT NOT NULL, c DOUBLE PRECISION, d TEXT)").run()
            let rows: [[any Encodable & Sendable]] = [
                ["x", 1, 0.5, "first" as String?], ["y", -2, nil as Double?, nil as String?], ["z é", Int.max, 1e300, ""],
            ]
            let returned = try await MultiRowStatement(head: "INSERT INTO multi_row_check (a, b, c, d)", rows: rows,
                                                       tail: "ON CONFLICT (a) DO NOTHING RETURNING a", on: sql).all(on: sql)
            #expect(Set(try returned.map { try $0.decode(column: "a", as: String.self) }) == ["x", "y", "z é"])
            // A conflicting row is left out of RETURNING.
            let repeated = try await MultiRowStatement(head: "INSERT INTO multi_row_check (a, b, c, d)", rows: [rows[0]],
                                                       tail: "ON CONFLICT (a) DO NOTHING RETURNING a", on: sql).all(on: sql)
            #expect(repeated.isEmpty)
            let read = try await sql.raw("SELECT a, b, c, d FROM multi_row_check ORDER BY b").all()
            var values: [String] = []
            for row in read {
                let a = try row.decode(column: "a", as: String.self)
                let b = try row.decode(column: "b", as: Int.self)
                let c = try row.decode(column: "c", as: Double?.self).map { "\($0)" } ?? "null"
                let d = try row.decode(column: "d", as: String?.self) ?? "null"
                values.append([a, "\(b)", c, d].joined(separator: "|"))
            }
            #expect(values == ["y|-2|null|null", "x|1|0.5|first", "z é|\(Int.max)|1e+300|"])
            try await sql.raw("DROP TABLE multi_row_check").run()
        }
    }
}

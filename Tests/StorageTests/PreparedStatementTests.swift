import FluentKit
import PostgresStatements
@testable import Storage
import SQLKit
import TestSupport
import Testing

/// The PostgreSQL statement cache (``PostgresStatements/PreparingPostgresDatabase``) on a real server.
@Suite("Prepared statements on PostgreSQL")
struct PreparedStatementTests {
    @Test("a statement run prepared answers as unprepared, with NULL and non-NULL binds alike", StoreBackend.postgresSkipped)
    func answersAlike() async throws {
        try await StoreFixture.with(backend: .postgres) { fixture in
            let registry = PreparedStatementRegistry()
            try await fixture.lab.readers[0].withConnection { connection in
                let sql = PreparingPostgresDatabase.wrapping(try #require(connection as? any SQLDatabase), registry: registry)
                #expect(sql is PreparingPostgresDatabase)
                try await sql.raw("CREATE TEMP TABLE prepared_probe (id BIGINT PRIMARY KEY, v DOUBLE PRECISION, s TEXT)").run()
                for id in 0..<8 {
                    let value: Double? = id % 2 == 0 ? nil : Double(id) / 2
                    let text: String? = id % 3 == 0 ? nil : "s\(id)"
                    try await sql.raw("INSERT INTO prepared_probe (id, v, s) VALUES (\(bind: id), \(bind: value), \(bind: text))").run()
                }
                for id in 0..<8 {
                    let row = try #require(try await sql.raw("SELECT v, s FROM prepared_probe WHERE id = \(bind: id)").first())
                    #expect(try row.decode(column: "v", as: Double?.self) == (id % 2 == 0 ? nil : Double(id) / 2))
                    #expect(try row.decode(column: "s", as: String?.self) == (id % 3 == 0 ? nil : "s\(id)"))
                }
                let rows = try await sql.raw("SELECT id FROM prepared_probe WHERE id >= \(bind: 2) ORDER BY id").all()
                #expect(try rows.map { try $0.decode(column: "id", as: Int.self) } == [2, 3, 4, 5, 6, 7])
            }
            // The insert (three bind signatures) and the select by id were prepared.
            #expect(registry.preparedCount >= 2, "\(registry.preparedCount)")
        }
    }

    @Test("a prepared row decodes text, numbers, booleans, NULLs and the rest as PostgresKit's row does", StoreBackend.postgresSkipped)
    func rowsDecodeAlike() async throws {
        try await StoreFixture.with(backend: .postgres) { fixture in
            let registry = PreparedStatementRegistry()
            try await fixture.lab.readers[0].withConnection { connection in
                let base = try #require(connection as? any SQLDatabase)
                let sql = PreparingPostgresDatabase.wrapping(base, registry: registry)
                let probe: SQLQueryString = """
                    SELECT \(bind: 7)::bigint AS i, 7::integer AS i4, \(bind: 2.5)::float8 AS d, \(bind: "x") AS s, \(bind: true) AS b,
                        NULL::text AS ns, NULL::bigint AS ni, NULL::float8 AS nd, NULL::boolean AS nb, 2.5::numeric AS n, 3 AS whole
                    """
                for _ in 0...PreparedStatementRegistry.threshold {
                    let row = try #require(try await sql.raw(probe).first())
                    #expect(try row.decode(column: "i", as: Int.self) == 7 && row.decode(column: "i4", as: Int.self) == 7)
                    #expect(try row.decode(column: "i", as: Int?.self) == 7 && row.decode(column: "ni", as: Int?.self) == nil)
                    #expect(try row.decode(column: "d", as: Double.self) == 2.5 && row.decode(column: "nd", as: Double?.self) == nil)
                    #expect(try row.decode(column: "s", as: String.self) == "x" && row.decode(column: "ns", as: String?.self) == nil)
                    #expect(try row.decode(column: "b", as: Bool.self) && row.decode(column: "nb", as: Bool?.self) == nil)
                    // What the cell refuses goes through PostgresKit: a numeric read as a Double.
                    #expect(try row.decode(column: "n", as: Double.self) == 2.5)
                    #expect(try row.decode(column: "whole", as: Int.self) == 3)
                    #expect(try row.decodeNil(column: "ns") && !row.decodeNil(column: "s") && row.decodeNil(column: "absent"))
                    #expect(row.contains(column: "i") && !row.contains(column: "absent"))
                    #expect(row.allColumns == ["i", "i4", "d", "s", "b", "ns", "ni", "nd", "nb", "n", "whole"])
                    #expect(throws: (any Error).self) { try row.decode(column: "absent", as: String.self) }
                    #expect(throws: (any Error).self) { try row.decode(column: "ns", as: String.self) }
                }
            }
            #expect(registry.preparedCount == 1)
        }
    }

    @Test("a first prepared use inside an aborted transaction fails with the transaction; the statement works afterwards",
          StoreBackend.postgresSkipped)
    func abortedTransaction() async throws {
        try await StoreFixture.with(backend: .postgres) { fixture in
            let registry = PreparedStatementRegistry()
            try await fixture.lab.readers[0].withConnection { connection in
                let sql = PreparingPostgresDatabase.wrapping(try #require(connection as? any SQLDatabase), registry: registry)
                let probe: SQLQueryString = "SELECT \(bind: 41) + 1 AS answer"
                for _ in 0..<(PreparedStatementRegistry.threshold - 1) {
                    #expect(try await sql.raw(probe).first()?.decode(column: "answer", as: Int.self) == 42)
                }
                try await sql.raw("BEGIN").run()
                await #expect(throws: (any Error).self) { try await sql.raw("SELECT 1 / \(bind: 0) AS never").run() }
                // The threshold is reached here: its preparation meets the aborted transaction.
                await #expect(throws: (any Error).self) { try await sql.raw(probe).run() }
                try await sql.raw("ROLLBACK").run()
                for _ in 0..<3 {
                    #expect(try await sql.raw(probe).first()?.decode(column: "answer", as: Int.self) == 42)
                }
            }
            #expect(registry.preparedCount == 1)
        }
    }
}

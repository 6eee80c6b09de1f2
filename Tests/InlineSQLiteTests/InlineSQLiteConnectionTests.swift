import Foundation
import InlineSQLite
import Logging
import NIOPosix
import SQLKit
import SQLiteKit
import SQLiteNIO
import NIOCore
import Testing

/// The writer's SQLite connection: values round-trip as sqlite-kit's do, cached statements keep answering right
/// past the cache's bound, and SQLite's refusals come back as errors naming the code and the statement.
@Suite("Inline SQLite connection")
struct InlineSQLiteConnectionTests {
    /// A connection on a fresh file; the file's directory is removed after `body`.
    func withConnection(_ body: (InlineSQLiteConnection) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("inline-sqlite-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let connection = try InlineSQLiteConnection(path: directory.appendingPathComponent("test.sqlite").path,
                                                    logger: Logger(label: "test"),
                                                    eventLoop: MultiThreadedEventLoopGroup.singleton.any())
        defer { connection.close() }
        try await connection.raw("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, weight REAL, data BLOB, note TEXT)").run()
        try await body(connection)
    }

    struct Item: Codable, Equatable {
        var id: Int
        var name: String
        var weight: Double?
        var data: Data?
        var note: String?
    }

    @Test("integers, reals, texts, blobs and nulls come back as they were bound")
    func roundTrip() async throws {
        try await withConnection { sql in
            let items = [
                Item(id: 1, name: "Cu ü – 銅", weight: 63.546, data: Data([0, 1, 2, 255]), note: nil),
                Item(id: Int(Int64.max), name: "", weight: nil, data: Data(), note: "a\u{0}b"),
                Item(id: -7, name: "Fe", weight: -0.0, data: nil, note: String(repeating: "x", count: 5_000)),
            ]
            for item in items {
                try await sql.raw("INSERT INTO item (id, name, weight, data, note) VALUES (\(bind: item.id), \(bind: item.name), \(bind: item.weight), \(bind: item.data), \(bind: item.note))").run()
            }
            let rows = try await sql.raw("SELECT id, name, weight, data, note FROM item ORDER BY id").all()
            let read = try rows.map { try $0.decode(model: Item.self) }
            #expect(read == items.sorted { $0.id < $1.id })
            #expect(rows.first?.allColumns == ["id", "name", "weight", "data", "note"])
            #expect(try rows[1].decodeNil(column: "note"))  // id 1: no note
            #expect(!rows[0].contains(column: "missing"))
            #expect(throws: InlineSQLiteMissingColumn.self) { try rows[0].decode(column: "missing", as: Int.self) }
        }
    }

    @Test("every column type decodes as String, Int, Double, Bool and their optionals exactly as sqlite-kit's decoder decodes it")
    func decodingMatchesSQLiteKit() async throws {
        try await withConnection { sql in
            let columns: [(name: String, value: SQLiteData)] = [
                ("i", .integer(5)), ("zero", .integer(0)), ("one", .integer(1)), ("big", .integer(Int(Int64.min))),
                ("f", .float(2.5)), ("whole", .float(3.0)), ("t", .text("x")), ("tn", .text("12")), ("empty", .text("")),
                ("b", .blob(ByteBuffer(bytes: [0, 255]))), ("n", .null),
            ]
            let row = try #require(try await sql.raw("""
                SELECT 5 AS i, 0 AS zero, 1 AS one, -9223372036854775808 AS big, 2.5 AS f, 3.0 AS whole, 'x' AS t,
                    '12' AS tn, '' AS empty, x'00ff' AS b, NULL AS n
                """).first())
            let reference = SQLiteDataDecoder()
            /// Both answers as text: the value, or "throws".
            func compare<D: Decodable>(_ type: D.Type, _ column: String, _ value: SQLiteData) {
                let fast = (try? row.decode(column: column, as: D.self)).map { "\($0)" } ?? "throws"
                let kit = (try? reference.decode(D.self, from: value)).map { "\($0)" } ?? "throws"
                #expect(fast == kit, "column \(column) as \(D.self)")
            }
            for (name, value) in columns {
                compare(String.self, name, value)
                compare(Int.self, name, value)
                compare(Double.self, name, value)
                compare(Bool.self, name, value)
                compare(String?.self, name, value)
                compare(Int?.self, name, value)
                compare(Double?.self, name, value)
                compare(Bool?.self, name, value)
                compare(Int64.self, name, value)
            }
        }
    }

    @Test("binds of String, Int, Double, Bool, their optionals and other types are stored as sqlite-kit's encoder stores them")
    func bindingMatchesSQLiteKit() async throws {
        try await withConnection { sql in
            let values: [any Encodable & Sendable] = [
                "text", "", 42, Int.min, 2.5, -0.0, true, false, String?.some("some"), String?.none, Int?.some(7), Int?.none,
                Double?.some(1.5), Bool?.some(true), Bool?.none, Int64(9), Float(0.5), Data([1, 2]),
            ]
            let reference = SQLiteDataEncoder()
            for value in values {
                let row = try #require(try await sql.raw("SELECT typeof(\(bind: value)) AS type, quote(\(bind: value)) AS quoted").first())
                let expected: (type: String, quoted: String) = switch try reference.encode(value) {
                case .integer(let integer): ("integer", "\(integer)")
                case .float: ("real", try row.decode(column: "quoted", as: String.self))
                case .text(let text): ("text", "'\(text)'")
                case .blob: ("blob", try row.decode(column: "quoted", as: String.self))
                case .null: ("null", "NULL")
                }
                #expect(try row.decode(column: "type", as: String.self) == expected.type, "\(value)")
                #expect(try row.decode(column: "quoted", as: String.self) == expected.quoted, "\(value)")
            }
        }
    }

    @Test("two statement texts equal as Swift strings but not byte for byte are two statements")
    func statementsKeyedByBytes() async throws {
        try await withConnection { sql in
            let composed = "SELECT 'caf\u{E9}' AS v"
            let decomposed = "SELECT 'cafe\u{301}' AS v"
            #expect(composed == decomposed, "Swift compares strings by canonical equivalence")
            for text in [composed, decomposed, composed] {
                let row = try #require(try await sql.raw(SQLQueryString(text)).first())
                let value = try row.decode(column: "v", as: String.self)
                #expect(Array(value.utf8) == Array(text.dropFirst(8).dropLast(6).utf8), "\(Array(text.utf8))")
            }
        }
    }

    @Test("a statement run many times and more distinct statements than the cache holds all answer right")
    func statementCache() async throws {
        try await withConnection { sql in
            for id in 1...300 {
                try await sql.raw("INSERT INTO item (id, name) VALUES (\(bind: id), \(bind: "n\(id)"))").run()
            }
            // 300 distinct texts (the limit is part of the text), twice: past the cache's bound and back.
            for _ in 0..<2 {
                for limit in 1...(InlineSQLiteConnection.statementCacheSize + 20) {
                    let count = try await sql.raw("SELECT count(*) AS n FROM (SELECT id FROM item LIMIT \(unsafeRaw: String(limit)))")
                        .first(decodingColumn: "n", as: Int.self)
                    #expect(count == limit)
                }
            }
            let names = try await sql.raw("SELECT name FROM item WHERE id IN (\(bind: 3), \(bind: 5)) ORDER BY id").all(decodingColumn: "name", as: String.self)
            #expect(names == ["n3", "n5"])
        }
    }

    @Test("RETURNING rows arrive and the write is done when the call returns; a rolled-back transaction leaves nothing")
    func returningAndTransactions() async throws {
        try await withConnection { sql in
            try await sql.raw("BEGIN IMMEDIATE").run()
            let ids = try await sql.raw("INSERT INTO item (id, name) VALUES (1, 'a'), (2, 'b') RETURNING id").all(decodingColumn: "id", as: Int.self)
            #expect(ids.sorted() == [1, 2])
            try await sql.raw("ROLLBACK").run()
            #expect(try await sql.raw("SELECT count(*) AS n FROM item").first(decodingColumn: "n", as: Int.self) == 0)
            try await sql.raw("BEGIN IMMEDIATE").run()
            let deleted = try await sql.raw("INSERT INTO item (id, name) VALUES (3, 'c') RETURNING name").all(decodingColumn: "name", as: String.self)
            try await sql.raw("COMMIT").run()
            #expect(deleted == ["c"])
            #expect(try await sql.raw("SELECT name FROM item").all(decodingColumn: "name", as: String.self) == ["c"])
        }
    }

    @Test("SQLite's refusals come back with the code, the message and the statement; the connection goes on")
    func errors() async throws {
        try await withConnection { sql in
            try await sql.raw("INSERT INTO item (id, name) VALUES (1, 'a')").run()
            let unique = await #expect(throws: InlineSQLiteError.self) {
                try await sql.raw("INSERT INTO item (id, name) VALUES (2, 'a')").run()
            }
            #expect(unique?.code == 2067) // SQLITE_CONSTRAINT_UNIQUE
            #expect(unique?.description.contains("UNIQUE") == true)
            let syntax = await #expect(throws: InlineSQLiteError.self) { try await sql.raw("SELEC 1").run() }
            #expect(syntax?.sql == "SELEC 1")
            // The failed statement was reset: the same text runs again once the row is gone.
            try await sql.raw("DELETE FROM item WHERE id = 1").run()
            try await sql.raw("INSERT INTO item (id, name) VALUES (2, 'a')").run()
            #expect(try await sql.raw("SELECT id FROM item").all(decodingColumn: "id", as: Int.self) == [2])
        }
    }

    @Test("a closed connection refuses statements instead of crashing")
    func closed() async throws {
        try await withConnection { sql in
            sql.close()
            await #expect(throws: InlineSQLiteError.self) { try await sql.raw("SELECT 1").run() }
        }
    }
}

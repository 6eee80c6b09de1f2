import SQLKit
import Synchronization

/// A multi-row statement, `<head> VALUES (…), (…) <tail>`, whose SQL text is made once per dialect, row width and
/// row count and whose binds are the rows' values, in order.
///
/// Why: SQLKit serializes an interpolated ``SQLQueryString`` afresh at every execution, building and writing an
/// expression and a placeholder for each bound value. For the queue's multi-row inserts (18 values a task, up to
/// 100 tasks a statement) that was 10 % of an add's time on the writer (`perf` of `limsqueue bench store`, add
/// phase), for a text that depends only on the row count. The text here is the one SQLKit would make (the
/// dialect's placeholders, numbered from 1), the values are bound as SQLKit binds them, and both databases run
/// the same statement.
///
/// It must be the whole statement (its placeholders are numbered from the statement's first bind):
/// ```swift
/// try await sql.execute(sql: MultiRowStatement(head: "INSERT INTO t (a, b)", rows: [["x", 1], ["y", 2]],
///                                              tail: "ON CONFLICT DO NOTHING", on: sql)) { _ in }
/// ```
struct MultiRowStatement: SQLExpression {
    /// The SQL text, placeholders included.
    let text: String
    /// Every row's values, row after row.
    let binds: [any Encodable & Sendable]

    /// - Parameters:
    ///   - head: the text before `VALUES`.
    ///   - rows: one array of values per row, all of one width (at least one row, at least one value each).
    ///   - tail: the text after the rows (`ON CONFLICT ...`, `RETURNING ...`), may be empty.
    ///   - sql: the database whose dialect writes the placeholders.
    init(head: String, rows: [[any Encodable & Sendable]], tail: String = "", on sql: any SQLDatabase) {
        let width = rows.first?.count ?? 0
        precondition(width > 0 && rows.allSatisfy { $0.count == width }, "rows of one width, at least one value")
        let key = TextKey(head: head, tail: tail, dialect: sql.dialect.name, width: width, rows: rows.count)
        if let cached = Self.texts.withLock({ $0[key] }) {
            text = cached
        } else {
            let made = Self.makeText(for: key, on: sql)
            Self.texts.withLock { texts in
                // Bounded: a few statements, each with at most its batch size of row counts.
                if texts.count >= Self.maxTexts { texts.removeAll(keepingCapacity: true) }
                texts[key] = made
            }
            text = made
        }
        binds = rows.flatMap { $0 }
    }

    /// Runs the statement on `sql` and returns the rows it answers (`RETURNING`), in order.
    /// - Throws: the database's error.
    func all(on sql: any SQLDatabase) async throws -> [any SQLRow] {
        let rows = Mutex<[any SQLRow]>([])
        try await sql.execute(sql: self) { row in rows.withLock { $0.append(row) } }
        return rows.withLock { $0 }
    }

    /// Runs the statement on `sql`, ignoring any rows it answers.
    /// - Throws: the database's error.
    func run(on sql: any SQLDatabase) async throws {
        try await sql.execute(sql: self) { _ in }
    }

    func serialize(to serializer: inout SQLSerializer) {
        precondition(serializer.binds.isEmpty, "a MultiRowStatement must be the whole statement")
        serializer.write(text)
        serializer.binds.append(contentsOf: binds)
    }

    /// What a text depends on.
    struct TextKey: Hashable {
        let head: String
        let tail: String
        let dialect: String
        let width: Int
        let rows: Int
    }

    /// Texts kept; the cache starts over beyond it.
    static let maxTexts = 1_024
    private static let texts = Mutex<[TextKey: String]>([:])

    /// The text for `key`: SQLKit's serialization of the same head, rows of placeholders and tail.
    private static func makeText(for key: TextKey, on sql: any SQLDatabase) -> String {
        var serializer = SQLSerializer(database: sql)
        serializer.write(key.head)
        serializer.write(" VALUES ")
        var index = 0
        for row in 0..<key.rows {
            if row > 0 { serializer.write(", ") }
            serializer.write("(")
            for column in 0..<key.width {
                if column > 0 { serializer.write(", ") }
                index += 1
                sql.dialect.bindPlaceholder(at: index).serialize(to: &serializer)
            }
            serializer.write(")")
        }
        if !key.tail.isEmpty {
            serializer.write(" ")
            serializer.write(key.tail)
        }
        return serializer.sql
    }
}

import PostgresStatements
import Testing

@Suite("Prepared statement registry")
struct PreparedStatementRegistryTests {
    let select = "SELECT uid FROM lims_objects WHERE uid = $1"

    @Test("a statement is prepared from its third sighting on, under one name; another bind signature is another statement")
    func threshold() {
        let registry = PreparedStatementRegistry()
        #expect(registry.plan(for: select, signature: "String,", binds: 1) == nil)
        #expect(registry.plan(for: select, signature: "String,", binds: 1) == nil)
        let plan = registry.plan(for: select, signature: "String,", binds: 1)
        #expect(plan?.name == "lq_0_0" && plan?.sql == select)
        #expect(registry.plan(for: select, signature: "String,", binds: 1) == plan)
        // A NULL bind fixes another parameter type: not the same prepared statement.
        for _ in 0..<2 { #expect(registry.plan(for: select, signature: "nil,", binds: 1) == nil) }
        #expect(registry.plan(for: select, signature: "nil,", binds: 1)?.name == "lq_1_0")
        #expect(registry.preparedCount == 2)
    }

    @Test("only reads and writes with 1 to 32 binds are prepared; WITH statements unless opted in, transaction control, DDL and long bind lists are not")
    func eligibility() {
        let registry = PreparedStatementRegistry()
        for sql in ["BEGIN", "COMMIT", "CREATE TABLE t (id INTEGER)", "SET statement_timeout = 5", "NOTIFY x",
                    "WITH budget AS (SELECT $1) SELECT * FROM budget", "/* prepared */ BEGIN", "/* other */ WITH a AS (SELECT 1) SELECT 1"] {
            #expect(!PreparedStatementRegistry.isPreparable(sql), "\(sql)")
        }
        for sql in ["SELECT 1", "  (SELECT 1)", "\nINSERT INTO t VALUES ($1)", "update t set v = $1",
                    "DELETE FROM t WHERE id = $1", "/* prepared */ WITH budget AS (SELECT $1) SELECT * FROM budget",
                    "/* prepared */\nWITH d AS (SELECT $1) UPDATE t SET v = 1 WHERE id IN (SELECT * FROM d)"] {
            #expect(PreparedStatementRegistry.isPreparable(sql), "\(sql)")
        }
        for _ in 0..<5 {
            #expect(registry.plan(for: "SELECT 1", signature: "", binds: 0) == nil)
            #expect(registry.plan(for: select, signature: "String,", binds: 33) == nil)
            #expect(registry.plan(for: "BEGIN", signature: "Int,", binds: 1) == nil)
        }
        #expect(registry.preparedCount == 0)
        // A statement that opts in may carry a long (padded) list; up to its own limit.
        let list = "/* prepared */ SELECT uid FROM lims_objects WHERE uid IN ($1, ...)"
        #expect(PreparedStatementRegistry.isEligible(list, binds: 512))
        #expect(!PreparedStatementRegistry.isEligible(list, binds: PreparedStatementRegistry.maxOptedInBinds + 1))
        #expect(!PreparedStatementRegistry.isEligible("SELECT uid FROM lims_objects WHERE uid IN ($1, ...)", binds: 512))
    }

    @Test("at most `capacity` statements get a name; the rest run unprepared")
    func capacity() {
        let registry = PreparedStatementRegistry()
        for index in 0..<(PreparedStatementRegistry.capacity + 5) {
            let sql = "SELECT \(index) FROM t WHERE id = $1"
            for _ in 0..<PreparedStatementRegistry.threshold { _ = registry.plan(for: sql, signature: "Int,", binds: 1) }
        }
        #expect(registry.preparedCount == PreparedStatementRegistry.capacity)
        let beyond = "SELECT \(PreparedStatementRegistry.capacity + 1) FROM t WHERE id = $1"
        #expect(registry.plan(for: beyond, signature: "Int,", binds: 1) == nil)
    }

    @Test("a failed execution renames the statement (its old name may be unusable on a connection); after 3 it runs unprepared")
    func failures() {
        let registry = PreparedStatementRegistry()
        for _ in 0..<2 { _ = registry.plan(for: select, signature: "String,", binds: 1) }
        let first = try! #require(registry.plan(for: select, signature: "String,", binds: 1))
        registry.failed(first)
        let second = registry.plan(for: select, signature: "String,", binds: 1)
        #expect(second?.name == "lq_0_1")
        registry.failed(second!)
        registry.failed(registry.plan(for: select, signature: "String,", binds: 1)!)
        #expect(registry.plan(for: select, signature: "String,", binds: 1) == nil)
    }
}

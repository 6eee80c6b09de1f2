import Foundation
import Synchronization

/// Which statements a process runs as named prepared statements on PostgreSQL, and under which names.
///
/// PostgreSQL parses and plans an unnamed statement on every execution; for the short statements of the queue and
/// of units of work that is most of the server's work (`pg_stat_statements` with `track_planning` during
/// `limsqueue bench lims`: a primary-key `SELECT ... WHERE uid IN ($1)` spent 3.5 times its execution time in the
/// planner, the lab table's 15 indexes each looked at). A named statement is parsed once per connection and, after
/// five executions, runs a cached generic plan when that is no worse. pgx (Go) and the JDBC driver cache statements
/// the same way; PgBouncer 1.21 and later support them in transaction mode (`max_prepared_statements`).
///
/// Rules (what a statement cache of a driver must get right):
/// - A statement is identified by its SQL text and the Swift types of its binds (a NULL bind is a type of its own):
///   the parameter types are fixed when it is prepared, so a later execution with other types is another statement.
/// - Only `SELECT`, `INSERT`, `UPDATE` and `DELETE` with 1 to ``maxBinds`` binds are prepared (long `IN` lists vary
///   in length and would fill the cache), and only once seen ``threshold`` times; a statement that opts in with
///   ``withMarker`` may have up to ``maxOptedInBinds`` (its caller pads its lists, so few lengths occur). A statement with a `WITH` clause
///   only when it opts in by starting with ``withMarker``: a generic plan of a complex statement can be far worse
///   than a fresh one (the queue's one-statement claim once ran 0.86 ms on its generic plan where a fresh plan took
///   0.15 plus 0.35 to plan), so each is checked with `EXPLAIN ANALYZE` under `plan_cache_mode =
///   force_generic_plan`, with fresh and with stale planner statistics, before it opts in. Today two do: the
///   queue's done with its history entries (`SQLQueueStore.finishRecordingStatement`, its reports passed as arrays),
///   whose generic plan finds each task by primary key, with the history `INSERT` on top, and the claim
///   (`SQLQueueStore.sharedClaimStatement`), which runs with sequential and bitmap scans turned off for its
///   transaction so that no plan of it scans the queue. The weakness of every generic plan on the queue table, a
///   plan made while the table was empty scanning it, is bounded for the others by the queue store's
///   `PlannerStatisticsRefresher`, which runs `ANALYZE` after 1,000 adds and so makes every session plan again.
/// - At most ``capacity`` statements per process: prepared statements stay on each connection until it closes
///   (the server keeps their plans), so the number is bounded.
/// - A statement whose prepared execution failed gets a new name (a failed preparation, for example inside a
///   transaction already aborted, leaves its name unusable on that connection), and after ``maxFailures``
///   failures runs unprepared for good.
public final class PreparedStatementRegistry: Sendable {
    /// A statement to run prepared: its cache key and its current name.
    public struct Plan: Sendable, Equatable {
        public let key: String
        public let name: String
        public let sql: String
    }

    /// Sightings before a statement is prepared.
    public static let threshold = 3
    /// Most binds of a statement prepared.
    public static let maxBinds = 32
    /// Most binds of a statement prepared that opts in (``withMarker``): its caller keeps the number of its texts
    /// small (lists padded to powers of two, `SQLLabReader.rows(in:_:on:)`), so its length does not fill the cache.
    public static let maxOptedInBinds = 1_100
    /// Most statements prepared per process.
    public static let capacity = 160
    /// Failures after which a statement runs unprepared for good.
    public static let maxFailures = 3
    /// Distinct statements counted while looking for frequent ones (older counts are dropped past this).
    static let maxCounted = 4_096

    private struct Entry {
        var seen = 0
        var index: Int?
        var generation = 0
        var failures = 0
    }

    private let state = Mutex<(entries: [String: Entry], prepared: Int)>(([:], 0))

    public init() {}

    /// The process's registry.
    public static let shared = PreparedStatementRegistry()

    /// The comment a `WITH` statement starts with to be prepared (see the rules above); a plain comment to the
    /// database.
    public static let withMarker = "/* prepared */"

    /// Whether `sql` is a kind of statement that may be prepared (its first word; `WITH` only after
    /// ``withMarker``).
    public static func isPreparable(_ sql: String) -> Bool {
        let optedIn = sql.hasPrefix(withMarker)
        let head = sql.dropFirst(optedIn ? withMarker.count : 0).drop { $0 == " " || $0 == "\n" || $0 == "(" }.prefix(6).uppercased()
        return head.hasPrefix("SELECT") || head.hasPrefix("INSERT") || head.hasPrefix("UPDATE") || head.hasPrefix("DELETE")
            || (optedIn && head.hasPrefix("WITH"))
    }

    /// Whether a statement of `binds` binds may be prepared at all (``isPreparable(_:)`` and 1 to ``maxBinds``
    /// binds, or to ``maxOptedInBinds`` after ``withMarker``); checked before its binds are encoded.
    public static func isEligible(_ sql: String, binds: Int) -> Bool {
        (1...(sql.hasPrefix(withMarker) ? maxOptedInBinds : maxBinds)).contains(binds) && isPreparable(sql)
    }

    /// The plan to run `sql` with binds of `signature` (the binds' Swift types, `nil` for a NULL, comma-separated)
    /// prepared, or nil to run it unprepared (not eligible, not seen often enough yet, the cache full, or given up
    /// after failures).
    public func plan(for sql: String, signature: String, binds: Int) -> Plan? {
        guard Self.isEligible(sql, binds: binds) else { return nil }
        let key = sql + "\u{1F}" + signature
        return state.withLock { state -> Plan? in
            var entry = state.entries[key] ?? Entry()
            if entry.index == nil {
                if state.entries[key] == nil, state.entries.count >= Self.maxCounted {
                    // Forget the counts of statements never prepared (rare ones), keep the prepared.
                    state.entries = state.entries.filter { $0.value.index != nil }
                }
                entry.seen += 1
                if entry.seen >= Self.threshold, state.prepared < Self.capacity {
                    entry.index = state.prepared
                    state.prepared += 1
                }
            }
            state.entries[key] = entry
            guard let index = entry.index, entry.failures < Self.maxFailures else { return nil }
            return Plan(key: key, name: "lq_\(index)_\(entry.generation)", sql: sql)
        }
    }

    /// Records that the prepared execution of `plan` failed: the statement gets a new name next time.
    public func failed(_ plan: Plan) {
        state.withLock { state in
            guard var entry = state.entries[plan.key] else { return }
            entry.failures += 1
            entry.generation += 1
            state.entries[plan.key] = entry
        }
    }

    /// Number of statements given a name so far (for tests and diagnostics).
    public var preparedCount: Int { state.withLock { $0.prepared } }
}

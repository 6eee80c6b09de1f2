import SQLKit
import Synchronization

/// Refreshes PostgreSQL's planner statistics of the queue's tables (`ANALYZE queue_tasks, queue_task_uids`) after
/// a burst of adds, on a pooled connection, off the writer's path.
///
/// Autovacuum analyzes a table only after 10 % of its rows changed and its next round (up to a minute later). Until
/// then the planner believes the queue is as small as it last saw it: right after 100,000 tasks were added a
/// listing page's "is queued" check ran a parallel sequential scan of the whole queue (1 s a page, against 31 ms
/// once autovacuum had analyzed; found by a tryout). Prepared statements suffer most: a generic plan made while the
/// queue was short (a queue that is usually nearly empty) reads a task by a sequential scan, and keeps doing so
/// until statistics change: the done of one task took 3.5 ms at 20,000 queued tasks on a plan made at 0, 0.44 ms
/// once `ANALYZE` had run (`EXPLAIN ANALYZE` of the prepared statement, `plan_cache_mode = force_generic_plan`).
/// `ANALYZE` invalidates the cached plans of every session. So once ``threshold`` tasks were added since the last
/// refresh, and at most once per ``minimumInterval``, this runs `ANALYZE` itself (it samples at most 30,000 rows per
/// table, and takes a lock that neither reads nor writes wait for). One at a time; a failure is ignored (autovacuum
/// still runs). A no-op on SQLite, whose planner reads no statistics (see ``SQLQueueStore/filterOnly(_:on:)``).
/// Source: https://www.postgresql.org/docs/15/routine-vacuuming.html#VACUUM-FOR-STATISTICS
final class PlannerStatisticsRefresher: Sendable {
    private struct State {
        var added = 0
        var running = false
        var last: ContinuousClock.Instant?
    }

    /// Tasks added since the last refresh that start one. Default: 1,000 (a sequential scan of that many tasks costs
    /// about a twentieth of the 3.5 ms above; 10,000 until stop 28).
    let threshold: Int
    /// Shortest time between two refreshes. Default: 5 seconds (30 until stop 28).
    let minimumInterval: Duration
    private let state = Mutex(State())
    private let database: @Sendable () throws -> any SQLDatabase

    /// - Parameters:
    ///   - database: the pooled database to analyze on (PostgreSQL; on SQLite nothing runs).
    ///   - threshold: see ``threshold``.
    ///   - minimumInterval: see ``minimumInterval``.
    init(database: @escaping @Sendable () throws -> any SQLDatabase, threshold: Int = 1_000,
         minimumInterval: Duration = .seconds(5)) {
        self.database = database
        self.threshold = threshold
        self.minimumInterval = minimumInterval
    }

    /// Counts `count` added tasks and starts a refresh when they reach the threshold; returns at once.
    /// - Returns: the refresh started, if one did (tests wait for it).
    @discardableResult
    func noteAdded(_ count: Int) -> Task<Void, Never>? {
        guard count > 0 else { return nil }
        let start = state.withLock { state -> Bool in
            state.added += count
            guard !state.running, state.added >= threshold else { return false }
            if let last = state.last, last.duration(to: .now) < minimumInterval { return false }
            state.running = true
            state.added = 0
            return true
        }
        guard start else { return nil }
        return Task {
            if let sql = try? database(), SQLQueueStore.isPostgres(sql) {
                _ = try? await sql.raw("ANALYZE queue_tasks, queue_task_uids").run()
            }
            state.withLock { state in
                state.running = false
                state.last = .now
            }
        }
    }
}

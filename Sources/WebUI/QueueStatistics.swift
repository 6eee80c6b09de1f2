import Foundation
import QueueCore

/// Figures of the queue monitor, computed from the tasks in the queue and the history of finished attempts.
///
/// - Status counts: tasks queued, running and failed, ghosts left out (as `limsqueue status` and `/metrics`), and ghosts (any status) apart.
/// - Processed per minute: attempts that ended `done` in the window, divided by the window's minutes.
/// - Per task name: ``QueueCore/TaskKindStatistics`` of the window (done, failed and retried attempts; mean and p95
///   of the wait `started - created` and of the run time `finished - started` of done attempts, seconds).
/// - Consumers: every consumer id seen in the window's history or on a running task, what it runs now, and when it
///   was last seen (its latest finish or claim).
/// - Chart buckets: per bucket, tasks in the queue at its end (queued or running, from each task's first creation
///   to its last finish), attempts processed and attempts failed in it.
struct QueueStatistics: Sendable {
    /// One consumer and its current task.
    struct ConsumerFigures: Sendable, Equatable {
        var id: String
        var current: QueueTask?
        var lastSeen: Double
    }

    /// One bucket of the chart.
    typealias Bucket = QueueActivity.Bucket

    var queued = 0
    var running = 0
    var failed = 0
    var ghosts = 0
    var processedInWindow = 0
    var failuresInWindow = 0
    /// Window length, seconds.
    let windowSeconds: Double
    /// Per task name, as the LIMS API's `queue_statistics` reports it (``QueueCore/TaskKindStatistics``).
    var perName: [TaskKindStatistics] = []
    var consumers: [ConsumerFigures] = []
    var buckets: [Bucket] = []

    /// Done attempts per minute over the window.
    var processedPerMinute: Double { Double(processedInWindow) / (windowSeconds / 60) }

    /// The figures from what the store aggregates.
    /// - Parameters:
    ///   - counts: tasks per status, ghosts left out; `ghosts`: ghost tasks of any status.
    ///   - activity: the window's chart (``QueueCore/QueueActivity``); the window and `now` are its own.
    ///   - perName: ``QueueCore/TaskKindStatistics`` of the window.
    ///   - running: the running tasks (what each consumer runs now).
    ///   - lastSeen: each consumer's latest attempt end in the window, epoch seconds.
    ///   - polls: when each consumer last asked this server for work (epoch seconds), so that an idle consumer
    ///     that is alive shows a recent "last seen". Default: none.
    init(counts: [TaskStatus: Int], ghosts: Int, activity: QueueActivity, perName: [TaskKindStatistics], running: [QueueTask],
         lastSeen: [String: Double], polls: [String: Double] = [:]) {
        let now = activity.now
        windowSeconds = now - activity.windowStart
        self.queued = counts[.queued] ?? 0
        self.running = counts[.running] ?? 0
        self.failed = counts[.failed] ?? 0
        self.ghosts = ghosts
        buckets = activity.buckets
        processedInWindow = buckets.map(\.processed).reduce(0, +)
        failuresInWindow = buckets.map(\.failed).reduce(0, +)
        self.perName = perName
        var seen: [String: ConsumerFigures] = [:]
        for (id, time) in lastSeen where !id.isEmpty { seen[id] = ConsumerFigures(id: id, lastSeen: time) }
        for task in running where task.status == .running {
            guard let id = task.consumerID, !id.isEmpty else { continue }
            var figures = seen[id] ?? ConsumerFigures(id: id, lastSeen: task.started ?? now)
            figures.current = task
            figures.lastSeen = max(figures.lastSeen, task.started ?? 0)
            seen[id] = figures
        }
        for (id, polled) in polls where polled >= activity.windowStart && !id.isEmpty {
            var figures = seen[id] ?? ConsumerFigures(id: id, lastSeen: polled)
            figures.lastSeen = max(figures.lastSeen, polled)
            seen[id] = figures
        }
        consumers = seen.values.sorted { $0.id < $1.id }
    }

    /// The reference: the figures of `tasks` (every task in the queue, any status) and `history` (finished attempts
    /// of any age; those outside the window are ignored), as a store aggregates them.
    /// - Parameters:
    ///   - now: epoch seconds.
    ///   - windowSeconds: how far back the figures go. Default: 3600 seconds.
    ///   - bucketSeconds: chart bucket width. Default: 120 seconds (30 buckets in an hour).
    ///   - polls: as in ``init(counts:ghosts:activity:perName:running:lastSeen:polls:)``.
    init(tasks: [QueueTask], history: [HistoryEntry], now: Double, windowSeconds: Double = 3600, bucketSeconds: Double = 120,
         polls: [String: Double] = [:]) {
        let windowStart = now - windowSeconds
        var counts: [TaskStatus: Int] = [:]
        for task in tasks where !task.ghost { counts[task.status ?? .queued, default: 0] += 1 }
        let recent = history.filter { $0.finished >= windowStart && $0.finished <= now }
        var lastSeen: [String: Double] = [:]
        for entry in recent {
            guard let id = entry.consumerID, !id.isEmpty else { continue }
            lastSeen[id] = max(lastSeen[id] ?? entry.finished, entry.finished)
        }
        self.init(counts: counts, ghosts: tasks.filter(\.ghost).count,
                  activity: QueueActivity.make(tasks: tasks, history: history, now: now, windowSeconds: windowSeconds,
                                               bucketSeconds: bucketSeconds),
                  perName: TaskKindStatistics.summarize(history.filter { $0.finished >= windowStart }),
                  running: tasks.filter { $0.status == .running }, lastSeen: lastSeen, polls: polls)
    }

    /// Seconds as `0.42 s`, `12.3 s`, `4 min 05 s`; `–` for nil.
    static func duration(_ seconds: Double?) -> String {
        guard let seconds else { return "–" }
        if seconds < 10 { return String(format: "%.2f s", seconds) }
        if seconds < 120 { return String(format: "%.1f s", seconds) }
        return String(format: "%d min %02d s", Int(seconds) / 60, Int(seconds) % 60)
    }
}

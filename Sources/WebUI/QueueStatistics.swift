import Foundation
import QueueCore

/// Figures of the queue monitor, computed from the tasks in the queue and the history of finished attempts.
///
/// - Status counts: tasks queued, running, failed, and ghosts (any status).
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
    struct Bucket: Sendable, Equatable {
        /// Bucket start, epoch seconds.
        var start: Double
        var inQueue = 0
        var processed = 0
        var failed = 0
    }

    /// Outcomes counted as failures.
    static let failureOutcomes: Set<HistoryEntry.Outcome> = [.failed, .retried, .timeout, .purged]

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

    /// - Parameters:
    ///   - tasks: every task in the queue (any status).
    ///   - history: finished attempts (any age; those before the window are ignored).
    ///   - now: epoch seconds.
    ///   - windowSeconds: how far back the figures go. Default: 3600 seconds.
    ///   - bucketSeconds: chart bucket width. Default: 120 seconds (30 buckets in an hour).
    /// - Parameter polls: when each consumer last asked this server for work (epoch seconds), so that an idle
    ///   consumer that is alive shows a recent "last seen". Default: none.
    init(tasks: [QueueTask], history: [HistoryEntry], now: Double, windowSeconds: Double = 3600, bucketSeconds: Double = 120,
         polls: [String: Double] = [:]) {
        self.windowSeconds = windowSeconds
        let windowStart = now - windowSeconds
        for task in tasks {
            if task.ghost { ghosts += 1 }
            switch task.status {
            case .running?: running += 1
            case .failed?: failed += 1
            default: queued += 1
            }
        }
        let recent = history.filter { $0.finished >= windowStart && $0.finished <= now }
        processedInWindow = recent.filter { $0.outcome == .done }.count
        failuresInWindow = recent.filter { Self.failureOutcomes.contains($0.outcome) }.count

        perName = TaskKindStatistics.summarize(recent)

        // Consumers.
        var seen: [String: ConsumerFigures] = [:]
        for entry in recent {
            guard let id = entry.consumerID, !id.isEmpty else { continue }
            seen[id, default: ConsumerFigures(id: id, lastSeen: entry.finished)].lastSeen = max(seen[id]?.lastSeen ?? 0, entry.finished)
        }
        for task in tasks where task.status == .running {
            guard let id = task.consumerID, !id.isEmpty else { continue }
            var figures = seen[id] ?? ConsumerFigures(id: id, lastSeen: task.started ?? now)
            figures.current = task
            figures.lastSeen = max(figures.lastSeen, task.started ?? 0)
            seen[id] = figures
        }
        for (id, polled) in polls where polled >= windowStart && !id.isEmpty {
            var figures = seen[id] ?? ConsumerFigures(id: id, lastSeen: polled)
            figures.lastSeen = max(figures.lastSeen, polled)
            seen[id] = figures
        }
        consumers = seen.values.sorted { $0.id < $1.id }

        // Chart buckets.
        let count = max(1, Int((windowSeconds / bucketSeconds).rounded(.up)))
        buckets = (0..<count).map { Bucket(start: windowStart + Double($0) * bucketSeconds) }
        func index(_ time: Double) -> Int? {
            guard time >= windowStart, time <= now else { return nil }
            return min(count - 1, Int((time - windowStart) / bucketSeconds))
        }
        for entry in recent {
            guard let i = index(entry.finished) else { continue }
            if entry.outcome == .done { buckets[i].processed += 1 }
            if Self.failureOutcomes.contains(entry.outcome) { buckets[i].failed += 1 }
        }
        // A task is in the queue from its first creation until its last finish; tasks still queued or running stay
        // in it until now. Failed tasks left the active queue at their last finish.
        var spans: [String: (start: Double, end: Double)] = [:]
        for entry in history {
            let span = spans[entry.taskUID] ?? (entry.created, entry.finished)
            spans[entry.taskUID] = (min(span.start, entry.created), max(span.end, entry.finished))
        }
        for task in tasks where task.status != .failed {
            let span = spans[task.taskUID] ?? (task.created, now)
            spans[task.taskUID] = (min(span.start, task.created), .infinity)
        }
        for i in 0..<count {
            let end = min(now, buckets[i].start + bucketSeconds)
            buckets[i].inQueue = spans.values.filter { $0.start <= end && $0.end > end }.count
        }
    }

    /// Seconds as `0.42 s`, `12.3 s`, `4 min 05 s`; `–` for nil.
    static func duration(_ seconds: Double?) -> String {
        guard let seconds else { return "–" }
        if seconds < 10 { return String(format: "%.2f s", seconds) }
        if seconds < 120 { return String(format: "%.1f s", seconds) }
        return String(format: "%d min %02d s", Int(seconds) / 60, Int(seconds) % 60)
    }
}

/// The queue monitor's chart over a recent window, cut into equal buckets: per bucket, the tasks in the queue at
/// its end and the attempts processed and failed in it. Source: senaite.queue `queue_tasks` view's chart,
/// reference 1.8.
///
/// Rules (``make(tasks:history:now:windowSeconds:bucketSeconds:)`` is their reference; stores aggregate the same):
/// - buckets: `ceil(windowSeconds / bucketSeconds)` (at least 1) from `now - windowSeconds`; a time `t` falls in
///   bucket `floor((t - start) / bucketSeconds)`, the last one reaching to `now`;
/// - processed and failed: attempts of the history that ended in the bucket (`done`; `failed`, `retried`,
///   `timeout` or `purged`);
/// - in queue: a task is in the queue from its first creation to its last end among the window's attempts, and
///   until now while it is queued or running (failed tasks left the queue). It counts in a bucket when it entered
///   in or before that bucket and left after it.
public struct QueueActivity: Sendable, Equatable {
    /// One bucket of the chart.
    public struct Bucket: Sendable, Equatable {
        /// Bucket start, epoch seconds.
        public var start: Double
        /// Tasks in the queue at the bucket's end.
        public var inQueue = 0
        /// Attempts that ended done in the bucket.
        public var processed = 0
        /// Attempts that ended failed, retried, timed out or purged in the bucket.
        public var failed = 0

        public init(start: Double, inQueue: Int = 0, processed: Int = 0, failed: Int = 0) {
            self.start = start
            self.inQueue = inQueue
            self.processed = processed
            self.failed = failed
        }
    }

    /// Outcomes counted as failures.
    public static let failureOutcomes: Set<HistoryEntry.Outcome> = [.failed, .retried, .timeout, .purged]

    /// The window's start, epoch seconds.
    public var windowStart: Double
    /// The end of the window, epoch seconds.
    public var now: Double
    /// Bucket width, seconds.
    public var bucketSeconds: Double
    /// The buckets, oldest first.
    public var buckets: [Bucket]

    /// Empty buckets for the window ending at `now` (epoch seconds; widths in seconds).
    public init(now: Double, windowSeconds: Double, bucketSeconds: Double) {
        self.now = now
        self.windowStart = now - windowSeconds
        self.bucketSeconds = bucketSeconds
        let count = max(1, Int((windowSeconds / bucketSeconds).rounded(.up)))
        buckets = (0..<count).map { Bucket(start: now - windowSeconds + Double($0) * bucketSeconds) }
    }

    /// The bucket of time `t` (epoch seconds): -1 before the window, `buckets.count` after `now`.
    public func bucketIndex(_ t: Double) -> Int {
        if t < windowStart { return -1 }
        if t > now { return buckets.count }
        return min(buckets.count - 1, Int(((t - windowStart) / bucketSeconds).rounded(.down)))
    }

    /// Adds the in-queue spans: each `(entered, left)` pair counts in the buckets from the one it entered in up to,
    /// and not including, the one it left in (`left` before `entered` counts as `entered`).
    public mutating func addSpans(entered: [Int: Int], left: [Int: Int]) {
        var inside = 0
        for edge in (entered.keys.filter { $0 < 0 }) { inside += entered[edge] ?? 0 }
        for edge in (left.keys.filter { $0 < 0 }) { inside -= left[edge] ?? 0 }
        for index in buckets.indices {
            inside += (entered[index] ?? 0) - (left[index] ?? 0)
            buckets[index].inQueue = inside
        }
    }

    /// The reference: the chart of `tasks` (every task in the queue) and `history` (attempts; those that ended before
    /// the window, or after `now`, count in no bucket and open no span).
    public static func make(tasks: [QueueTask], history: [HistoryEntry], now: Double, windowSeconds: Double = 3600,
                            bucketSeconds: Double = 120) -> QueueActivity {
        var activity = QueueActivity(now: now, windowSeconds: windowSeconds, bucketSeconds: bucketSeconds)
        var spans: [String: (start: Double, end: Double)] = [:]
        for entry in history where entry.finished >= activity.windowStart {
            let span = spans[entry.taskUID] ?? (entry.created, entry.finished)
            spans[entry.taskUID] = (min(span.start, entry.created), max(span.end, entry.finished))
            guard entry.finished <= now else { continue }
            let index = activity.bucketIndex(entry.finished)
            if entry.outcome == .done { activity.buckets[index].processed += 1 }
            if failureOutcomes.contains(entry.outcome) { activity.buckets[index].failed += 1 }
        }
        for task in tasks where task.status != .failed {
            let span = spans[task.taskUID] ?? (task.created, .infinity)
            spans[task.taskUID] = (min(span.start, task.created), .infinity)
        }
        var entered: [Int: Int] = [:], left: [Int: Int] = [:]
        for span in spans.values {
            entered[activity.bucketIndex(span.start), default: 0] += 1
            left[activity.bucketIndex(max(span.start, span.end)), default: 0] += 1
        }
        activity.addSpans(entered: entered, left: left)
        return activity
    }
}

/// Which tasks the queue monitor lists. Source: senaite.queue `queue_tasks` view filters, reference 1.8.
public enum TaskListFilter: String, Sendable, CaseIterable {
    /// Queued and running tasks, ghosts excluded.
    case active
    /// Failed tasks, ghosts excluded.
    case failed
    /// Every task, ghosts included.
    case all

    /// Whether `task` is listed.
    public func includes(_ task: QueueTask) -> Bool {
        switch self {
        case .active: !task.ghost && task.status != .failed
        case .failed: !task.ghost && task.status == .failed
        case .all: true
        }
    }
}

/// One page of a task listing (``QueueStore/taskPage(_:offset:limit:)``).
public struct TaskPage: Sendable, Equatable {
    /// The page's tasks, in queue order: queued and running ones by rank, failed ones last.
    public var tasks: [QueueTask]
    /// Tasks each filter lists in all.
    public var totals: [TaskListFilter: Int]
    /// The filter of this page.
    public var filter: TaskListFilter
    /// Tasks this page's filter lists in all.
    public var total: Int { totals[filter] ?? 0 }
    /// Per task of the page, its position (1...) among the queued and running tasks that are not ghosts, in queue
    /// order (what senaite.queue shows as "Priority"); nil for failed tasks and ghosts.
    public var positions: [Int?]

    public init(tasks: [QueueTask], filter: TaskListFilter, totals: [TaskListFilter: Int], positions: [Int?]) {
        self.tasks = tasks
        self.filter = filter
        self.totals = totals
        self.positions = positions
    }

    /// The reference: a page of `tasks` (every task, in queue order) for `filter`.
    public static func make(_ tasks: [QueueTask], filter: TaskListFilter, offset: Int, limit: Int) -> TaskPage {
        var rank: [String: Int] = [:]
        for task in tasks where TaskListFilter.active.includes(task) { rank[task.taskUID] = rank.count + 1 }
        let listed = tasks.filter(filter.includes)
        let shown = Array(listed.dropFirst(max(0, offset)).prefix(max(0, limit)))
        var totals: [TaskListFilter: Int] = [:]
        for each in TaskListFilter.allCases { totals[each] = tasks.filter(each.includes).count }
        return TaskPage(tasks: shown, filter: filter, totals: totals, positions: shown.map { rank[$0.taskUID] })
    }
}

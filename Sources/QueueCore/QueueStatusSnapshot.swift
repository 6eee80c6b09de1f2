/// The queue at a glance, read from the store (so it is the same whichever process asks): tasks per name and
/// status, the attempts that ended in a recent window with their wait and run times, and the consumers seen.
///
/// Shown by `limsqueue status` and exported by the server's `/metrics` (gauges), so both print the same figures.
/// Counts only: no task parameters, object uids or error messages.
public struct QueueStatusSnapshot: Sendable, Equatable {
    /// Tasks of one name by status.
    public struct Counts: Sendable, Equatable {
        public var queued = 0
        public var running = 0
        public var failed = 0

        public init(queued: Int = 0, running: Int = 0, failed: Int = 0) {
            self.queued = queued
            self.running = running
            self.failed = failed
        }
    }

    /// Count, mean, median, 95th percentile and maximum of a set of durations, seconds.
    public struct TimeSummary: Sendable, Equatable {
        public var count: Int
        public var mean: Double
        public var p50: Double
        public var p95: Double
        public var max: Double

        /// A summary computed elsewhere (by the database). Times in seconds.
        public init(count: Int, mean: Double, p50: Double, p95: Double, max: Double) {
            self.count = count
            self.mean = mean
            self.p50 = p50
            self.p95 = p95
            self.max = max
        }

        /// The nearest-rank index (0-based) of the `fraction` quantile among `count` sorted values.
        public static func rankIndex(_ fraction: Double, count: Int) -> Int {
            Swift.min(count - 1, Swift.max(0, Int((fraction * Double(count)).rounded(.up)) - 1))
        }

        /// The summary of `values` (seconds; negative values, from clock skew, count as 0); nil when empty.
        /// Percentiles are nearest-rank.
        public init?(_ values: [Double]) {
            guard !values.isEmpty else { return nil }
            let sorted = values.map { Swift.max($0, 0) }.sorted()
            func rank(_ fraction: Double) -> Double { sorted[Self.rankIndex(fraction, count: sorted.count)] }
            count = sorted.count
            mean = sorted.reduce(0, +) / Double(sorted.count)
            p50 = rank(0.5)
            p95 = rank(0.95)
            max = sorted[sorted.count - 1]
        }
    }

    /// Attempts of one name that ended within the window.
    public struct Activity: Sendable, Equatable {
        /// Ended attempts by outcome (`done`, `retried`, `failed`, `timeout`, `purged`, `interrupted`).
        public var outcomes: [HistoryEntry.Outcome: Int] = [:]
        /// Seconds from creation to claim of the attempts that ran.
        public var wait: TimeSummary?
        /// Seconds from claim to end of the attempts that ran.
        public var run: TimeSummary?

        public init(outcomes: [HistoryEntry.Outcome: Int] = [:], wait: TimeSummary? = nil, run: TimeSummary? = nil) {
            self.outcomes = outcomes
            self.wait = wait
            self.run = run
        }
    }

    /// When the snapshot was taken, epoch seconds.
    public var taken: Double
    /// Length of the recent window, seconds.
    public var windowSeconds: Double
    /// Tasks in the queue by name (ghost markers excluded).
    public var counts: [String: Counts]
    /// Ghost tasks (system work the listings hide, e.g. a client's security walk) by status: not in ``counts`` or
    /// ``totals``, shown apart so that an operator sees work the queue is doing. Default: none.
    public var ghosts = Counts()
    /// Attempts ended in the window, by name.
    public var activity: [String: Activity]
    /// Consumer ids holding a running task now or having ended an attempt in the window, sorted.
    public var consumers: [String]
    /// Age of the oldest queued task that is due (its delay over), seconds since its `created`; nil when none is.
    public var oldestQueuedAge: Double?

    /// A snapshot computed elsewhere (by the database; ``make(tasks:history:now:windowSeconds:)`` is its reference).
    public init(taken: Double, windowSeconds: Double, counts: [String: Counts], ghosts: Counts, activity: [String: Activity],
                consumers: [String], oldestQueuedAge: Double?) {
        self.taken = taken
        self.windowSeconds = windowSeconds
        self.counts = counts
        self.ghosts = ghosts
        self.activity = activity
        self.consumers = consumers
        self.oldestQueuedAge = oldestQueuedAge
    }

    /// Every task name in ``counts`` or ``activity``, sorted.
    public var names: [String] { Set(counts.keys).union(activity.keys).sorted() }

    /// Totals over all names.
    public var totals: Counts {
        counts.values.reduce(into: Counts()) { sum, item in
            sum.queued += item.queued
            sum.running += item.running
            sum.failed += item.failed
        }
    }

    /// Builds a snapshot from the queue's tasks and its history.
    /// - Parameters:
    ///   - tasks: tasks of every status.
    ///   - history: ended attempts; only those finished at or after `now - windowSeconds` count.
    ///   - now: epoch seconds.
    ///   - windowSeconds: length of the recent window, seconds.
    public static func make(tasks: [QueueTask], history: [HistoryEntry], now: Double, windowSeconds: Double) -> QueueStatusSnapshot {
        var counts: [String: Counts] = [:]
        var consumers: Set<String> = []
        var oldest: Double?
        var ghosts = Counts()
        for task in tasks where task.ghost {
            switch task.status ?? .queued {
            case .queued: ghosts.queued += 1
            case .running:
                ghosts.running += 1
                if let consumer = task.consumerID { consumers.insert(consumer) }
            case .failed: ghosts.failed += 1
            }
        }
        for task in tasks where !task.ghost {
            switch task.status ?? .queued {
            case .queued:
                counts[task.name, default: Counts()].queued += 1
                if task.availableAt <= now { oldest = min(oldest ?? task.created, task.created) }
            case .running:
                counts[task.name, default: Counts()].running += 1
                if let consumer = task.consumerID { consumers.insert(consumer) }
            case .failed:
                counts[task.name, default: Counts()].failed += 1
            }
        }
        var outcomes: [String: [HistoryEntry.Outcome: Int]] = [:]
        var waits: [String: [Double]] = [:]
        var runs: [String: [Double]] = [:]
        for entry in history where entry.finished >= now - windowSeconds {
            outcomes[entry.name, default: [:]][entry.outcome, default: 0] += 1
            if let consumer = entry.consumerID { consumers.insert(consumer) }
            if entry.outcome == .done, let started = entry.started { // times of processed attempts, as queue_statistics
                waits[entry.name, default: []].append(started - entry.created)
                runs[entry.name, default: []].append(entry.finished - started)
            }
        }
        var activity: [String: Activity] = [:]
        for (name, byOutcome) in outcomes {
            activity[name] = Activity(outcomes: byOutcome, wait: TimeSummary(waits[name] ?? []), run: TimeSummary(runs[name] ?? []))
        }
        return QueueStatusSnapshot(taken: now, windowSeconds: windowSeconds, counts: counts, ghosts: ghosts, activity: activity,
                                   consumers: consumers.sorted(), oldestQueuedAge: oldest.map { max(0, now - $0) })
    }

    /// The snapshot as JSON: `{taken, window_seconds, totals: {queued, running, failed}, ghosts: {queued, running,
    /// failed}, consumers: [..],
    /// oldest_queued_age, tasks: {<name>: {queued, running, failed, recent: {<outcome>: n}, wait: {count, mean,
    /// p50, p95, max}, run: {...}}}}` (times in seconds).
    public var json: JSONValue {
        func countsJSON(_ counts: Counts) -> [String: JSONValue] {
            ["queued": .int(counts.queued), "running": .int(counts.running), "failed": .int(counts.failed)]
        }
        func summaryJSON(_ summary: TimeSummary?) -> JSONValue {
            guard let summary else { return .null }
            return .object(["count": .int(summary.count), "mean": .number(summary.mean), "p50": .number(summary.p50),
                            "p95": .number(summary.p95), "max": .number(summary.max)])
        }
        var tasks: [String: JSONValue] = [:]
        for name in names {
            var item = countsJSON(counts[name] ?? Counts())
            let recent = activity[name]
            item["recent"] = .object((recent?.outcomes ?? [:]).reduce(into: [:]) { $0[$1.key.rawValue] = .int($1.value) })
            item["wait"] = summaryJSON(recent?.wait)
            item["run"] = summaryJSON(recent?.run)
            tasks[name] = .object(item)
        }
        return .object([
            "taken": .number(taken), "window_seconds": .number(windowSeconds), "totals": .object(countsJSON(totals)),
            "ghosts": .object(countsJSON(ghosts)),
            "consumers": .array(consumers.map(JSONValue.string)), "oldest_queued_age": oldestQueuedAge.map(JSONValue.number) ?? .null,
            "tasks": .object(tasks),
        ])
    }
}

extension QueueStore {
    /// ``statusSnapshot(now:windowSeconds:)`` over the last hour.
    public func statusSnapshot(now: Double) async throws -> QueueStatusSnapshot {
        try await statusSnapshot(now: now, windowSeconds: 3600)
    }
}

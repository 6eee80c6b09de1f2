/// Per task name figures over finished attempts (the history): processed, failed, retried, and the wait time
/// (claim − creation) and run time (end − claim) of the processed ones, in seconds.
public struct TaskKindStatistics: Sendable, Equatable {
    /// The task name.
    public var name: String
    /// Attempts that ended done.
    public var processed = 0
    /// Attempts that ended failed for good.
    public var failed = 0
    /// Attempts that failed, timed out or were purged and went back to the queue.
    public var retried = 0
    /// Mean and 95th percentile wait of processed attempts, seconds (0 when none).
    public var waitMean = 0.0
    public var waitP95 = 0.0
    /// Mean and 95th percentile run time of processed attempts, seconds (0 when none).
    public var runMean = 0.0
    public var runP95 = 0.0

    public init(name: String) {
        self.name = name
    }

    /// Figures of each task name in `entries`, sorted by name.
    public static func summarize(_ entries: [HistoryEntry]) -> [TaskKindStatistics] {
        var byName: [String: (stats: TaskKindStatistics, waits: [Double], runs: [Double])] = [:]
        for entry in entries {
            var item = byName[entry.name] ?? (TaskKindStatistics(name: entry.name), [], [])
            switch entry.outcome {
            case .done:
                item.stats.processed += 1
                if let started = entry.started {
                    item.waits.append(max(0, started - entry.created))
                    item.runs.append(max(0, entry.finished - started))
                }
            case .failed: item.stats.failed += 1
            case .retried, .timeout, .purged, .interrupted: item.stats.retried += 1
            }
            byName[entry.name] = item
        }
        return byName.values.map { item in
            var stats = item.stats
            stats.waitMean = mean(item.waits)
            stats.waitP95 = percentile(item.waits, 0.95)
            stats.runMean = mean(item.runs)
            stats.runP95 = percentile(item.runs, 0.95)
            return stats
        }.sorted { $0.name < $1.name }
    }

    /// Arithmetic mean; 0 for no values.
    public static func mean(_ values: [Double]) -> Double {
        values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count)
    }

    /// The `q` quantile (0...1) by the nearest-rank method; 0 for no values.
    public static func percentile(_ values: [Double], _ q: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        let rank = Int((q * Double(sorted.count)).rounded(.up))
        return sorted[min(max(rank, 1), sorted.count) - 1]
    }
}

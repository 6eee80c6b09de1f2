import Foundation
import Prometheus
import QueueCore
import Synchronization

/// The queue server's Prometheus metrics (swift-prometheus), exported by `GET /metrics` in the text format.
///
/// Two kinds of figures:
/// - from the store, refreshed on each scrape (the same whichever process changed the queue, and the same as
///   `limsqueue status`): `limsqueue_tasks{name,status}` (queued, running, failed; the monitor's tasks, without
///   system tasks), `limsqueue_ghost_tasks{status}` (system tasks such as a client's security walk, which the
///   monitor hides as senaite.queue does), `limsqueue_consumers`
///   (consumers running a task or ending one in the last hour, plus those that polled this server in the last
///   5 minutes), `limsqueue_recent_attempts{name,outcome}` (attempts ended in the last hour),
///   `limsqueue_oldest_queued_age_seconds`;
/// - recorded by this server as consumers report to it (so they cover every consumer reporting here, and start
///   at zero when the server starts): `limsqueue_tasks_claimed_total{name}`, `limsqueue_tasks_processed_total{name}`
///   (done), `limsqueue_tasks_failed_total{name}` (failed attempts, retried or final),
///   `limsqueue_tasks_timed_out_total{name}`, and the histograms `limsqueue_task_wait_seconds{name}` (created to
///   claimed, recorded at the claim) and `limsqueue_task_run_seconds{name,outcome}` (claimed to ended, recorded
///   at the end; outcome done, failed or timeout).
///
/// Only counts and durations: never task parameters, object uids, users or error messages. Task names become
/// label values: characters outside `[A-Za-z0-9_.:-]` are replaced by `_`, and past 200 distinct names the rest
/// share the label `other`, so that arbitrary names cannot blow up the number of series.
public final class QueueMetrics: Sendable {
    /// The registry the metrics live in (also the backend of swift-metrics when the composition root bootstraps
    /// `MetricsSystem` with it, so Hummingbird's HTTP request metrics appear on the same page).
    public let registry: PrometheusCollectorRegistry

    /// Buckets of the wait and run histograms, seconds (10 ms to 1 hour).
    public static let durationBuckets: [Double] = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600]
    /// Most distinct task-name label values. Default: 200.
    static let maxNames = 200
    /// Task names as given whose series are remembered without cleaning them again (see ``series(of:)``).
    static let maxRememberedNames = 1_000
    /// Seconds a consumer counts as seen after its last poll of this server. Default: 300 seconds.
    static let consumerPollWindow: Double = 300

    static var tasks: MetricNameDescriptor { descriptor("tasks", unit: "",
        "Tasks in the queue by name and status (queued, running, failed), read from the store at scrape time.") }
    static var ghosts: MetricNameDescriptor { descriptor("ghost_tasks", unit: "",
        "System (ghost) tasks in the queue by status (queued, running, failed): a client's security walk; not in limsqueue_tasks.") }
    static var consumers: MetricNameDescriptor { descriptor("consumers", unit: "",
        "Consumers seen: running a task or ending one in the last hour, or polling this server in the last 5 minutes.") }
    static var recent: MetricNameDescriptor { descriptor("recent_attempts", unit: "",
        "Task attempts ended in the last hour by name and outcome, read from the history at scrape time.") }
    static var oldest: MetricNameDescriptor { descriptor("oldest_queued_age", unit: "seconds",
        "Age of the oldest queued task that is due, in seconds since its created (0 when none is).") }
    static var claimed: MetricNameDescriptor { descriptor("tasks_claimed", unit: "total",
        "Tasks claimed through this server since it started, by name.") }
    static var processed: MetricNameDescriptor { descriptor("tasks_processed", unit: "total",
        "Tasks reported done to this server since it started, by name.") }
    static var failed: MetricNameDescriptor { descriptor("tasks_failed", unit: "total",
        "Task attempts reported failed to this server since it started (retried or final), by name.") }
    static var timedOut: MetricNameDescriptor { descriptor("tasks_timed_out", unit: "total",
        "Task attempts reported timed out to this server since it started, by name.") }
    static var wait: MetricNameDescriptor { descriptor("task_wait", unit: "seconds",
        "Seconds from a task's creation to its claim, by name.") }
    static var run: MetricNameDescriptor { descriptor("task_run", unit: "seconds",
        "Seconds from a task's claim to the end of the attempt, by name and outcome.") }

    /// A `limsqueue_<name>` metric with its unit and help text.
    static func descriptor(_ name: String, unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "limsqueue", metricName: name, unitName: unit, helpText: help)
    }

    private struct State {
        var names: Set<String> = []
        /// Label sets of the store gauges set at the last scrape (zeroed when they vanish).
        var taskSeries: Set<[String]> = []
        var recentSeries: Set<[String]> = []
        /// Consumer id → last poll, epoch seconds.
        var polls: [String: Double] = [:]
        /// The series of each label (at most ``QueueMetrics/maxNames`` + 1: `other`).
        var seriesByLabel: [String: NameSeries] = [:]
        /// The series of task names as given, a shortcut past the label's cleaning (at most
        /// ``QueueMetrics/maxRememberedNames``).
        var seriesByName: [String: NameSeries] = [:]
    }

    /// The counters and histograms of one task name's label, made once: the registry's `make...` builds the metric
    /// name and looks the labels up under its lock on every call, and the label is cleaned character by character.
    final class NameSeries: Sendable {
        let claimed, processed, failed, timedOut: Counter
        let wait, runDone, runFailed, runTimeout: ValueHistogram

        init(label: String, registry: PrometheusCollectorRegistry) {
            claimed = registry.makeCounter(descriptor: QueueMetrics.claimed, labels: [("name", label)])
            processed = registry.makeCounter(descriptor: QueueMetrics.processed, labels: [("name", label)])
            failed = registry.makeCounter(descriptor: QueueMetrics.failed, labels: [("name", label)])
            timedOut = registry.makeCounter(descriptor: QueueMetrics.timedOut, labels: [("name", label)])
            wait = registry.makeValueHistogram(descriptor: QueueMetrics.wait, labels: [("name", label)], buckets: QueueMetrics.durationBuckets)
            func run(_ outcome: Outcome) -> ValueHistogram {
                registry.makeValueHistogram(descriptor: QueueMetrics.run, labels: [("name", label), ("outcome", outcome.rawValue)],
                                            buckets: QueueMetrics.durationBuckets)
            }
            runDone = run(.done)
            runFailed = run(.failed)
            runTimeout = run(.timeout)
        }
    }

    /// The series of task name `name`, made once per label (``label(_:)``: names that clean to the same label share
    /// one series, and names past ``maxNames`` labels share `other`). Names as given are remembered up to
    /// ``maxRememberedNames``, so the cleaning runs once per name.
    func series(of name: String) -> NameSeries {
        if let known = state.withLock({ $0.seriesByName[name] }) { return known }
        let label = label(name)
        return state.withLock { state in
            let series: NameSeries
            if let known = state.seriesByLabel[label] {
                series = known
            } else {
                series = NameSeries(label: label, registry: registry)
                state.seriesByLabel[label] = series
            }
            if state.seriesByName.count < Self.maxRememberedNames { state.seriesByName[name] = series }
            return series
        }
    }

    private let state = Mutex(State())

    /// - Parameter registry: where the metrics go. Default: a registry of their own.
    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        // Families exist from the start, so a scrape before any activity already names them.
        _ = registry.makeGauge(descriptor: Self.consumers)
        _ = registry.makeGauge(descriptor: Self.oldest)
        for status in ["queued", "running", "failed"] { _ = registry.makeGauge(descriptor: Self.ghosts, labels: [("status", status)]) }
    }

    /// The label value of a task name (see the type's notes on cardinality).
    func label(_ name: String) -> String {
        let cleaned = String(name.prefix(100).map { character -> Character in
            character.isASCII && (character.isLetter || character.isNumber || "_.:-".contains(character)) ? character : "_"
        })
        return state.withLock { state in
            if state.names.contains(cleaned) { return cleaned }
            guard state.names.count < Self.maxNames else { return "other" }
            state.names.insert(cleaned)
            return cleaned
        }
    }

    /// Records a claim: the claim counter and the wait (`started - created`, seconds).
    public func claimed(_ task: QueueTask, consumerID: String, now: Double) {
        let series = self.series(of: task.name)
        series.claimed.increment()
        let started = task.started ?? now
        series.wait.record(max(0, started - task.created))
        polled(consumerID: consumerID, now: now)
    }

    /// Records that `consumerID` asked for work at `now` (epoch seconds), whether or not it got a task.
    public func polled(consumerID: String, now: Double) {
        state.withLock { state in
            state.polls[String(consumerID.prefix(200))] = now
            if state.polls.count > 1000 {
                state.polls = state.polls.filter { now - $0.value <= Self.consumerPollWindow }
            }
        }
    }

    /// When each consumer last asked this server for work (epoch seconds), for the monitor's "last seen".
    public func consumerPolls() -> [String: Double] {
        state.withLock { $0.polls }
    }

    /// How an attempt ended, for ``ended(_:outcome:now:)``.
    public enum Outcome: String, Sendable {
        case done, failed, timeout
    }

    /// Records the end of an attempt reported to this server: its counter and its run time (`now - started`).
    /// - Parameter task: the task as it ran (with `started`).
    public func ended(_ task: QueueTask, outcome: Outcome, now: Double) {
        let series = self.series(of: task.name)
        let counter: Counter
        let run: ValueHistogram
        switch outcome {
        case .done: (counter, run) = (series.processed, series.runDone)
        case .failed: (counter, run) = (series.failed, series.runFailed)
        case .timeout: (counter, run) = (series.timedOut, series.runTimeout)
        }
        counter.increment()
        if let started = task.started { run.record(max(0, now - started)) }
    }

    /// Sets the store gauges from `snapshot` (series of names gone since the last scrape drop to 0).
    public func update(from snapshot: QueueStatusSnapshot) {
        var taskSeries: Set<[String]> = []
        var values: [[String]: Double] = [:]
        for (name, counts) in snapshot.counts {
            let label = label(name)
            for (status, count) in [("queued", counts.queued), ("running", counts.running), ("failed", counts.failed)] {
                let key = [label, status]
                taskSeries.insert(key)
                values[key, default: 0] += Double(count)
            }
        }
        var recentSeries: Set<[String]> = []
        var recentValues: [[String]: Double] = [:]
        for (name, activity) in snapshot.activity {
            let label = label(name)
            for (outcome, count) in activity.outcomes {
                let key = [label, outcome.rawValue]
                recentSeries.insert(key)
                recentValues[key, default: 0] += Double(count)
            }
        }
        let (staleTasks, staleRecent, pollers) = state.withLock { state -> (Set<[String]>, Set<[String]>, Set<String>) in
            let staleTasks = state.taskSeries.subtracting(taskSeries)
            let staleRecent = state.recentSeries.subtracting(recentSeries)
            state.taskSeries = taskSeries
            state.recentSeries = recentSeries
            state.polls = state.polls.filter { snapshot.taken - $0.value <= Self.consumerPollWindow }
            return (staleTasks, staleRecent, Set(state.polls.keys))
        }
        for key in staleTasks { values[key] = 0 }
        for key in staleRecent { recentValues[key] = 0 }
        for (key, value) in values {
            registry.makeGauge(descriptor: Self.tasks, labels: [("name", key[0]), ("status", key[1])]).set(value)
        }
        for (key, value) in recentValues {
            registry.makeGauge(descriptor: Self.recent, labels: [("name", key[0]), ("outcome", key[1])]).set(value)
        }
        for (status, count) in [("queued", snapshot.ghosts.queued), ("running", snapshot.ghosts.running), ("failed", snapshot.ghosts.failed)] {
            registry.makeGauge(descriptor: Self.ghosts, labels: [("status", status)]).set(Double(count))
        }
        registry.makeGauge(descriptor: Self.consumers).set(Double(pollers.union(snapshot.consumers).count))
        registry.makeGauge(descriptor: Self.oldest).set(snapshot.oldestQueuedAge ?? 0)
    }

    /// The Prometheus text exposition of every metric in the registry.
    public func exposition() -> [UInt8] {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }
}

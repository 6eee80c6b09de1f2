import QueueCore
import QueueServer
import QueueTesting
import Testing

/// `QueueMetrics`' per-name series: cached per label, bounded in labels, never per name as sent.
@Suite("Queue metrics")
struct QueueMetricsTests {
    /// The value of the sample line `series` (metric name with its labels) in `text`, or nil.
    static func value(_ series: String, in text: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    /// Metrics after one ended attempt (`outcome`) of a task of each of `names`, in order.
    static func metrics(ending names: [String], _ outcome: QueueMetrics.Outcome) -> QueueMetrics {
        let metrics = QueueMetrics()
        var task = TaskFactory.task("noop", created: 0)
        task.started = 1
        for name in names {
            task.name = name
            metrics.ended(task, outcome: outcome, now: 2)
        }
        return metrics
    }

    /// Found by a fresh user: names that clean to one label took one place each in the cache of 200, so after 200 of
    /// them every new name (a LIMS kind seen first later) was counted as `other`.
    @Test("names that share a label share its series and take one place of the 200; a later name gets its own")
    func namesSharingALabel() {
        let metrics = Self.metrics(ending: (0..<210).map { "z" + String(UnicodeScalar(0x100 + $0)!) }, .done)
        var task = TaskFactory.task("z", created: 0)
        task.started = 1
        for index in 0..<5 {
            task.name = "fresh_\(index)"
            metrics.claimed(task, consumerID: "consumer-1", now: 2)
            metrics.ended(task, outcome: .done, now: 2)
        }
        let text = metrics.registry.emitToString()
        #expect(Self.value(#"limsqueue_tasks_processed_total{name="z_"}"#, in: text) == 210, "\(text.prefix(2000))")
        for index in 0..<5 {
            #expect(Self.value(#"limsqueue_tasks_processed_total{name="fresh_\#(index)"}"#, in: text) == 1)
            #expect(Self.value(#"limsqueue_tasks_claimed_total{name="fresh_\#(index)"}"#, in: text) == 1)
        }
        #expect(Self.value(#"limsqueue_tasks_processed_total{name="other"}"#, in: text) == nil)
    }

    @Test("past 200 labels, new names are counted under other; known ones keep their own")
    func labelsBounded() {
        let metrics = Self.metrics(ending: (0..<205).map { "kind_\($0)" } + ["kind_3"], .failed)
        let text = metrics.registry.emitToString()
        #expect(Self.value(#"limsqueue_tasks_failed_total{name="kind_3"}"#, in: text) == 2)
        #expect(Self.value(#"limsqueue_tasks_failed_total{name="kind_199"}"#, in: text) == 1)
        #expect(Self.value(#"limsqueue_tasks_failed_total{name="kind_200"}"#, in: text) == nil)
        #expect(Self.value(#"limsqueue_tasks_failed_total{name="other"}"#, in: text) == 5)
    }
}

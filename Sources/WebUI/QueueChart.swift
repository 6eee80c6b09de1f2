import Foundation

/// The monitor's chart, drawn by the server as inline SVG: tasks in the queue, attempts processed and attempts
/// failed per bucket over the last hour, as three lines on one scale.
enum QueueChart {
    static let width = 820.0
    static let height = 220.0
    /// Right margin, room for the legend with totals up to 7 digits ("processed (1234567)"). Default: 190 points.
    static let left = 44.0, right = 190.0, top = 14.0, bottom = 30.0

    /// The series: key, legend label, colour, value of a bucket.
    /// Failed is dashed, so that it stays readable where it meets another line.
    static let series: [(key: String, label: String, colour: String, dash: String, value: @Sendable (QueueStatistics.Bucket) -> Int)] = [
        ("queued", "in queue", "#1565c0", "", { $0.inQueue }),
        ("processed", "processed", "#2e7d32", "", { $0.processed }),
        ("failed", "failed", "#c62828", "6 4", { $0.failed }),
    ]

    /// The SVG markup for `buckets` (oldest first) ending at `now` over `windowSeconds`.
    static func svg(_ buckets: [QueueStatistics.Bucket], windowSeconds: Double) -> String {
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        let peak = max(1, buckets.map { b in series.map { $0.value(b) }.max() ?? 0 }.max() ?? 0)
        let yMax = niceCeiling(peak)
        func x(_ index: Int) -> Double {
            buckets.count <= 1 ? left + plotWidth : left + plotWidth * Double(index) / Double(buckets.count - 1)
        }
        func y(_ value: Int) -> Double { top + plotHeight * (1 - Double(value) / Double(yMax)) }
        var out = ##"<svg xmlns="http://www.w3.org/2000/svg" id="queue-chart-svg" width="\##(Int(width))" height="\##(Int(height))" viewBox="0 0 \##(Int(width)) \##(Int(height))" role="img" aria-label="Tasks in queue, processed and failed over the last hour">"##
        out += ##"<rect x="\##(left)" y="\##(top)" width="\##(plotWidth)" height="\##(plotHeight)" fill="#fbfcfd" stroke="#d5dae1"/>"##
        // Horizontal grid with labels: 0, half, max.
        for fraction in [0.0, 0.5, 1.0] {
            let value = Double(yMax) * fraction
            let gy = top + plotHeight * (1 - fraction)
            let label = value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value)
            out += ##"<line x1="\##(left)" y1="\##(fmt(gy))" x2="\##(left + plotWidth)" y2="\##(fmt(gy))" stroke="#e3e7ec"/>"##
            out += ##"<text x="\##(left - 6)" y="\##(fmt(gy + 4))" font-size="11" text-anchor="end" fill="#555">\##(label)</text>"##
        }
        // Time axis: minutes ago.
        let minutes = Int(windowSeconds / 60)
        for step in stride(from: 0, through: minutes, by: max(1, minutes / 6)) {
            let gx = left + plotWidth * Double(step) / Double(max(1, minutes))
            let label = step == minutes ? "now" : "-\(minutes - step) min"
            out += ##"<text x="\##(fmt(gx))" y="\##(fmt(height - 10))" font-size="11" text-anchor="middle" fill="#555">\##(label)</text>"##
        }
        // Lines and legend.
        for (index, line) in series.enumerated() {
            let points = buckets.enumerated().map { "\(fmt(x($0.offset))),\(fmt(y(line.value($0.element))))" }.joined(separator: " ")
            out += ##"<polyline class="series-\##(line.key)" fill="none" stroke="\##(line.colour)" stroke-width="2" stroke-dasharray="\##(line.dash)" points="\##(points)"/>"##
            let ly = top + 14 + Double(index) * 18
            out += ##"<line x1="\##(width - right + 14)" y1="\##(fmt(ly - 4))" x2="\##(width - right + 34)" y2="\##(fmt(ly - 4))" stroke="\##(line.colour)" stroke-width="3" stroke-dasharray="\##(line.dash)"/>"##
            let total = line.key == "queued" ? (buckets.last.map(line.value) ?? 0) : buckets.map(line.value).reduce(0, +)
            out += ##"<text x="\##(width - right + 40)" y="\##(fmt(ly))" font-size="12" fill="#333">\##(line.label) (\##(total))</text>"##
        }
        out += "</svg>"
        return out
    }

    /// 1, 2, 5, 10, 20, 50 ... at or above `value`.
    static func niceCeiling(_ value: Int) -> Int {
        var magnitude = 1
        while true {
            for step in [1, 2, 5] where step * magnitude >= value { return step * magnitude }
            magnitude *= 10
        }
    }

    static func fmt(_ value: Double) -> String { String(format: "%.1f", value) }
}

import ArgumentParser
import Foundation
import QueueCore

/// `limsqueue status`: the queue at a glance, read from the database (the figures `/metrics` exports from the store):
/// tasks per name queued/running/failed, attempts ended in the last hour with wait and run times, consumers seen.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Print the queue at a glance: tasks per name and status, recent outcomes, wait/run times, consumers."
    )

    @OptionGroup var common: CommonOptions

    @Flag(name: .long, help: "Print JSON instead of a table.")
    var json = false

    /// The longest `--window`: one year, seconds.
    static let maxWindowSeconds = 366.0 * 86_400

    @Option(name: .long, parsing: .unconditional, help: "Recent window, seconds: 1 up to one year.")
    var window: Double = 3600

    func validate() throws {
        guard window.isFinite, window >= 1, window <= Self.maxWindowSeconds else {
            throw ValidationError("--window must be seconds in 1...\(Int(Self.maxWindowSeconds)) (one year)")
        }
    }

    func run() async throws {
        let window = self.window
        let snapshot = try await StorageEnvironment.with(dataDir: common.dataDir, database: common.databaseURL, durability: common.durabilityLevel, existing: true,
                                                         logger: common.logger("limsqueue.cli")) {
            try await $0.store.statusSnapshot(now: SystemWallClock().now(), windowSeconds: window)
        }
        if json {
            print(snapshot.json.jsonString)
        } else {
            print(StatusTable.render(snapshot))
        }
    }
}

/// The plain-text rendering of a ``QueueStatusSnapshot``.
enum StatusTable {
    /// Seconds as a short human figure: `0.42s`, `12.0s`, `3m05s`, `2h10m`.
    static func duration(_ seconds: Double) -> String {
        if seconds < 10 { return String(format: "%.2fs", seconds) }
        if seconds < 60 { return String(format: "%.1fs", seconds) }
        if seconds < 3600 { return String(format: "%dm%02ds", Int(seconds) / 60, Int(seconds) % 60) }
        return String(format: "%dh%02dm", Int(seconds) / 3600, (Int(seconds) % 3600) / 60)
    }

    static func render(_ snapshot: QueueStatusSnapshot) -> String {
        let totals = snapshot.totals
        let windowText = duration(snapshot.windowSeconds)
        var lines = [
            "queued \(totals.queued)  running \(totals.running)  failed \(totals.failed)"
                + (snapshot.oldestQueuedAge.map { "  oldest queued \(duration($0))" } ?? ""),
        ]
        let ghosts = snapshot.ghosts
        if ghosts != .init() {
            lines.append("system tasks (ghost: security walks): queued \(ghosts.queued)  running \(ghosts.running)  failed \(ghosts.failed)")
        }
        lines += [
            "consumers seen (last \(windowText)): \(snapshot.consumers.count)"
                + (snapshot.consumers.isEmpty ? "" : "  " + snapshot.consumers.map { TerminalText.safe($0, maxLength: 80) }.joined(separator: ", ")),
        ]
        guard !snapshot.names.isEmpty else { return (lines + ["no tasks"]).joined(separator: "\n") }
        let header = ["NAME", "QUEUED", "RUNNING", "FAILED", "DONE", "RETRIED", "FAILED*", "TIMEOUT", "PURGED", "WAIT p50/p95", "RUN p50/p95"]
        let rows = snapshot.names.map { name -> [String] in
            let counts = snapshot.counts[name] ?? .init()
            let activity = snapshot.activity[name]
            func outcome(_ outcome: HistoryEntry.Outcome) -> String { String(activity?.outcomes[outcome] ?? 0) }
            func times(_ summary: QueueStatusSnapshot.TimeSummary?) -> String {
                summary.map { "\(duration($0.p50))/\(duration($0.p95))" } ?? "-"
            }
            return [TerminalText.safe(name, maxLength: 80), String(counts.queued), String(counts.running), String(counts.failed), outcome(.done),
                    outcome(.retried), outcome(.failed), outcome(.timeout),
                    String((activity?.outcomes[.purged] ?? 0) + (activity?.outcomes[.interrupted] ?? 0)), times(activity?.wait), times(activity?.run)]
        }
        let widths = header.indices.map { column in ([header] + rows).map { TerminalText.width($0[column]) }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            TerminalText.trimmedEnd(zip(cells, widths).map { TerminalText.padded($0, to: $1) }.joined(separator: "  "))
        }
        lines.append("")
        lines.append(line(header))
        lines.append(contentsOf: rows.map(line))
        lines.append("DONE, RETRIED, FAILED* (final), TIMEOUT, PURGED, WAIT and RUN: attempts ended in the last \(windowText)")
        lines.append("PURGED: ended because their consumer popped again (died and came back), stopped (released at shutdown), or an operator removed or requeued them")
        return lines.joined(separator: "\n")
    }
}

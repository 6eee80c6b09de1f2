import Logging
import Synchronization

/// A LogHandler keeping every rendered line (label, level, message, metadata) in memory.
package final class CapturingLogHandlerBox: Sendable {
    package let lines = Mutex<[String]>([])
    package init() {}

    package var text: String { lines.withLock { $0.joined(separator: "\n") } }
}

package struct CapturingLogHandler: LogHandler {
    package let box: CapturingLogHandlerBox
    package let label: String
    package var metadata: Logger.Metadata = [:]
    package var logLevel: Logger.Level = .trace

    package init(box: CapturingLogHandlerBox, label: String) {
        self.box = box
        self.label = label
    }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    package func log(level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?, source: String,
             file: String, function: String, line: UInt) {
        let all = metadata.merging(explicit ?? [:]) { _, new in new }
        let rendered = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        box.lines.withLock { $0.append("\(level) \(label): \(message) \(rendered)") }
    }
}

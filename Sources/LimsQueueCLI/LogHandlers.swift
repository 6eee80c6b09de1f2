import Foundation
import Logging
import QueueCore
import Synchronization

/// Wraps a log handler and blanks metadata that may carry secrets before anything is written: the bound values
/// of SQL statements (`binds`, logged by SQLKit/FluentKit at debug level: they include the stored auth key and
/// password hashes) and any key naming a password, token, cookie, secret or key value.
/// Passwords and tokens must never reach the logs (issue 7, part 3).
///
/// The handler's own metadata (`logger[metadataKey:] = ...`, set per request and per task) is kept here, redacted,
/// and handed to `base` only with a line that is actually written: setting it costs a dictionary insert, where
/// the base (`StreamLogHandler`) re-renders all of its metadata on every change, also when the level drops every line.
struct RedactingLogHandler: LogHandler {
    var base: any LogHandler
    /// This handler's metadata, already redacted; merged under each line's own metadata when it is written.
    private var ownMetadata: Logger.Metadata = [:]

    init(base: any LogHandler) {
        self.base = base
    }

    /// Metadata keys whose values are replaced by `[redacted]`: exact `binds`, or containing one of these words.
    static let sensitiveWords = ["password", "passwd", "token", "cookie", "secret", "authorization", "auth_key"]

    /// Keys set on every task and request, known not to be sensitive: answered without the word search.
    static let knownSafeKeys: Set<String> = ["lims.task.uid", "lims.task.name", "lims.user"]

    /// Answers of ``isSensitive(_:)`` for keys seen so far (at most ``knownKeysLimit``): the request and task keys
    /// set on every request would otherwise be lower-cased and searched for seven words each time (1-2 % of the CPU of
    /// `bench queue` one task per pop, perf).
    private static let knownKeys = Mutex<[String: Bool]>([:])
    static let knownKeysLimit = 256

    static func isSensitive(_ key: String) -> Bool {
        if knownSafeKeys.contains(key) { return false }
        if let known = knownKeys.withLock({ $0[key] }) { return known }
        let lower = key.lowercased()
        let sensitive = lower == "binds" || sensitiveWords.contains { lower.contains($0) }
        knownKeys.withLock { keys in if keys.count < knownKeysLimit { keys[key] = sensitive } }
        return sensitive
    }

    static func redact(_ metadata: Logger.Metadata?) -> Logger.Metadata? {
        guard var metadata else { return nil }
        for key in metadata.keys where isSensitive(key) { metadata[key] = "[redacted]" }
        return metadata
    }

    var metadata: Logger.Metadata {
        get { base.metadata.merging(ownMetadata, uniquingKeysWith: { _, own in own }) }
        set { ownMetadata = Self.redact(newValue) ?? [:] }
    }

    var logLevel: Logger.Level {
        get { base.logLevel }
        set { base.logLevel = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { ownMetadata[key] ?? base[metadataKey: key] }
        set { ownMetadata[key] = Self.isSensitive(key) && newValue != nil ? "[redacted]" : newValue }
    }

    func log(event: LogEvent) {
        var event = event
        var merged = ownMetadata
        if let explicit = Self.redact(event.metadata) { merged.merge(explicit, uniquingKeysWith: { _, line in line }) }
        event.metadata = merged.isEmpty ? nil : merged
        base.log(event: event)
    }
}

/// Writes one JSON object per line to standard error: `{"time": ISO 8601, "level", "label", "source", "message",
/// <metadata key>: <value>...}` (metadata values as JSON strings, lists and objects), for log collectors.
/// Selected with `--log-format json`.
struct JSONLogHandler: LogHandler {
    let label: String
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info
    /// Where lines go. Default: standard error.
    var write: @Sendable (String) -> Void = { line in FileHandle.standardError.write(Data((line + "\n").utf8)) }

    init(label: String) { self.label = label }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    static func json(_ value: Logger.Metadata.Value) -> JSONValue {
        switch value {
        case .string(let text): return .string(text)
        case .stringConvertible(let item): return .string(item.description)
        case .array(let items): return .array(items.map(json))
        case .dictionary(let members): return .object(members.mapValues(json))
        }
    }

    /// The line for one entry (no newline).
    func render(level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?, source: String,
                now: Date = Date()) -> String {
        var object: [String: JSONValue] = [:]
        for (key, value) in metadata.merging(explicit ?? [:], uniquingKeysWith: { _, new in new }) { object[key] = Self.json(value) }
        object["time"] = .string(ISO8601DateFormatter.string(from: now, timeZone: .gmt,
                                                             formatOptions: [.withInternetDateTime, .withFractionalSeconds]))
        object["level"] = .string(level.rawValue)
        object["label"] = .string(label)
        object["source"] = .string(source)
        object["message"] = .string(message.description)
        return JSONValue.object(object).jsonString
    }

    func log(event: LogEvent) {
        var explicit = event.metadata
        if let error = event.error { explicit = (explicit ?? [:]).merging(["error": "\(error)"]) { line, _ in line } }
        write(render(level: event.level, message: event.message, metadata: explicit, source: event.source))
    }
}

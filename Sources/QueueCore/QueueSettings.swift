import Foundation

/// The queue's settings, stored in the database and editable by operators.
///
/// Keys, ranges and defaults are senaite.queue's control panel (registry prefix `senaite.queue.`),
/// plus `max_consumers` and `history_days` of this project. Source: reference 1.7.
public struct QueueSettings: Sendable, Equatable, Codable {
    /// Queue server URL (scheme, host and path) that web nodes talk to and the status banner checks. Optional;
    /// empty (the default) when every node shares the queue's database, as LimsQueue's nodes do. senaite.queue's
    /// default is `http://localhost:8080/senaite`; set that form for a SENAITE client.
    public var server: String
    /// Number of objects to process per task ("chunk size"), 0...20; 0 disables queueing. Default: 10.
    public var chunkSize: Int
    /// Retries before a task is marked failed, 0...10; 0 means no retry (unlike the original). Default: 3.
    public var maxRetries: Int
    /// Minimum seconds a task is booked for, 0...30. Default: 3 seconds (senaite.queue's value). senaite.queue's
    /// floor is 3; LimsQueue allows 0 (no booking), as its transactions need no pause to settle (reference 1.7).
    public var minSeconds: Int
    /// Seconds after which a running task is considered stuck (its lease), 30...1800. Default: 120 seconds.
    public var maxSeconds: Int
    /// Task names (or actions) that go first, in this order.
    /// Default: `task_action_unassign, task_assign_analyses, task_action_submit, task_action_verify`.
    public var topPriorityTasks: [String]
    /// Maximum tasks running at once across all consumers, 1...64. Default: 4 (the original's constant).
    public var maxConsumers: Int
    /// Days a finished task is kept in the history table, 1...3650. Default: 7 days.
    public var historyDays: Int

    public init(
        server: String = "",
        chunkSize: Int = 10,
        maxRetries: Int = 3,
        minSeconds: Int = 3,
        maxSeconds: Int = 120,
        topPriorityTasks: [String] = QueueSettings.defaultTopPriorityTasks,
        maxConsumers: Int = 4,
        historyDays: Int = 7
    ) {
        self.server = server
        self.chunkSize = chunkSize
        self.maxRetries = maxRetries
        self.minSeconds = minSeconds
        self.maxSeconds = maxSeconds
        self.topPriorityTasks = topPriorityTasks
        self.maxConsumers = maxConsumers
        self.historyDays = historyDays
    }

    /// senaite.queue's default top-priority list (reference 1.7, HEAD).
    public static let defaultTopPriorityTasks = [
        "task_action_unassign", "task_assign_analyses", "task_action_submit", "task_action_verify",
    ]

    /// One setting's key, title, help text and range, as shown by the CLI and the settings page.
    public struct Field: Sendable {
        public let key: String
        public let title: String
        public let help: String
        /// Inclusive integer range; nil for non-integer settings.
        public let range: ClosedRange<Int>?
    }

    /// Every setting this project stores, in display order. `auth_key` is kept apart (see ``AuthKeyRules``).
    public static let fields: [Field] = [
        Field(key: "server", title: "Queue server",
              help: "URL of the queue server (scheme, host and path), e.g. http://localhost:8080/senaite.", range: nil),
        Field(key: "default", title: "Number of objects to process per task",
              help: "Objects processed per task (chunk size). 0 disables the queue: actions run at once.", range: 0...20),
        Field(key: "max_retries", title: "Maximum retries",
              help: "Times a failed task is retried before it is marked failed. 0 means no retry.", range: 0...10),
        Field(key: "min_seconds_task", title: "Minimum seconds",
              help: "Minimum seconds a consumer stays booked by each task (senaite.queue's pause between transactions). 0 books nothing: tasks follow each other at once.", range: 0...30),
        Field(key: "max_seconds_unlock", title: "Maximum seconds",
              help: "Seconds after which a running task is considered stuck and is timed out (its lease).", range: 30...1800),
        Field(key: "top_priority_tasks", title: "Tasks with top-priority",
              help: "Task names or actions, one per line, that are processed before any other, in this order.", range: nil),
        Field(key: "max_consumers", title: "Maximum concurrent tasks",
              help: "Tasks running at once across all consumers.", range: 1...64),
        Field(key: "history_days", title: "History retention (days)",
              help: "Days a finished task is kept in the history.", range: 1...3650),
    ]

    /// The value of a setting as text (lists joined by commas).
    /// - Throws: ``QueueError`` `.invalidSetting` for an unknown key.
    public func value(forKey key: String) throws -> String {
        switch key {
        case "server": return server
        case "default": return String(chunkSize)
        case "max_retries": return String(maxRetries)
        case "min_seconds_task": return String(minSeconds)
        case "max_seconds_unlock": return String(maxSeconds)
        case "top_priority_tasks": return topPriorityTasks.joined(separator: ",")
        case "max_consumers": return String(maxConsumers)
        case "history_days": return String(historyDays)
        default: throw QueueError.invalidSetting(key, "unknown setting; known: \(Self.fields.map(\.key).joined(separator: ", "))")
        }
    }

    /// Sets one setting from text, checking its range.
    ///
    /// `top_priority_tasks` takes names separated by commas or new lines (ASCII only).
    /// `server` must be empty or an http(s) URL with a host and a path.
    /// - Throws: ``QueueError`` `.invalidSetting` naming the key and the reason; nothing changes then.
    public mutating func set(_ key: String, to text: String) throws {
        guard let field = Self.fields.first(where: { $0.key == key }) else {
            throw QueueError.invalidSetting(key, "unknown setting; known: \(Self.fields.map(\.key).joined(separator: ", "))")
        }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if let range = field.range {
            guard let number = Int(trimmed) else {
                throw QueueError.invalidSetting(key, "must be a whole number in \(range.lowerBound)...\(range.upperBound), got '\(text)'")
            }
            guard range.contains(number) else {
                throw QueueError.invalidSetting(key, "must be in \(range.lowerBound)...\(range.upperBound), got \(number)")
            }
            switch key {
            case "default": chunkSize = number
            case "max_retries": maxRetries = number
            case "min_seconds_task": minSeconds = number
            case "max_seconds_unlock": maxSeconds = number
            case "max_consumers": maxConsumers = number
            default: historyDays = number
            }
            return
        }
        if key == "server" {
            guard trimmed.isEmpty || Self.isValidServerURL(trimmed) else {
                throw QueueError.invalidSetting(key, "must be an http(s) URL with a host, an optional port in 1...65535 and a path, "
                                                + "e.g. http://localhost:8080/senaite")
            }
            server = trimmed
            return
        }
        let names = trimmed.split(whereSeparator: { $0 == "," || $0.isNewline })  // "\r\n" is one Character
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        guard names.allSatisfy({ name in name.unicodeScalars.allSatisfy { $0.isASCII && !$0.properties.isWhitespace } }) else {
            throw QueueError.invalidSetting(key, "names must be ASCII without spaces")
        }
        topPriorityTasks = names
    }

    /// senaite.queue's server URL rule: scheme, netloc and path are all required (reference 0, `get_queue_status`).
    /// No whitespace, control or invisible format character anywhere (tryouts stored `http://x:1/ y` and a
    /// zero-width space, which no client can use).
    public static func isValidServerURL(_ text: String) -> Bool {
        guard !text.unicodeScalars.contains(where: {
            $0.properties.isWhitespace || [.control, .format].contains($0.properties.generalCategory)
        }) else {
            return false
        }
        guard let schemeEnd = text.range(of: "://") else { return false }
        let scheme = text[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "http" || scheme == "https" else { return false }
        let rest = text[schemeEnd.upperBound...]
        guard let slash = rest.firstIndex(of: "/") else { return false }
        let host = rest[..<slash]
        let path = rest[rest.index(after: slash)...]
        return !path.isEmpty && isValidAuthority(host)
    }

    /// `[user@]host[:port]`: a host name or a bracketed IPv6 address, and a port, when given, of digits in
    /// 1...65535 (a tryout stored `http://host:abc/senaite`, which no client can reach).
    static func isValidAuthority(_ authority: Substring) -> Bool {
        let hostAndPort = authority.lastIndex(of: "@").map { authority[authority.index(after: $0)...] } ?? authority
        let host: Substring
        let port: Substring?
        if hostAndPort.hasPrefix("[") {
            guard let close = hostAndPort.firstIndex(of: "]") else { return false }
            host = hostAndPort[...close]
            let after = hostAndPort[hostAndPort.index(after: close)...]
            guard after.isEmpty || after.hasPrefix(":") else { return false }
            port = after.isEmpty ? nil : after.dropFirst()
        } else if let colon = hostAndPort.lastIndex(of: ":") {
            host = hostAndPort[..<colon]
            port = hostAndPort[hostAndPort.index(after: colon)...]
        } else {
            host = hostAndPort
            port = nil
        }
        guard !host.isEmpty, host != "[]", !host.contains(":") || host.hasPrefix("[") else { return false }
        guard let port else { return true }
        guard !port.isEmpty, port.count <= 5, port.allSatisfy({ $0.isASCII && $0.isNumber }), let number = Int(port) else { return false }
        return (1...65535).contains(number)
    }

    /// The chunk size a new task gets: the setting, or 0 when the queue is disabled (setting <= 0).
    /// Source: senaite.queue `QueueTask.chunk_size`, reference 1.1.
    public var effectiveChunkSize: Int { max(chunkSize, 0) }
}

import Foundation

extension QueueTask {
    /// Latest accepted `created`, epoch seconds (year 5138): beyond it times stop being dates.
    public static let latestCreated: Double = 1e11
    /// Longest a task may wait before it is due, seconds (one year): the most `delay` may be, and the most `created`
    /// may be ahead of the server's clock (a task created later counts as delayed until then, so a `created` far
    /// ahead would keep it queued for good, never run, where its `delay` would have been refused).
    public static let maxDelaySeconds: Double = 86_400 * 365
    /// Longest lease a task may ask for or grow to by timeouts: 7 days, in seconds.
    public static let maxLeaseSeconds = 604_800
    /// Longest minimum booking a task may ask for: 1 hour, in seconds.
    public static let maxMinSeconds = 3_600
    /// Most characters of an `error_message` kept (by add, fail and batched fail); longer ones are cut to this.
    public static let maxErrorMessageCharacters = 4_000

    /// The keys this type models; any other key of a task dict goes to ``extra``.
    public static let modelledKeys: Set<String> = [
        "task_uid", "name", "context_uid", "context_path", "uids", "created", "status", "error_message",
        "min_seconds", "max_seconds", "priority", "retries", "unique", "chunk_size", "username", "delay",
        "ghost", "action", "slots", "top_uid", "started", "consumer_id", "lease_token",
    ]

    /// Modelled keys a client may send as `null` that senaite.queue keeps verbatim (reference 1.1, "extra keys kept
    /// verbatim"): such a null is kept in ``extra`` and sent back as `null`, where the key is otherwise left out.
    public static let keptWhenNull: Set<String> = ["action", "slots", "top_uid", "delay"]

    /// The members of a task dict that go to ``extra``: the keys this type does not model, and a `null` of
    /// ``keptWhenNull``.
    static func extraMembers(of dict: [String: JSONValue]) -> [String: JSONValue] {
        func isExtra(_ member: (key: String, value: JSONValue)) -> Bool {
            !modelledKeys.contains(member.key) || (member.value == .null && keptWhenNull.contains(member.key))
        }
        // Most tasks have none: no new dictionary then (`filter` built one for every task decoded).
        guard dict.contains(where: isExtra) else { return [:] }
        return dict.filter(isExtra)
    }

    /// The complete task dict, as senaite.queue sends it (reference 1.1 "complete info").
    public var wireDictionary: [String: JSONValue] {
        var dict = extra
        // Room for every modelled field at once: grown field by field it was rehashed four times per task.
        dict.reserveCapacity(extra.count + Self.modelledKeys.count)
        dict["task_uid"] = .string(taskUID)
        dict["name"] = .string(name)
        dict["context_uid"] = .string(contextUID)
        dict["context_path"] = .string(contextPath)
        dict["uids"] = .array(uids.map(JSONValue.string))
        dict["created"] = .double(created)
        dict["status"] = status.map { .string($0.rawValue) } ?? .null
        dict["error_message"] = errorMessage.map(JSONValue.string) ?? .null
        dict["min_seconds"] = .int(minSeconds)
        dict["max_seconds"] = .int(maxSeconds)
        dict["priority"] = .int(priority)
        dict["retries"] = .int(retries)
        dict["unique"] = .bool(unique)
        dict["chunk_size"] = .int(chunkSize)
        dict["username"] = .string(username)
        if let delay { dict["delay"] = .number(delay) }
        if ghost { dict["ghost"] = .bool(true) }
        if let action { dict["action"] = .string(action) }
        if let slots { dict["slots"] = .array(slots) }
        if let topUID { dict["top_uid"] = .string(topUID) }
        if let started { dict["started"] = .double(started) }
        if let consumerID { dict["consumer_id"] = .string(consumerID) }
        if let leaseToken { dict["lease_token"] = .string(leaseToken) }
        return dict
    }

    /// ``wireDictionary`` without `lease_token`: what anyone but the claiming consumer is shown (a task's page,
    /// listings, the monitor). The token is the claim's proof for done/fail/timeout, so only the claim's answer
    /// carries it.
    public var sharedWireDictionary: [String: JSONValue] {
        var dict = wireDictionary
        dict["lease_token"] = nil
        return dict
    }

    /// Reads a task dict as stored by this project (all fields present and already normalized).
    /// - Throws: ``QueueError`` `.invalidTask` naming the field when a stored dict is malformed.
    public init(stored dict: [String: JSONValue]) throws {
        let reader = FieldReader(dict: dict)
        self.init(
            taskUID: try reader.requiredString("task_uid"),
            name: try reader.requiredString("name"),
            contextUID: try reader.requiredString("context_uid"),
            contextPath: try reader.requiredString("context_path"),
            uids: try reader.stringList("uids") ?? [],
            created: try reader.number("created") ?? 0,
            status: try reader.string("status").flatMap(TaskStatus.init(rawValue:)),
            errorMessage: try reader.string("error_message"),
            minSeconds: try reader.int("min_seconds") ?? 3,
            maxSeconds: try reader.int("max_seconds") ?? 120,
            priority: try reader.int("priority") ?? 10,
            retries: try reader.int("retries") ?? 0,
            unique: try reader.flag("unique"),
            chunkSize: try reader.int("chunk_size") ?? 10,
            username: try reader.string("username") ?? "",
            delay: try reader.number("delay"),
            ghost: try reader.flag("ghost"),
            action: try reader.string("action"),
            slots: try reader.list("slots"),
            topUID: try reader.string("top_uid"),
            started: try reader.number("started"),
            consumerID: try reader.string("consumer_id"),
            leaseToken: try reader.string("lease_token"),
            extra: Self.extraMembers(of: dict)
        )
    }

    /// Reads a task dict sent by a client (queue_server `add`), applying senaite.queue's defaults and rules
    /// with the current settings (reference 1.1):
    /// - `name`, `context_uid` and `context_path` are required;
    /// - `task_uid` must be 32 hex characters when given, else a new one is made;
    /// - whole-number fields (`min_seconds`, `max_seconds`, `priority`, `retries`, `chunk_size`) must be JSON
    ///   numbers, not strings, and never negative except `priority` (as the OpenAPI document says);
    /// - `max_seconds` below 30 falls back to the settings (0 `min_seconds` means no minimum booking);
    /// - `retries` missing falls back to `max_retries`; 0 stays 0 (no retry, unlike the original);
    /// - `unique` and `ghost` accept true/false, a number (0 is false) or a string ("y"/"yes"/"1"/"true" in any
    ///   case are true, any other string false, as senaite.queue reads them); a list or an object is refused;
    /// - `error_message` longer than ``maxErrorMessageCharacters`` is cut to it;
    /// - `chunk_size` missing takes the setting (0 when the queue is disabled);
    /// - `username` missing takes `defaultUsername` (the authenticated user);
    /// - status, claim fields and lease are cleared: the queue sets them.
    ///
    /// - Parameters:
    ///   - dict: the JSON object.
    ///   - settings: current settings for defaults.
    ///   - now: epoch seconds, the default `created`.
    ///   - defaultUsername: user id of the requester.
    ///   - uids: where the task uid comes from when the dict has none. Default: ``TimeOrderedUIDGenerator``.
    /// - Throws: ``QueueError`` `.invalidTask` naming the missing or mistyped field.
    public init(wire dict: [String: JSONValue], settings: QueueSettings, now: Double, defaultUsername: String,
                uids: any UIDGenerator = TimeOrderedUIDGenerator()) throws {
        let reader = FieldReader(dict: dict)
        let name = try reader.requiredString("name")
        let contextUID = try reader.requiredString("context_uid")
        let contextPath = try reader.requiredString("context_path")
        let taskUID: String
        if let given = try reader.string("task_uid") {
            guard TaskUID.isValid(given) else { throw QueueError.invalidTask("task_uid", "must be 32 hex characters") }
            taskUID = given.lowercased()
        } else {
            taskUID = uids.makeUID()
        }
        // Unicode scalars, as the databases' length() counts them (a Swift Character may hold several).
        guard name.unicodeScalars.count <= 200 else { throw QueueError.invalidTask("name", "is longer than 200 characters") }
        // Indexed fields, in UTF-8 bytes: a PostgreSQL b-tree entry holds at most about 2,700 bytes, and a longer one
        // fails its statement (the claim that marks the task running, or the fail that records it), again and again.
        try Self.checkIndexed("context_uid", contextUID, maxBytes: Self.maxKeyBytes)
        try Self.checkIndexed("context_path", contextPath, maxBytes: Self.maxPathBytes)
        let created = try reader.number("created") ?? now
        guard created.isFinite, created >= 0, created <= Self.latestCreated else {
            throw QueueError.invalidTask("created", "must be epoch seconds between 0 and \(Int(Self.latestCreated))")
        }
        guard created <= now + Self.maxDelaySeconds else {
            throw QueueError.invalidTask("created", "is more than one year after the server's time (\(Int(now))); a task "
                                         + "created later waits until then: give the creation time, and `delay` to run it later")
        }
        // The original turns any value < 1 into the setting; here an explicit 0 means "no minimum booking"
        // (benchmarks, fast internal tasks) and only negative values fall back to the setting.
        let minSeconds = try reader.wireCount("min_seconds") ?? settings.minSeconds
        var maxSeconds = try reader.wireCount("max_seconds") ?? settings.maxSeconds
        if maxSeconds < 30 { maxSeconds = settings.maxSeconds }
        guard maxSeconds <= Self.maxLeaseSeconds else {
            throw QueueError.invalidTask("max_seconds", "must be at most \(Self.maxLeaseSeconds) seconds")
        }
        guard minSeconds <= Self.maxMinSeconds else {
            throw QueueError.invalidTask("min_seconds", "must be at most \(Self.maxMinSeconds) seconds")
        }
        let retries = try reader.wireCount("retries") ?? settings.maxRetries
        let delay = try reader.number("delay")
        if let delay, !(delay.isFinite && delay >= 0 && delay <= Self.maxDelaySeconds) {
            throw QueueError.invalidTask("delay", "must be seconds between 0 and one year")
        }
        // Together too: a `created` a year ahead plus a year's delay would be due in two (a tryout's).
        if let delay, created + delay > now + Self.maxDelaySeconds {
            throw QueueError.invalidTask("delay", "with the task's created time, it would be due more than one year after the server's time")
        }
        let chunkSize = try reader.wireCount("chunk_size") ?? settings.effectiveChunkSize
        guard chunkSize >= 0, chunkSize <= 1_000_000 else { throw QueueError.invalidTask("chunk_size", "must be in 0...1000000") }
        let priority = try reader.wireInt("priority") ?? 10
        guard (-1_000_000...1_000_000).contains(priority) else { throw QueueError.invalidTask("priority", "must be in -1000000...1000000") }
        guard retries <= 1_000 else { throw QueueError.invalidTask("retries", "must be at most 1000") }
        let username = try reader.string("username") ?? defaultUsername
        try Self.checkIndexed("username", username, maxBytes: Self.maxKeyBytes)
        let uids = try reader.stringList("uids") ?? []
        for uid in uids { try Self.checkIndexed("uids", uid, maxBytes: Self.maxKeyBytes, item: true) }
        self.init(
            taskUID: taskUID,
            name: name,
            contextUID: contextUID,
            contextPath: contextPath,
            uids: uids,
            created: created,
            status: nil,
            errorMessage: try reader.string("error_message").map { String($0.prefix(Self.maxErrorMessageCharacters)) },
            minSeconds: minSeconds,
            maxSeconds: maxSeconds,
            priority: priority,
            retries: retries,
            unique: try reader.flag("unique"),
            chunkSize: chunkSize,
            username: username,
            delay: delay,
            ghost: try reader.flag("ghost"),
            action: try reader.string("action"),
            slots: try reader.list("slots"),
            topUID: try reader.string("top_uid"),
            extra: Self.extraMembers(of: dict)
        )
    }
}

extension QueueTask {
    /// The most UTF-8 bytes of an indexed key a client may send (`context_uid`, `username`, each of `uids`).
    /// SENAITE's are 32-character uids and short user ids.
    public static let maxKeyBytes = 256
    /// The most UTF-8 bytes of `context_path` (its third segment is the serialization key, indexed with the name).
    public static let maxPathBytes = 1024

    /// Refuses `value` of field `field` when it has more than `maxBytes` UTF-8 bytes.
    /// - Throws: ``QueueError`` `.invalidTask` naming the field.
    static func checkIndexed(_ field: String, _ value: String, maxBytes: Int, item: Bool = false) throws {
        guard value.utf8.count <= maxBytes else {
            throw QueueError.invalidTask(field, item ? "has an item longer than \(maxBytes) bytes" : "is longer than \(maxBytes) bytes")
        }
    }
}

/// Typed reads of a task dict, each error naming its field.
struct FieldReader {
    let dict: [String: JSONValue]

    func value(_ key: String) -> JSONValue? {
        guard let value = dict[key], value != .null else { return nil }
        return value
    }

    func requiredString(_ key: String) throws -> String {
        guard let value = value(key) else { throw QueueError.invalidTask(key, "is missing") }
        guard let text = value.stringValue, !text.isEmpty else { throw QueueError.invalidTask(key, "must be a non-empty string") }
        return text
    }

    func string(_ key: String) throws -> String? {
        guard let value = value(key) else { return nil }
        guard let text = value.stringValue else { throw QueueError.invalidTask(key, "must be a string") }
        return text
    }

    func number(_ key: String) throws -> Double? {
        guard let value = value(key) else { return nil }
        if let number = value.doubleValue { return number }
        if let text = value.stringValue, let number = Double(decimalText: text) { return number }
        throw QueueError.invalidTask(key, "must be a number")
    }

    func int(_ key: String) throws -> Int? {
        guard let value = value(key) else { return nil }
        if let number = value.intValue { return number }
        if let text = value.stringValue, let number = Int(text) { return number }
        throw QueueError.invalidTask(key, "must be a whole number")
    }

    /// A whole number sent as a JSON number (a new task from a client: strings are refused, as the OpenAPI
    /// document says). Source: issue 13, finding 15. The refusal says which: a string, a fraction, or a whole number
    /// too large (a tryout's 2^63 was told "a JSON number, not a string").
    func wireInt(_ key: String) throws -> Int? {
        guard let value = value(key) else { return nil }
        if let number = value.intValue { return number }
        switch value {
        case .string: throw QueueError.invalidTask(key, "must be a whole number (a JSON number, not a string)")
        case .double(let number) where number.rounded() == number:
            throw QueueError.invalidTask(key, "must be a whole number of at most 15 digits")
        case .verbatimNumber(let text) where !text.contains(where: { ".eE".contains($0) }):
            throw QueueError.invalidTask(key, "must be a whole number of at most 15 digits")
        case .double: throw QueueError.invalidTask(key, "must be a whole number, not a fraction")
        default: throw QueueError.invalidTask(key, "must be a whole number")
        }
    }

    /// A whole number 0 or more sent as a JSON number.
    func wireCount(_ key: String) throws -> Int? {
        guard let number = try wireInt(key) else { return nil }
        guard number >= 0 else { throw QueueError.invalidTask(key, "must be 0 or more") }
        return number
    }

    func stringList(_ key: String) throws -> [String]? {
        guard let value = value(key) else { return nil }
        guard let items = value.arrayValue else { throw QueueError.invalidTask(key, "must be a list of strings") }
        return try items.map { item in
            guard let text = item.stringValue else { throw QueueError.invalidTask(key, "must be a list of strings") }
            return text
        }
    }

    func list(_ key: String) throws -> [JSONValue]? {
        guard let value = value(key) else { return nil }
        guard let items = value.arrayValue else { throw QueueError.invalidTask(key, "must be a list") }
        return items
    }

    /// senaite.queue's truthiness for `unique`/`ghost`: a bool, a number other than 0, or "y"/"yes"/"1"/"true" in
    /// any case; a missing field is false.
    /// - Throws: ``QueueError`` `.invalidTask` naming the field for a list or an object, which a client cannot
    ///   mean as a flag.
    func flag(_ key: String) throws -> Bool {
        switch value(key) {
        case nil: return false
        case .bool(let flag)?: return flag
        case .string(let text)?: return ["y", "yes", "1", "true"].contains(text.lowercased())
        case let number?:
            guard let number = number.doubleValue else { throw QueueError.invalidTask(key, "must be true or false") }
            return number != 0
        }
    }
}

import Foundation
import QueueCore
import QueueTesting
import Testing

@Suite("Queue core rules")
struct QueueCoreTests {
    let t0: Double = 1_767_225_600
    let settings = QueueSettings()

    @Test("fail: retries 3 -> 2 -> 1 -> 0 then failed; chunk halved; created = now; 5 s delay")
    func failRetries() {
        var task = TaskFactory.task(created: t0, retries: 3).claimed(by: "consumer-1", leaseToken: "a", now: t0)
        task.chunkSize = 10
        var retries: [Int] = []
        for round in 1...3 {
            task = task.failed(message: "boom", now: t0 + Double(round))
            #expect(task.status == .queued)
            #expect(task.delay == 5)
            #expect(task.created == t0 + Double(round))
            #expect(task.started == nil && task.consumerID == nil && task.leaseToken == nil)
            retries.append(task.retries)
            task = task.claimed(by: "consumer-1", leaseToken: "b", now: t0 + 10)
        }
        #expect(retries == [2, 1, 0])
        #expect(task.chunkSize == 2) // 10 -> 5 -> 3 -> 2
        task = task.failed(message: "final", now: t0 + 20)
        #expect(task.status == .failed)
        #expect(task.errorMessage == "final")
    }

    @Test("max_retries = 0 means no retry")
    func noRetry() {
        let task = TaskFactory.task(created: t0, retries: 0).claimed(by: "c-01", leaseToken: "x", now: t0)
        #expect(task.failed(message: "x", now: t0).status == .failed)
    }

    @Test("timeout grows max_seconds by half: 120 -> 180 -> 270 -> 405 -> 608")
    func timeoutGrowth() {
        var task = TaskFactory.task(created: t0, retries: 10, maxSeconds: 120)
        var seen: [Int] = []
        for _ in 0..<4 {
            task = task.claimed(by: "c-01", leaseToken: "x", now: t0).timedOut(now: t0)
            seen.append(task.maxSeconds)
            #expect(task.errorMessage == "Timeout")
        }
        #expect(seen == [180, 270, 405, 608])
        var long = TaskFactory.task(created: t0, retries: 10, maxSeconds: 500_000)
        long = long.claimed(by: "c-01", leaseToken: "x", now: t0).timedOut(now: t0)
        #expect(long.maxSeconds == QueueTask.maxLeaseSeconds) // growth stops at 7 days
    }

    @Test("requeue resets retries, keeps created, delay and error")
    func requeue() {
        var task = TaskFactory.task(created: t0, retries: 0)
        task.status = .failed
        task.delay = 5
        task.errorMessage = "boom"
        let requeued = task.requeued(maxRetries: 3)
        #expect(requeued.status == .queued && requeued.retries == 3)
        #expect(requeued.created == t0 && requeued.delay == 5 && requeued.errorMessage == "boom")
    }

    @Test("ordering: top-priority list, then created + 300 x priority, then context uid")
    func ordering() {
        let top = QueueSettings.defaultTopPriorityTasks
        let early = TaskFactory.task("task_generic_action", context: "WS-1", created: t0, priority: 10)
        let urgentLater = TaskFactory.task("task_generic_action", context: "WS-2", created: t0 + 200, priority: 9)
        let topListed = TaskFactory.task("task_action_verify", context: "WS-3", created: t0 + 10_000, priority: 50)
        let unassign = TaskFactory.task("task_action_unassign", context: "WS-4", created: t0 + 20_000, priority: 50)
        var generic = TaskFactory.task("task_generic_action", context: "WS-5", created: t0 + 30_000, priority: 50)
        generic.action = "task_action_submit" // matched by action
        let all = [early, urgentLater, topListed, unassign, generic]
        let sorted = all.sorted { TaskOrdering.precedes($0, $1, topPriority: top) }
        #expect(sorted.map(\.contextPath.last) == ["4", "5", "3", "2", "1"].map(Character.init))
        // Same sort key: context uid breaks the tie.
        let a = TaskFactory.task(context: "A", contextUID: String(repeating: "a", count: 32), created: t0)
        let b = TaskFactory.task(context: "B", contextUID: String(repeating: "b", count: 32), created: t0)
        #expect(TaskOrdering.precedes(a, b, topPriority: []))
        #expect(!TaskOrdering.precedes(b, a, topPriority: []))
    }

    @Test("path key is the third path segment", arguments: [
        ("/senaite/worksheets/WS-001", "WS-001"),
        ("/senaite/clients/client-1/W-0001", "client-1"),
        ("/senaite/clients", ""),
        ("/senaite", ""),
        ("", ""),
        ("/", ""),
        ("//a/b", "b"),
        ("senaite/clients/client-1", "client-1"),
        ("/senaite/worksheets/", ""),
        ("/a/b/\u{301}c/d", "d"),  // "/" and a combining accent are one character, not a separator
        ("/a/b//c", ""),
    ])
    func pathKey(path: String, key: String) {
        let task = QueueTask(name: "x", contextUID: "u", contextPath: path, created: 0, username: "u")
        #expect(task.pathKey == key)
    }

    @Test("path key: the scan agrees with splitting the path on every path of up to 6 characters from / a é and a combining accent")
    func pathKeyMatchesSplitting() {
        // Reference 1.2 step 4 as written: split on "/", drop a leading empty segment, take segments[2].
        func splitKey(_ path: String) -> String {
            let parts = path.split(separator: "/", omittingEmptySubsequences: false)
            let segments = parts.first == "" ? Array(parts.dropFirst()) : Array(parts)
            return segments.count >= 3 ? String(segments[2]) : ""
        }
        let alphabet = ["/", "a", "é", "\u{301}"]
        var paths = [""]
        var frontier = [""]
        for _ in 0..<6 {
            frontier = frontier.flatMap { prefix in alphabet.map { prefix + $0 } }
            paths += frontier
        }
        var mismatches: [String] = []
        for path in paths {
            let task = QueueTask(name: "x", contextUID: "u", contextPath: path, created: 0, username: "u")
            if task.pathKey != splitKey(path) { mismatches.append(path) }
        }
        #expect(paths.count == 5461)
        #expect(mismatches.isEmpty)
    }

    @Test("claim gate: a consumer that still runs a task is answered nothing; stale ones (> 10 s) are purged")
    func gate() {
        let running = [
            ClaimRules.RunningTask(taskUID: "a", name: "n", pathKey: "WS-1", started: t0, maxSeconds: 120, consumerID: "c-01"),
        ]
        #expect(ClaimRules.gate(running: running, consumerID: "c-01", maxConcurrent: 4, now: t0 + 5) == .consumerBusy(purge: []))
        #expect(ClaimRules.gate(running: running, consumerID: "c-01", maxConcurrent: 4, now: t0 + 11) == .consumerBusy(purge: ["a"]))
        #expect(ClaimRules.gate(running: running, consumerID: "c-02", maxConcurrent: 1, now: t0) == .saturated)
        #expect(ClaimRules.gate(running: running, consumerID: "c-02", maxConcurrent: 2, now: t0) == .open)
    }

    @Test("claimable: delay respected; same name on same context blocked; other name or context allowed")
    func claimable() {
        let keys: Set<ClaimRules.SerialKey> = [.init(name: "submit", pathKey: "WS-1")]
        let delayed = ClaimRules.Candidate(taskUID: "d", name: "x", pathKey: "WS-9", availableAt: t0 + 5)
        let blocked = ClaimRules.Candidate(taskUID: "b", name: "submit", pathKey: "WS-1", availableAt: t0)
        let otherName = ClaimRules.Candidate(taskUID: "o", name: "verify", pathKey: "WS-1", availableAt: t0)
        #expect(ClaimRules.firstClaimable([delayed, blocked, otherName], runningKeys: keys, now: t0)?.taskUID == "o")
        #expect(ClaimRules.firstClaimable([delayed, blocked], runningKeys: keys, now: t0) == nil)
        #expect(ClaimRules.firstClaimable([delayed, blocked], runningKeys: keys, now: t0 + 5)?.taskUID == "d")
        let rootless = ClaimRules.Candidate(taskUID: "r", name: "submit", pathKey: "", availableAt: t0)
        #expect(ClaimRules.firstClaimable([rootless], runningKeys: [.init(name: "submit", pathKey: "")], now: t0)?.taskUID == "r")
    }

    @Test("expired leases: started + max_seconds < now")
    func leases() {
        let task = ClaimRules.RunningTask(taskUID: "a", name: "n", pathKey: "p", started: t0, maxSeconds: 120, consumerID: "c")
        #expect(ClaimRules.expiredLeases([task], now: t0 + 120).isEmpty)
        #expect(ClaimRules.expiredLeases([task], now: t0 + 121).map(\.taskUID) == ["a"])
    }

    @Test("wire: defaults from settings, flags, unknown keys kept, uid lowercased")
    func wireDefaults() throws {
        let uid = String(repeating: "AB", count: 16)
        let task = try QueueTask(wire: [
            "task_uid": .string(uid), "name": .string("task_assign_analyses"),
            "context_uid": .string("c"), "context_path": .string("/senaite/worksheets/WS-1"),
            "unique": .string("Yes"), "max_seconds": .int(10),
            "retries": .int(0), "slots": .array([.int(1), .string("")]), "custom": .object(["k": .bool(true)]),
        ], settings: settings, now: t0, defaultUsername: "labman")
        #expect(task.taskUID == uid.lowercased())
        #expect(task.unique && task.retries == 0)
        #expect(task.maxSeconds == 120 && task.minSeconds == 3)
        #expect(task.chunkSize == 10 && task.priority == 10 && task.username == "labman" && task.created == t0)
        #expect(task.extra["custom"] == .object(["k": .bool(true)]))
        #expect(task.wireDictionary["custom"] == .object(["k": .bool(true)]))
        #expect(try QueueTask(stored: task.wireDictionary) == task)
    }

    @Test("wire: each bad field is named", arguments: [
        (["context_uid": JSONValue.string("c"), "context_path": .string("/a/b/c")], "name"),
        (["name": .string("n"), "context_path": .string("/a/b/c")], "context_uid"),
        (["name": .string("n"), "context_uid": .string("c")], "context_path"),
        (["name": .int(3), "context_uid": .string("c"), "context_path": .string("/a/b/c")], "name"),
        (["name": .string("n"), "context_uid": .string("c"), "context_path": .string("/a/b/c"), "uids": .string("x")], "uids"),
        (["name": .string("n"), "context_uid": .string("c"), "context_path": .string("/a/b/c"), "priority": .string("high")], "priority"),
        (["name": .string("n"), "context_uid": .string("c"), "context_path": .string("/a/b/c"), "task_uid": .string("zz")], "task_uid"),
        (["name": .string("n"), "context_uid": .string("c"), "context_path": .string("/a/b/c"), "delay": .int(-3)], "delay"),
        // Text is read in decimal notation only (`Double("0x1p4")` is 16).
        (["name": .string("n"), "context_uid": .string("c"), "context_path": .string("/a/b/c"), "delay": .string("0x1p4")], "delay"),
        (["name": .string("n"), "context_uid": .string("c"), "context_path": .string("/a/b/c"), "delay": .string("nan")], "delay"),
        (["name": .string("n"), "context_uid": .string("c"), "context_path": .string("/a/b/c"), "created": .double(1e19)], "created"),
        (["name": .string("n"), "context_uid": .string("c"), "context_path": .string("/a/b/c"), "max_seconds": .int(100_000_000_000)], "max_seconds"),
        (["name": .string("n"), "context_uid": .string("c"), "context_path": .string("/a/b/c"), "min_seconds": .int(Int.max)], "min_seconds"),
        (["name": .string("n"), "context_uid": .string("c"), "context_path": .string("/a/b/c"), "priority": .int(Int.max)], "priority"),
        // Indexed fields over their byte limits (a PostgreSQL index entry holds about 2,700 bytes).
        (["name": .string("n"), "context_uid": .string("c"), "context_path": .string("/a/b/c"), "username": .string(String(repeating: "u", count: 20_000))], "username"),
        (["name": .string("n"), "context_uid": .string("c"), "context_path": .string("/a/b/c"), "username": .string(String(repeating: "é", count: 129))], "username"),
        (["name": .string("n"), "context_uid": .string(String(repeating: "c", count: 257)), "context_path": .string("/a/b/c")], "context_uid"),
        (["name": .string("n"), "context_uid": .string("c"), "context_path": .string("/a/b/" + String(repeating: "c", count: 1020))], "context_path"),
        (["name": .string("n"), "context_uid": .string("c"), "context_path": .string("/a/b/c"), "uids": .array([.string("ok"), .string(String(repeating: "x", count: 300))])], "uids"),
    ])
    func wireErrors(dict: [String: JSONValue], field: String) {
        #expect {
            _ = try QueueTask(wire: dict, settings: settings, now: t0, defaultUsername: "u")
        } throws: { error in
            guard let error = error as? QueueError else { return false }
            return error.code == .invalidTask && error.message.contains("'\(field)'")
        }
    }

    @Test("wire: `created` ahead of the server's clock is taken up to one year ahead (a delay; clocks differ), refused beyond")
    func createdAhead() throws {
        for ahead in [0.5, 3_600, QueueTask.maxDelaySeconds] {
            let dict: [String: JSONValue] = ["name": .string("n"), "context_uid": .string("c"), "context_path": .string("/a/b/c"),
                                             "created": .double(t0 + ahead)]
            let task = try QueueTask(wire: dict, settings: settings, now: t0, defaultUsername: "u")
            #expect(task.created == t0 + ahead && task.availableAt == t0 + ahead)
        }
        // Both together more than a year ahead (a tryout's created a year ahead and a year's delay): refused, naming
        // delay; a past created with a year's delay is due within the year and taken.
        for (ahead, delay, refused) in [(QueueTask.maxDelaySeconds - 5, QueueTask.maxDelaySeconds - 5, true), (3_600.0, QueueTask.maxDelaySeconds - 3_599, true),
                                        (-3_600.0, QueueTask.maxDelaySeconds, false), (3_600.0, QueueTask.maxDelaySeconds - 3_600, false)] {
            let dict: [String: JSONValue] = ["name": .string("n"), "context_uid": .string("c"), "context_path": .string("/a/b/c"),
                                             "created": .double(t0 + ahead), "delay": .double(delay)]
            let result = Result { try QueueTask(wire: dict, settings: settings, now: t0, defaultUsername: "u") }
            if refused {
                #expect(throws: QueueError.self) { try result.get() }
                if case .failure(let error as QueueError) = result { #expect(error.message.contains("'delay'")) }
            } else {
                #expect((try? result.get())?.availableAt == t0 + ahead + delay)
            }
        }
        // Further ahead than the longest delay it would never run (a tryout's `created` 1e11 stayed queued): refused.
        for ahead in [QueueTask.maxDelaySeconds + 1, 1e11 - t0] {
            let dict: [String: JSONValue] = ["name": .string("n"), "context_uid": .string("c"), "context_path": .string("/a/b/c"),
                                             "created": .double(t0 + ahead)]
            #expect {
                _ = try QueueTask(wire: dict, settings: settings, now: t0, defaultUsername: "u")
            } throws: { error in
                (error as? QueueError)?.code == .invalidTask && (error as? QueueError)?.message.contains("'created'") == true
            }
        }
    }

    @Test("settings: ranges enforced with the key named; lists parsed")
    func settingsRanges() throws {
        var settings = QueueSettings()
        try settings.set("default", to: "0")
        #expect(settings.chunkSize == 0)
        for (key, value) in [("default", "21"), ("max_retries", "-1"), ("min_seconds_task", "-1"),
                             ("max_seconds_unlock", "29"), ("max_consumers", "0"), ("history_days", "x"), ("server", "localhost"),
                             ("server", "http://x:1/ y"), ("server", "http://x:1/a\tb"), ("server", "http://x:1/\u{200B}y"),
                             ("server", "http://host:abc/senaite"), ("server", "http://host:0/senaite"), ("server", "http://host:65536/senaite"),
                             ("server", "http://host:/senaite"), ("server", "http://:8080/senaite"), ("server", "http://[::1/senaite")] {
            #expect(throws: QueueError.self) { try settings.set(key, to: value) }
            do { try settings.set(key, to: value) } catch let error as QueueError { #expect(error.message.contains(key)) }
        }
        try settings.set("top_priority_tasks", to: "a, b\nc")
        #expect(settings.topPriorityTasks == ["a", "b", "c"])
        #expect(throws: QueueError.self) { try settings.set("nope", to: "1") }
        for good in ["http://localhost:8080/senaite", "https://lims.example.org/senaite", "http://[::1]:8080/senaite",
                     "http://admin@10.0.0.5:80/senaite"] {
            try settings.set("server", to: good)
            #expect(settings.server == good)
        }
    }

    @Test("lease claim: empty claim needs a running task; a stale claim is refused as lost")
    func leaseClaim() throws {
        let running = TaskFactory.task(created: t0).claimed(by: "c-01", leaseToken: "tok", now: t0)
        try LeaseClaim.none.check(running)
        try LeaseClaim(consumerID: "c-01", leaseToken: "tok").check(running)
        #expect(throws: QueueError(.leaseLost, "Lease lost: task \(running.taskUID) is no longer held by this claim")) {
            try LeaseClaim(consumerID: "c-02").check(running)
        }
        #expect(throws: QueueError(.notRunning, "Task is not running")) {
            try LeaseClaim.none.check(TaskFactory.task(created: t0))
        }
    }

    @Test("continuation keeps every property but uid, status, error and claim; keeps created")
    func continuation() {
        var task = TaskFactory.task(created: t0, priority: 50).claimed(by: "c-01", leaseToken: "x", now: t0 + 1)
        task.ghost = true
        task.delay = 5
        task.errorMessage = "old"
        task.chunkSize = 3
        let next = task.continuation(uids: ["u1"])
        #expect(next.taskUID != task.taskUID && next.status == nil && next.errorMessage == nil && next.leaseToken == nil)
        #expect(next.created == t0 && next.priority == 50 && next.ghost && next.delay == 5 && next.chunkSize == 3)
        #expect(next.username == task.username && next.uids == ["u1"])
    }

    @Test("task uids are 32 lowercase hex and unique, across refills of the random buffer; a seeded generator gives its digits")
    func uids() {
        // More than one 4 KiB refill (256 uids each).
        let made = (0..<3000).map { _ in TaskUID.make() } + (0..<100).map { _ in RandomUIDGenerator().makeUID() }
        #expect(Set(made).count == 3100)
        #expect(made.allSatisfy { TaskUID.isValid($0) && $0 == $0.lowercased() })
        #expect(!TaskUID.isValid("dummy"))
        // Every hex digit shows up in every position over many uids (no stuck nibble).
        for position in [0, 15, 16, 31] {
            let digits = Set(made.map { $0.utf8[$0.utf8.index($0.utf8.startIndex, offsetBy: position)] })
            #expect(digits.count == 16, "position \(position)")
        }
        // Low nibble first, word by word: 0x0123456789abcdef then 0xfedcba9876543210.
        struct Fixed: RandomNumberGenerator {
            var words: [UInt64] = [0x0123_4567_89AB_CDEF, 0xFEDC_BA98_7654_3210]
            mutating func next() -> UInt64 { words.removeFirst() }
        }
        var fixed = Fixed()
        #expect(TaskUID.make(using: &fixed) == "fedcba98765432100123456789abcdef")
    }

    @Test("time-ordered uids: 12 hex digits of milliseconds, then 20 random; they sort by time, are unique and valid")
    func timeOrderedUIDs() {
        struct Fixed: RandomNumberGenerator {
            var words: [UInt64] = [0x0123_4567_89AB_CDEF, 0xFEDC_BA98_7654_3210]
            mutating func next() -> UInt64 { words.removeFirst() }
        }
        var fixed = Fixed()
        // 1,767,225,600.123 s = 1,767,225,600,123 ms = 0x019b_76da_a87b; then the first word's 16 digits, big end
        // first, and the second word's low 4.
        #expect(TaskUID.make(at: 1_767_225_600.123, using: &fixed) == "019b76daa87b" + "0123456789abcdef" + "3210")
        var zero = Fixed()
        #expect(TaskUID.make(at: -5, using: &zero).hasPrefix("000000000000"))
        var random = SeededRandom(seed: 7)
        var previous = ""
        for step in 0..<2_000 {
            let uid = TaskUID.make(at: 1_767_225_600 + Double(step) * 0.0015, using: &random)
            #expect(TaskUID.isValid(uid) && uid == uid.lowercased() && uid.utf8.count == 32)
            #expect(uid > previous, "\(previous) then \(uid)")
            previous = uid
        }
        // Within one millisecond they differ by their random part; made by the generator, each is unique.
        let made = (0..<3_000).map { _ in TimeOrderedUIDGenerator().makeUID() }
        #expect(Set(made).count == 3_000 && made.allSatisfy(TaskUID.isValid))
        // The time prefix is within a minute of the clock (signed: a uid made after `now` was read is ahead of it).
        func stampedNow(_ uid: String) -> Bool {
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            guard let stamped = Int64(uid.prefix(12), radix: 16) else { return false }
            return abs(now - stamped) < 60_000
        }
        #expect(stampedNow(made[0]))
        // A task's default uid and a continuation's are of this kind.
        let task = QueueTask(name: "noop", contextUID: "c", contextPath: "/c", created: 0, username: "labman")
        #expect(stampedNow(task.taskUID))
        #expect(stampedNow(task.continuation(uids: []).taskUID))
    }
}

@Suite("JSON text")
struct JSONTextTests {
    @Test("round trip of every kind of value, escapes and surrogate pairs")
    func roundTrip() throws {
        let value = JSONValue.object([
            "s": .string("a \"quoted\" \\ line\nnext\ttab \u{1} é 🧪"), "i": .int(-42), "d": .double(1767225600.5),
            "big": .double(1e300), "b": .bool(true), "n": .null, "a": .array([.int(1), .string(""), .object([:])]),
        ])
        #expect(try JSONValue.parse(value.jsonString) == value)
        #expect(try JSONValue.parse(#"{"x": "\ud83e\uddea \u00e9 \/"}"#) == .object(["x": .string("🧪 é /")]))
        #expect(try JSONValue.parse(" [1, 2.0, 3e2, -0] ") == .array([.int(1), .double(2), .double(300), .int(0)]))
        #expect(JSONValue.double(5).jsonString == "5.0")
    }

    @Test("numbers: integers up to Int's range are read exactly, larger ones kept as their text; integers written digit by digit")
    func numbers() throws {
        #expect(try JSONValue.parse("123456789012345678") == .int(123_456_789_012_345_678))
        #expect(try JSONValue.parse("-999999999999999999") == .int(-999_999_999_999_999_999))
        #expect(try JSONValue.parse("9223372036854775807") == .int(Int.max))
        #expect(try JSONValue.parse("-9223372036854775808") == .int(Int.min))
        #expect(try JSONValue.parse("92233720368547758070") == .verbatimNumber("92233720368547758070"))
        #expect(try JSONValue.parse("[0,-0,7,-7]") == .array([.int(0), .int(0), .int(7), .int(-7)]))
        for number in [0, 1, -1, 9, 10, -10, 1_767_225_600, Int.max, Int.min] {
            #expect(JSONValue.int(number).jsonString == String(number))
        }
    }

    /// Tryout finding (stop 37): `add` stored `"params": {"a": 1e400, "b": 12345678901234567890123}` as `null` and
    /// `1.2345678901234568e+22`, though extra fields are kept verbatim.
    @Test("numbers neither Int nor Double holds exactly are kept as written, read as the nearest Double, written back byte for byte")
    func verbatimNumbers() throws {
        for text in ["12345678901234567890123", "-92233720368547758090", "1e400", "-1.5E+999", "1e-400", "0.000e-400000", "2.5e-400"] {
            let value = try JSONValue.parse(text)
            if text == "0.000e-400000" {
                #expect(value == .double(0), "a zero stays a double zero")
                continue
            }
            #expect(value == .verbatimNumber(text))
            #expect(value.jsonString == text)
            #expect(value.intValue == nil)
        }
        #expect(try JSONValue.parse("1e400").doubleValue == .infinity)
        #expect(try JSONValue.parse("12345678901234567890123").doubleValue == 12345678901234567890123.0)
        let object = try JSONValue.parse(#"{"a": 1e400, "b": 12345678901234567890123, "c": 1.5, "d": 7}"#)
        #expect(object.jsonString == #"{"a":1e400,"b":12345678901234567890123,"c":1.5,"d":7}"#)
        #expect(try JSONValue.parse("1e300") == .double(1e300), "a number Double holds stays a double")
        // The text for people (a task's web page, `tasks --json`) writes them as sent too.
        let pretty = try JSONValue.parse(#"{"b": [1e400, {}], "a": 12345678901234567890123, "c": {"d": 1.5, "e": []}}"#).prettyJSONString
        #expect(pretty == """
            {
              "a": 12345678901234567890123,
              "b": [
                1e400,
                {}
              ],
              "c": {
                "d": 1.5,
                "e": []
              }
            }
            """)
        #expect(try JSONValue.parse(pretty) == JSONValue.parse(#"{"b": [1e400, {}], "a": 12345678901234567890123, "c": {"d": 1.5, "e": []}}"#))
    }

    @Test("strings: escapes anywhere in a string, invalid UTF-8 refused with or without escapes; a key given twice keeps its last value")
    func strings() throws {
        #expect(try JSONValue.parse(#""plain é""#) == .string("plain é"))
        #expect(try JSONValue.parse(#""before \n after \"q\"""#) == .string("before \n after \"q\""))
        #expect(try JSONValue.parse(#""\u00e9x""#) == .string("éx"))
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse([0x22, 0xC3, 0x28, 0x22]) }
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse([0x22, 0x5C, 0x6E, 0xFF, 0x22]) }
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse([0x22, 0x61, 0x0A, 0x22]) }
        #expect(try JSONValue.parse(#"{"a": 1, "b": 2, "a": 3}"#) == .object(["a": .int(3), "b": .int(2)]))
        #expect(JSONValue.object(["b": .string("x\"y"), "a": .string("plain"), "c": .null]).jsonString == #"{"a":"plain","b":"x\"y","c":null}"#)
    }

    @Test("an object whose keys differ only in Unicode normalization is refused at any depth, naming the key; equal bytes keep the last value")
    func keysDifferingOnlyInNormalization() throws {
        let composed = "caf\u{E9}", decomposed = "cafe\u{301}"
        #expect(composed == decomposed && Array(composed.utf8) != Array(decomposed.utf8))
        for text in [#"{"\#(composed)": 1, "\#(decomposed)": 2}"#,
                     #"{"x": [{"a": 1, "\#(decomposed)": 1, "\#(composed)": 2}]}"#,
                     #"{"caf\u00e9": 1, "cafe\u0301": 2}"#] {
            do {
                _ = try JSONValue.parse(text)
                Issue.record("accepted: \(text)")
            } catch let error as JSONValue.ParseError {
                #expect(error.reason.contains("Unicode normalization") && error.reason.contains("caf"), "\(error)")
                #expect(error.offset > 0 && error.offset < text.utf8.count)
            }
        }
        // The offset is the later key's opening quote.
        let third = #"{"a": 1, "\#(composed)": 1, "\#(decomposed)": 2}"#
        do {
            _ = try JSONValue.parse(third)
            Issue.record("accepted: \(third)")
        } catch let error as JSONValue.ParseError {
            let expected = third.utf8.count - 1 - (#""\#(decomposed)": 2"#.utf8.count)
            #expect(error.offset == expected, "\(error.offset) != \(expected)")
        }
        // Keys in Unicode's stream-safe format: 30 combining characters in a row pass, 31 are refused at the key, as is
        // a 100 KB run (whose canonical ordering used to cost seconds of CPU).
        let thirty = "e" + String(repeating: "\u{301}\u{327}", count: 15)
        #expect(try JSONValue.parse(#"{"\#(thirty)": 1}"#).objectValue?.count == 1)
        for key in [thirty + "\u{301}", "e" + String(repeating: "\u{301}\u{327}", count: 25_000)] {
            do {
                _ = try JSONValue.parse(#"{"x": 1, "\#(key)": 1}"#)
                Issue.record("accepted a key of \(key.unicodeScalars.count) scalars")
            } catch let error as JSONValue.ParseError {
                #expect(error.offset == 9 && error.reason.contains("combining characters"), "\(error)")
            }
        }
        // As a value, a long run is kept (values are not hashed while reading).
        #expect(try JSONValue.parse(#"{"x": "\#(thirty)\#(thirty)"}"#).objectValue?["x"]?.stringValue?.unicodeScalars.count == 62)
        // A long key is quoted at most 40 characters long.
        let long = String(repeating: "x", count: 5_000)
        do {
            _ = try JSONValue.parse(#"{"\#(long)\#(composed)": 1, "\#(long)\#(decomposed)": 2}"#)
            Issue.record("accepted a long pair")
        } catch let error as JSONValue.ParseError {
            #expect(error.reason.count < 300 && error.reason.contains("xxx\"..."), "\(error.reason)")
        }
        // The same bytes twice: the last value, as Python's json; distinct texts that are not equivalent stay apart.
        #expect(try JSONValue.parse(#"{"\#(decomposed)": 1, "\#(decomposed)": 2}"#) == .object([decomposed: .int(2)]))
        #expect(try JSONValue.parse(#"{"\#(composed)": 1, "cafe": 2}"#).objectValue?.count == 2)
    }

    @Test("strings are written escaped exactly where JSON requires it; object keys in String order, non-ASCII ones too")
    func writing() throws {
        // Reference: every byte of the string, with `"`, `\` and control characters escaped.
        func reference(_ text: String) -> String {
            var out = "\""
            for scalar in text.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
                default: out.unicodeScalars.append(scalar)
                }
            }
            return out + "\""
        }
        let samples = ["", "plain", "é 🧪 銅", "tab\there", "\u{1}", "quote \" and \\ slash", String(repeating: "x", count: 5_000),
                       String(repeating: "é", count: 300) + "\n", "e\u{301}", "/senaite/worksheets/WS-001"]
        for text in samples {
            #expect(JSONValue.string(text).jsonString == reference(text), "\(text.prefix(20))")
            // A bridged or substring-made copy writes the same.
            #expect(JSONValue.string(String(Substring(text))).jsonString == reference(text))
        }
        let keys = ["b", "a", "é", "e", "Z", "z", "ä", "a\u{308}b", "aa", "", "10", "9"]
        let object = JSONValue.object(Dictionary(uniqueKeysWithValues: keys.enumerated().map { ($1, JSONValue.int($0)) }))
        let expected = "{" + keys.sorted().map { key in reference(key) + ":" + String(keys.firstIndex(of: key)!) }.joined(separator: ",") + "}"
        #expect(object.jsonString == expected)
    }

    @Test("malformed text is refused", arguments: [
        "", "{", "[1,]", "{\"a\" 1}", "tru", "01", "1.", "\"\\x\"", "\"\\ud800\"", "[1] 2", "\"\u{1}\"", "nul",
        String(repeating: "[", count: 300) + String(repeating: "]", count: 300),
    ])
    func malformed(text: String) {
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse(text) }
    }
}

/// A new task's whole-number fields as a client sends them (``QueueTask/init(wire:settings:now:defaultUsername:uids:)``).
@Suite("Task wire fields: whole numbers")
struct WireNumberTests {
    @Test("a task's whole-number fields say why a value is refused: a string, a fraction, too large")
    func wholeNumberRefusals() throws {
        func refusal(_ value: String) -> String {
            do {
                let dict = try #require(try JSONValue.parse(#"{"name": "noop", "context_uid": "c", "context_path": "/c", "retries": "# + value + "}").objectValue)
                _ = try QueueTask(wire: dict, settings: QueueSettings(), now: 1_767_225_600, defaultUsername: "labman")
                return "accepted"
            } catch {
                return "\(error)"
            }
        }
        #expect(refusal(#""3""#).contains("a JSON number, not a string"))
        #expect(refusal("3.5").contains("not a fraction"))
        #expect(refusal("9223372036854775808").contains("at most 15 digits"))
        #expect(refusal("1e20").contains("at most 15 digits"))
        #expect(refusal("true").contains("must be a whole number"))
        #expect(refusal("3") == "accepted")
    }
}

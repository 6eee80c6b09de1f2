import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import QueueAuth
import QueueCore
import QueueServer
import TestSupport
import Testing

/// Regressions for what `scripts/api-fuzz` (schemathesis) and the new-user tryouts found in the queue API's input
/// handling, on the real store (SQLite, or PostgreSQL in the PostgreSQL pass): each case used to end in a 500 or
/// be taken silently, and must now be a 4xx naming the field or a bounded value.
@Suite("API input findings")
struct FuzzFindingsTests {
    func withServer(_ body: @escaping @Sendable (QueueAPIClient) async throws -> Void) async throws {
        try await StoreFixture.with { fixture in
            let key = Fernet.generateKey()
            let authenticator = QueueAuthenticator(key: { key }, clock: fixture.clock, userExists: { !$0.isEmpty })
            let controller = QueueServerController(store: fixture.store, authenticator: authenticator, clock: fixture.clock)
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            let app = Application(router: QueueServerApp.router(controller: controller), logger: logger)
            try await app.test(.router) { client in
                try await body(QueueAPIClient(client: client, key: key, clock: fixture.clock))
            }
        }
    }

    @Test("extreme integers are refused, never trapped: priority Int.min (abs overflowed and killed the process)")
    func extremeIntegers() async throws {
        try await withServer { api in
            let minimum = try await api.call("add", body: ["name": "noop", "context_uid": "c", "context_path": "/c",
                                                           "priority": .int(Int.min)])
            #expect(minimum.status == 406 && minimum.message.contains("priority"), "\(minimum.status) \(minimum.message)")
            let maximum = try await api.call("add", body: ["name": "noop", "context_uid": "c", "context_path": "/c",
                                                           "priority": .int(Int.max)])
            #expect(maximum.status == 406)
            #expect(try await api.call("tasks").json["count"] == .int(0))
        }
    }

    @Test("NUL characters in any field are refused 400 naming the field (SQLite's length() stops at NUL: name \"\\u{0}\" broke a CHECK)")
    func nulCharacters() async throws {
        try await withServer { api in
            let nulName = try await api.call("add", body: ["name": "\u{0}", "context_uid": "c", "context_path": "/c"])
            #expect(nulName.status == 400 && nulName.message.contains("'name'") && nulName.message.contains("NUL"))
            let nested = try await api.call("add", body: ["name": "noop", "context_uid": "c", "context_path": "/c",
                                                          "extra": ["deep": ["a\u{0}b"]]])
            #expect(nested.status == 400 && nested.message.contains("'extra'"))
            let list = try await api.call("add", body: [["name": "noop", "context_uid": "c", "context_path": "/c"],
                                                        ["name": "noop", "context_uid": "d\u{0}", "context_path": "/d"]])
            #expect(list.status == 400 && list.message.contains("'context_uid'"))
            let pop = try await api.call("pop", body: ["consumer_id": "cons\u{0}umer"])
            #expect(pop.status == 400 && pop.message.contains("'consumer_id'"))
            let search = try await api.call("search?uid=%00abc", method: .get)
            #expect(search.status == 400 && search.message.contains("'uid'"))
            let fail = try await api.call("fail", body: ["task_uid": .string(String(repeating: "a", count: 32)), "error_message": "x\u{0}"])
            #expect(fail.status == 400 && fail.message.contains("'error_message'"))
            // Nothing was added.
            #expect(try await api.call("tasks").json["count"] == .int(0))
        }
    }

    @Test("a body whose keys differ only in Unicode normalization is refused 400 naming the key and the byte, nothing added (one member used to be dropped silently)")
    func keysDifferingOnlyInNormalization() async throws {
        try await withServer { api in
            let body = #"{"name": "noop", "context_uid": "c", "context_path": "/c", "extra": {"caf\u00e9": "composed", "cafe\u0301": "decomposed"}}"#
            let refused = try await api.call("add", rawBody: body)
            #expect(refused.status == 400 && refused.json["success"] == .bool(false), "\(refused.status) \(refused.message)")
            #expect(refused.message.contains("caf") && refused.message.contains("Unicode normalization")
                    && refused.message.contains("at byte"), "\(refused.message)")
            #expect(try await api.call("tasks").json["count"] == .int(0))
            // Malformed text names the byte and the reason.
            let malformed = try await api.call("add", rawBody: #"{"name" "noop"}"#)
            #expect(malformed.status == 400 && malformed.message.contains("at byte 8") && malformed.message.contains("expected ':'"),
                    "\(malformed.message)")
            // A key with a long run of combining characters (seconds of CPU to hash): 400 at the key, nothing added;
            // the same as a query parameter's name.
            let heavy = "e" + String(repeating: "\u{301}\u{327}", count: 20_000)
            let refusedKey = try await api.call("add", rawBody: #"{"name": "noop", "context_uid": "c", "context_path": "/c", "\#(heavy)": 1}"#)
            #expect(refusedKey.status == 400 && refusedKey.message.contains("combining characters") && refusedKey.message.contains("at byte 59"),
                    "\(refusedKey.status) \(refusedKey.message.prefix(300))")
            // (Hummingbird does not percent-decode query names, so only raw bytes in the request target can carry one.)
            #expect(throws: QueueAPIError.self) { try RequestPayload.queryName(Substring(heavy)) }
            #expect(try RequestPayload.queryName("status") == "status")
            #expect(try await api.call("tasks").json["count"] == .int(0))
            // One form alone is kept as sent.
            let kept = try await api.call("add", rawBody: #"{"name": "noop", "context_uid": "c", "context_path": "/c", "extra": {"cafe\u0301": "d"}}"#)
            #expect(kept.status == 200 && kept.json["count"] == .int(1), "\(kept.message)")
        }
    }

    @Test("a task name's length is counted in Unicode scalars, as the databases count it: 150 letters with combining accents are 300 > 200")
    func nameLengthInScalars() async throws {
        try await withServer { api in
            let accented = String(repeating: "e\u{301}", count: 150)
            #expect(accented.count == 150 && accented.unicodeScalars.count == 300)
            let refused = try await api.call("add", body: ["name": .string(accented), "context_uid": "c", "context_path": "/c"])
            #expect(refused.status == 406 && refused.message.contains("'name'"))
            let fits = String(repeating: "e\u{301}", count: 100)
            let added = try await api.call("add", body: ["name": .string(fits), "context_uid": "c", "context_path": "/c"])
            #expect(added.status == 200 && added.json["count"] == .int(1))
        }
    }

    @Test("a consumer_id longer than 256 characters is refused 400 naming it, on pop, done and batched pop (a 3 MB id filled the monitor)")
    func longConsumerID() async throws {
        try await withServer { api in
            let long = JSONValue.string(String(repeating: "c", count: 257))
            _ = try await api.call("add", body: ["name": "noop", "context_uid": "c", "context_path": "/c", "min_seconds": 0])
            for (route, body) in [("pop", ["consumer_id": long] as JSONValue), ("pop", ["consumer_id": long, "max": 4]),
                                  ("done", ["task_uid": .string(String(repeating: "a", count: 32)), "consumer_id": long])] {
                let answer = try await api.call(route, body: body)
                #expect(answer.status == 400 && answer.message.contains("'consumer_id'"), "\(route): \(answer.status) \(answer.message)")
            }
            // Nothing was claimed; an id of 256 characters works.
            let fits = try await api.call("pop", body: ["consumer_id": .string(String(repeating: "c", count: 256))])
            #expect(fits.status == 200 && fits.json["name"] == "noop")
        }
    }

    @Test("fail's retry is read strictly: \"false\" fails the task now, an unreadable value is refused and changes nothing")
    func failRetryStrict() async throws {
        try await withServer { api in
            _ = try await api.call("add", body: ["name": "noop", "context_uid": "c", "context_path": "/c", "min_seconds": 0, "retries": 3])
            let popped = try await api.call("pop", body: ["consumer_id": "cons1"])
            let uid = try #require(popped.json["task_uid"])
            let lease = try #require(popped.json["lease_token"])
            let refused = try await api.call("fail", body: ["task_uid": uid, "lease_token": lease, "retry": "maybe"])
            #expect(refused.status == 400 && refused.message.contains("'retry'"))
            #expect(try await api.call("\(uid.stringValue ?? "")", method: .get).json["status"] == "running")
            let failed = try await api.call("fail", body: ["task_uid": uid, "lease_token": lease, "retry": "false"])
            #expect(failed.status == 200)
            let task = try await api.call("\(uid.stringValue ?? "")", method: .get)
            #expect(task.json["status"] == "failed" && task.json["retries"] == .int(3))
        }
    }

    @Test("batched fail reads retry per item (default: the request's retry, else true), strictly; an unreadable one refuses the whole report")
    func batchedFailRetry() async throws {
        try await withServer { api in
            for index in 0..<3 {
                _ = try await api.call("add", body: ["name": "noop", "context_uid": .string("c\(index)"), "context_path": .string("/c/\(index)"),
                                                     "min_seconds": 0, "retries": 3])
            }
            let claimed = try await api.call("pop", body: ["consumer_id": "cons1", "max": 3]).json["tasks"]?.arrayValue?.compactMap(\.objectValue) ?? []
            try #require(claimed.count == 3)
            func item(_ task: [String: JSONValue], _ retry: JSONValue?) -> JSONValue {
                var item: [String: JSONValue] = ["task_uid": task["task_uid"]!, "lease_token": task["lease_token"]!, "error_message": "boom"]
                if let retry { item["retry"] = retry }
                return .object(item)
            }
            let garbage = try await api.call("fail", body: ["consumer_id": "cons1", "tasks": [item(claimed[0], "maybe")]])
            #expect(garbage.status == 400 && garbage.message.contains("'tasks[0].retry'"))
            let topGarbage = try await api.call("fail", body: ["consumer_id": "cons1", "retry": "maybe", "tasks": [item(claimed[0], nil)]])
            #expect(topGarbage.status == 400 && topGarbage.message.contains("'retry'"))
            var noMessage = item(claimed[2], nil).objectValue ?? [:]
            noMessage["error_message"] = nil
            let answer = try await api.call("fail", body: ["consumer_id": "cons1", "retry": false, "error_message": "request-level",
                                                           "tasks": [item(claimed[0], false), item(claimed[1], true), .object(noMessage)]])
            #expect(answer.status == 200 && answer.json["failed"]?.arrayValue?.count == 3, "\(answer.json)")
            var statuses: [String] = []
            for task in claimed {
                let stored = try await api.call(task["task_uid"]?.stringValue ?? "", method: .get).json
                statuses.append("\(stored["status"]?.stringValue ?? "-") \(stored["retries"]?.intValue ?? -1)")
            }
            #expect(statuses == ["failed 3", "queued 2", "failed 3"], "\(statuses)")
            // The request's error_message is every item's default; a mistyped one is refused.
            let message = try await api.call(claimed[2]["task_uid"]?.stringValue ?? "", method: .get).json["error_message"]
            #expect(message == "request-level")
            let badMessage = try await api.call("fail", body: ["consumer_id": "cons1", "error_message": 5, "tasks": [item(claimed[1], nil)]])
            #expect(badMessage.status == 400 && badMessage.message.contains("'error_message'"))
        }
    }

    @Test("unique and ghost must be flags: a list or an object is refused 406 naming the field; strings read as senaite.queue reads them")
    func flagTypes() async throws {
        try await withServer { api in
            for field in ["unique", "ghost"] {
                for value: JSONValue in [["yes"], ["a": true]] {
                    let answer = try await api.call("add", body: .object(["name": "noop", "context_uid": "c", "context_path": "/c", field: value]))
                    #expect(answer.status == 406 && answer.message.contains("'\(field)'"), "\(field) \(value): \(answer.status) \(answer.message)")
                }
            }
            #expect(try await api.call("tasks").json["count"] == .int(0))
            let added = try await api.call("add", body: ["name": "noop", "context_uid": "c", "context_path": "/c", "unique": "Yes", "delay": 60])
            let uid = try #require(added.items.first?["task_uid"]?.stringValue)
            #expect(try await api.call("\(uid)", method: .get).json["unique"] == true)
        }
    }

    @Test("an added task's error_message is cut to 4,000 characters, as fail cuts it")
    func addErrorMessageBounded() async throws {
        try await withServer { api in
            let added = try await api.call("add", body: ["name": "noop", "context_uid": "c", "context_path": "/c", "delay": 60,
                                                         "error_message": .string(String(repeating: "e", count: 100_000))])
            let uid = try #require(added.items.first?["task_uid"]?.stringValue)
            let stored = try await api.call("\(uid)", method: .get).json["error_message"]?.stringValue
            #expect(stored?.count == 4_000)
        }
    }

    @Test("the lease token is only in the claim's answer: a task's page, listings and search leave it out, so only the consumer can finish it")
    func leaseTokenOnlyToClaimer() async throws {
        try await withServer { api in
            _ = try await api.call("add", body: ["name": "noop", "context_uid": "c", "context_path": "/c", "min_seconds": 0])
            let popped = try await api.call("pop", body: ["consumer_id": "cons1"])
            let uid = try #require(popped.json["task_uid"]?.stringValue)
            #expect(popped.json["lease_token"]?.stringValue?.isEmpty == false)
            let page = try await api.call("\(uid)", method: .get)
            #expect(page.json["status"] == "running" && page.json["consumer_id"] == "cons1" && page.json["lease_token"] == nil)
            for route in ["tasks?complete=1", "search?uid=c&complete=1"] {
                let listed = try await api.call(route, method: .get)
                #expect(listed.items.count == 1 && listed.items.allSatisfy { $0["lease_token"] == nil }, "\(route)")
            }
        }
    }

    @Test("add with one uid listed twice, with different contents, lists the added task once")
    func addSameUIDTwice() async throws {
        try await withServer { api in
            let uid = JSONValue.string(String(repeating: "b", count: 32))
            let answer = try await api.call("add", body: [["task_uid": uid, "name": "first", "context_uid": "c", "context_path": "/c", "delay": 60],
                                                          ["task_uid": uid, "name": "second", "context_uid": "d", "context_path": "/d", "delay": 60]])
            #expect(answer.status == 200 && answer.json["count"] == .int(1))
            #expect(answer.items.map { $0["name"] } == ["first"])
            #expect(answer.json["outcomes"]?.objectValue?.count == 1)
            let stored = try await api.call("\(uid.stringValue ?? "")", method: .get)
            #expect(stored.json["name"] == "first")
        }
    }

    /// A new user's tryout (stop 37, findings 2-5): numbers in extra fields changed silently, `wait` 1e400 refused though
    /// README says it is clamped, and two refusals that did not say what was wrong.
    @Test("extra fields keep numbers Int and Double cannot hold as sent; pop's wait beyond a double's range is clamped; a consumer id that is not a string and an add of {tasks: [...]} are named")
    func tryoutNumbersAndShapes() async throws {
        try await withServer { api in
            let added = try await api.call("add", rawBody: #"{"name": "noop", "context_uid": "c", "context_path": "/c", "delay": 60, "params": {"a": 1e400, "b": 12345678901234567890123, "c": 1.5}}"#)
            #expect(added.status == 200, "\(added.message)")
            let uid = try #require(added.items.first?["task_uid"]?.stringValue)
            let page = try await api.call(uid, method: .get)
            #expect(page.json["params"] == .object(["a": .verbatimNumber("1e400"), "b": .verbatimNumber("12345678901234567890123"), "c": .double(1.5)]),
                    "\(String(describing: page.json["params"]))")
            // Below the range's end: its end (no wait); the upper end is the same rule (a unit check, no 30 s wait here).
            let clamped = try await api.call("pop", body: ["consumer_id": "cons1", "wait": .verbatimNumber("-1e400")])
            #expect(clamped.status == 200 && clamped.json.isEmpty, "\(clamped.status) \(clamped.message)")
            #expect(try RequestPayload(fields: ["wait": .verbatimNumber("1e400")]).number("wait", clampedTo: 0...30) == 30)
            #expect(try RequestPayload(fields: ["wait": .int(-5)]).number("wait", clampedTo: 0...30) == 0)
            #expect(throws: QueueAPIError.self) { try RequestPayload(fields: ["wait": "soon"]).number("wait", clampedTo: 0...30) }
            // As a form sends it (text): the same clamp (the second tryout).
            #expect(try RequestPayload(fields: ["wait": "1e400"]).number("wait", clampedTo: 0...30) == 30)
            #expect(try RequestPayload(fields: ["wait": "-1e400"]).number("wait", clampedTo: 0...30) == 0)
            #expect(throws: QueueAPIError.self) { try RequestPayload(fields: ["wait": "1e400x"]).number("wait", clampedTo: 0...30) }
            let numericID = try await api.call("pop", body: ["consumer_id": 123])
            #expect(numericID.status == 428 && numericID.message.contains("'consumer_id' must be a string"), "\(numericID.message)")
            let wrapped = try await api.call("add", body: ["tasks": [["name": "noop", "context_uid": "d", "context_path": "/d"]]])
            #expect(wrapped.status == 406 && wrapped.message.contains("not a 'tasks' field"), "\(wrapped.message)")
            #expect(try await api.call("tasks").json["count"] == .int(1), "only the first task was added")
        }
    }
}

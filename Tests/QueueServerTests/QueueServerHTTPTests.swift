import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Consumer
import Logging
import NIOCore
import NIOPosix
import QueueAuth
import QueueCore
import QueueServer
import QueueTesting
import Synchronization
import TestSupport
import Testing

/// Every queue_server route over real HTTP (a live server on loopback) on the real SQLite store.
///
/// The long-poll tests' time limits (3 minutes) only end a test that hangs (a long-poll never woken); they measure
/// nothing. With 1 minute, 2-3 of them failed in a full run's PostgreSQL pass on a loaded 2-core machine (every
/// suite in parallel, each creating databases), passing alone in 8-10 s.
@Suite("Queue server over HTTP")
struct QueueServerHTTPTests {
    /// Runs `body` against a live server on a fresh store.
    func withServer(_ body: @escaping @Sendable (QueueAPIClient, StoreFixture) async throws -> Void) async throws {
        try await withServer { api, fixture, _ in try await body(api, fixture) }
    }

    /// ``withServer(_:)`` with the server's controller (its long-poll gate and client connections).
    func withServer(_ body: @escaping @Sendable (QueueAPIClient, StoreFixture, QueueServerController) async throws -> Void) async throws {
        try await StoreFixture.with { fixture in
            let key = Fernet.generateKey()
            let clock = fixture.clock
            let authenticator = QueueAuthenticator(key: { key }, clock: clock, userExists: { $0 != "ghost-user" })
            let controller = QueueServerController(store: fixture.store, authenticator: authenticator, clock: clock)
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            let app = QueueServerApp.build(controller: controller, host: "127.0.0.1", port: 0, logger: logger)
            try await app.test(.live) { client in
                try await body(QueueAPIClient(client: client, key: key, clock: clock), fixture, controller)
            }
        }
    }

    @Test("version is public; every queue_server route needs a valid token (401)")
    func auth() async throws {
        try await withServer { api, _ in
            let version = try await api.call("/@@API/senaite/v1/version", method: .get, token: .some(nil))
            #expect(version.status == 200 && version.json["version"] != nil)
            #expect(try await api.call("tasks", method: .get, token: .some(nil)).status == 401)
            let expired = try api.token(now: api.clock.now() - 30)
            #expect(try await api.call("tasks", token: expired).status == 401)
            let wrongKey = try api.token(key: Fernet.generateKey())
            #expect(try await api.call("tasks", token: wrongKey).status == 401)
            var tampered = Array(try api.token())
            tampered[40] = tampered[40] == "A" ? "B" : "A"
            #expect(try await api.call("tasks", token: String(tampered)).status == 401)
            #expect(try await api.call("tasks", token: "garbage").status == 401)
            let unknownUser = try api.token(user: "ghost-user")
            let refused = try await api.call("tasks", token: unknownUser)
            #expect(refused.status == 401)
            #expect(refused.json["success"] == .bool(false))
            #expect(refused.message.hasPrefix("Unauthorized - "))
            #expect(try await api.call("tasks", token: try api.token(user: "lab:man")).status == 200)
            // The site-path prefix works too.
            #expect(try await api.call("/senaite/@@API/senaite/v1/queue_server/tasks").status == 200)
        }
    }

    @Test("add, tasks, uids, search, get: fields and summaries as senaite.queue answers them")
    func readRoutes() async throws {
        try await withServer { api, f in
            let sample = TaskFactory.uid(for: "sample")
            let task = TaskFactory.task(created: f.now, uids: [sample])
            var ghost = TaskFactory.task("task_reindex_object_security", context: "client-1", created: f.now)
            ghost.ghost = true
            let added = try await api.add([task, ghost])
            #expect(added.status == 200 && added.json["count"] == .int(2))
            let first = try #require(added.items.first)
            #expect(Set(first.keys) == ["task_uid", "name", "priority", "status", "created", "retries", "username", "task_url"])
            #expect(first["status"] == .string("queued"))
            #expect(first["task_url"]?.stringValue?.hasSuffix("/@@API/senaite/v1/queue_server/\(task.taskUID)") == true)
            #expect(added.json["outcomes"]?.objectValue?[task.taskUID] == .string("added"))
            // Adding the same task again is accepted on the wire but ignored.
            let again = try await api.add([task])
            #expect(again.status == 200 && again.json["outcomes"]?.objectValue?[task.taskUID] == .string("duplicate"))
            // A new uid listed twice in one add: added once, and its one outcome says so.
            let twice = TaskFactory.task(context: "WS-0009", created: f.now)
            let both = try await api.add([twice, twice])
            #expect(both.status == 200 && both.json["outcomes"]?.objectValue?[twice.taskUID] == .string("added"))
            #expect(try await f.store.task(twice.taskUID)?.status == .queued)
            _ = try await f.store.delete(twice.taskUID, now: f.now)

            let listed = try await api.call("tasks", method: .get)
            #expect(listed.json["count"] == .int(1)) // ghost hidden
            #expect(listed.json["since_time"]?.doubleValue == f.now)
            #expect(listed.json["url"]?.stringValue?.hasSuffix("/queue_server/tasks") == true)
            #expect(listed.json["zeo"] == .string(""))
            let withGhosts = try await api.call("tasks", body: .object(["status": .array([.string("queued"), .string("ghost")]),
                                                                        "complete": .bool(true), "__zeo": .string("http://zeo1:8080/x")]))
            #expect(withGhosts.json["count"] == .int(2))
            #expect(withGhosts.json["zeo"] == .string("http://zeo1:8080"))
            #expect(withGhosts.items.first?["context_path"] != nil)
            #expect(try await api.call("tasks/running", method: .get).json["count"] == .int(0))
            #expect(try await api.call("tasks/failed", method: .get).json["count"] == .int(0))
            #expect(try await api.call("tasks/bogus", method: .get).status == 400)
            #expect(try await api.call("tasks", body: .object(["since": .double(f.now)])).json["count"] == .int(0))

            let uids = try await api.call("uids", method: .get)
            #expect(Set(uids.json["items"]?.arrayValue ?? []) == Set([sample, task.contextUID, ghost.contextUID].map(JSONValue.string)))

            let found = try await api.call("search", body: .object(["uid": .string(sample)]))
            #expect(found.json["count"] == .int(1))
            #expect(try await api.call("search", body: .object(["uid": .string(sample), "name": .string("nope")])).json["count"] == .int(0))
            #expect(try await api.call("search", body: .object([:])).status == 400)

            let got = try await api.call(task.taskUID, method: .get)
            #expect(got.status == 200 && got.json["task_uid"] == .string(task.taskUID) && got.json["uids"] == .array([.string(sample)]))
            #expect(try await api.call(TaskUID.make(), method: .get).status == 404)
            let badUID = try await api.call("dummy", method: .get)
            #expect(badUID.status == 412 && badUID.message == "Precondition Failed - Task uid empty or no valid format")
        }
    }

    @Test("diff: server tasks the client lacks, every running task, and the client's stale uids")
    func diff() async throws {
        try await withServer { api, f in
            let known = TaskFactory.task(context: "WS-1", created: f.now)
            let other = TaskFactory.task(context: "WS-2", created: f.now + 1)
            _ = try await api.add([known, other])
            let stale = TaskUID.make()
            let answer = try await api.call("diff", body: .object([
                "uids": .array([.string(known.taskUID), .string(stale), .string("dummy")]),
                "status": .array([.string("queued"), .string("running")]), "complete": .bool(true),
            ]))
            #expect(answer.items.compactMap { $0["task_uid"]?.stringValue } == [other.taskUID])
            #expect(answer.json["stale"] == .array([.string(stale)]))
            #expect(answer.json["unknown"] == .array([]))
            _ = try await api.pop()
            let running = try await api.call("diff", body: .object(["uids": .array([.string(known.taskUID), .string(other.taskUID)])]))
            #expect(running.items.compactMap { $0["task_uid"]?.stringValue } == [known.taskUID]) // running, always sent
        }
    }

    @Test("diff of a client that knows most of the queue: only the rest and the running tasks, in queue order")
    func diffKnowingMost() async throws {
        try await withServer { api, f in
            // 3 of 20 listed: the lookups by uid, not the read of the whole queue.
            let tasks = (0..<20).map { TaskFactory.task(context: "WS-\($0)", created: f.now + Double($0)) }
            _ = try await api.add(tasks)
            let running = try await api.pop()
            #expect(running.json["task_uid"]?.stringValue == tasks[0].taskUID)
            let lacked = [tasks[4], tasks[9]]
            let known = tasks.filter { task in !lacked.contains { $0.taskUID == task.taskUID } }.map { JSONValue.string($0.taskUID) }
            let answer = try await api.call("diff", body: .object([
                "uids": .array(known), "status": .array([.string("queued"), .string("running")]), "complete": .bool(true),
            ]))
            // The running task first (queue order puts it there: the oldest), then the two the client lacks.
            let expected = [tasks[0].taskUID, tasks[4].taskUID, tasks[9].taskUID]
            #expect(answer.items.compactMap { $0["task_uid"]?.stringValue } == expected)
            #expect(answer.items.first?["status"]?.stringValue == "running")
            #expect(answer.json["stale"] == .array([]))
        }
    }

    @Test("pop, done, fail, timeout, requeue, delete: success answers and error codes")
    func lifecycle() async throws {
        try await withServer { api, f in
            let task = TaskFactory.task(created: f.now)
            _ = try await api.add([task])
            let short = try await api.pop("abc")
            #expect(short.status == 428 && short.message == "Precondition Required - No valid consumer id")
            #expect(try await api.call("pop", body: .object([:])).status == 428)
            let popped = try await api.pop("http://nohost")
            #expect(popped.status == 200 && popped.json["status"] == .string("running"))
            #expect(popped.json["consumer_id"] == .string("http://nohost") && popped.json["task_url"] != nil)
            let lease = try #require(popped.json["lease_token"]?.stringValue)
            #expect(try await api.pop("http://other").json.isEmpty) // same context and name: serialized

            let timedOut = try await api.report("timeout", task.taskUID)
            #expect(timedOut.status == 200 && timedOut.message == task.taskUID)
            #expect(timedOut.json["task"]?.objectValue?["status"] == .string("queued"))
            let notRunning = try await api.report("done", task.taskUID)
            #expect(notRunning.status == 412 && notRunning.message == "Precondition Failed - Task is not running")
            let stale = try await api.report("done", task.taskUID, extra: ["lease_token": .string(lease)])
            #expect(stale.status == 409 && stale.message.hasPrefix("Conflict - Lease lost"))
            #expect(try await api.report("fail", task.taskUID).status == 412)
            #expect(try await api.report("done", TaskUID.make()).status == 404)
            #expect(try await api.report("done", "123").status == 412)
            #expect(try await api.call("done", body: .object([:])).status == 412)

            f.clock.advance(by: 5)
            let again = try await api.pop("http://nohost")
            #expect(again.json["max_seconds"] == .int(180) && again.json["error_message"] == .string("Timeout"))
            let failed = try await api.report("fail", task.taskUID, extra: ["error_message": .string("ValueError: boom")])
            #expect(failed.status == 200 && failed.message == "Task failed: \(task.taskUID)")
            #expect(try await api.call(task.taskUID).json["error_message"] == .string("ValueError: boom"))

            // Requeue keeps `created` (a fail with retries left set it to the fail's time, as senaite.queue's does).
            let createdBefore = try #require(try await api.call(task.taskUID).json["created"]?.doubleValue)
            f.clock.advance(by: 7)
            let requeued = try await api.call("requeue/\(task.taskUID)", method: .get)
            #expect(requeued.status == 200 && requeued.message == "Task re-queued: \(task.taskUID)")
            #expect(try await api.call(task.taskUID).json["created"]?.doubleValue == createdBefore)
            #expect(try await api.report("requeue", task.taskUID).status == 200)
            #expect(try await api.report("requeue", TaskUID.make()).status == 404)

            f.clock.advance(by: 5)
            let third = try await api.pop("consumer-9")
            let fresh = try #require(third.json["lease_token"]?.stringValue)
            let done = try await api.report("done", task.taskUID, extra: ["consumer_id": .string("consumer-9"), "lease_token": .string(fresh)])
            #expect(done.status == 200 && done.message == "Task done: \(task.taskUID)")
            #expect(try await api.call(task.taskUID).status == 404)

            // done with pop: true answers the consumer's next task in the same round trip.
            let a = TaskFactory.task(context: "WS-8", created: f.now - 2), b = TaskFactory.task(context: "WS-9", created: f.now - 1)
            _ = try await api.add([a, b])
            let claimedA = try await api.pop("consumer-9")
            let chained = try await api.report("done", a.taskUID, extra: [
                "consumer_id": .string("consumer-9"), "lease_token": claimedA.json["lease_token"]!, "pop": .bool(true),
            ])
            #expect(chained.status == 200 && chained.json["next"]?.objectValue?["task_uid"] == .string(b.taskUID))
            let claimedB = chained.json["next"]!.objectValue!
            let last = try await api.report("done", b.taskUID, extra: [
                "consumer_id": .string("consumer-9"), "lease_token": claimedB["lease_token"]!, "pop": .bool(true),
            ])
            #expect(last.status == 200 && last.json["next"] == .object([:]))
            #expect(try await api.report("done", b.taskUID, extra: ["pop": .bool(true)]).status == 428) // pop needs a consumer id

            let doomed = TaskFactory.task(context: "WS-7", created: f.now)
            _ = try await api.add([doomed])
            let deleted = try await api.report("delete", doomed.taskUID)
            #expect(deleted.status == 200 && deleted.message == "Task deleted: \(doomed.taskUID)")
            #expect(try await api.report("delete", doomed.taskUID).status == 404)
        }
    }

    @Test("action, slots, top_uid and delay sent as null come back as null (senaite.queue keeps them verbatim); absent ones stay absent")
    func nullExtrasKept() async throws {
        try await withServer { api, f in
            let uid = TaskUID.make(), plain = TaskUID.make()
            let added = try await api.call("add", body: .array([
                .object(["task_uid": .string(uid), "name": "noop", "context_uid": "c1", "context_path": "/c1",
                         "action": .null, "slots": .null, "top_uid": .null, "delay": .null, "other": .null]),
                .object(["task_uid": .string(plain), "name": "noop", "context_uid": "c2", "context_path": "/c2"]),
            ]))
            #expect(added.status == 200 && added.json["count"] == .int(2), "\(added.message)")
            let stored = try await api.call(uid).json
            for key in ["action", "slots", "top_uid", "delay", "other"] {
                #expect(stored[key] == .null, "\(key): \(String(describing: stored[key]))")
            }
            let absent = try await api.call(plain).json
            for key in ["action", "slots", "top_uid", "delay"] { #expect(absent[key] == nil, "\(key)") }
            // Claimed and failed with a retry (which sets a delay): the delay is the retry's, the other nulls stay.
            f.clock.advance(by: 1)
            var popped = try await api.pop("http://consumer-1")
            if popped.json["task_uid"] != .string(uid) { popped = try await api.pop("http://consumer-2") }
            #expect(popped.json["task_uid"] == .string(uid) && popped.json["action"] == .null && popped.json["top_uid"] == .null)
            let failed = try await api.report("fail", uid, extra: ["consumer_id": popped.json["consumer_id"]!,
                                                                   "lease_token": popped.json["lease_token"]!])
            #expect(failed.status == 200, "\(failed.message)")
            let retried = try await api.call(uid).json
            #expect(retried["delay"]?.doubleValue != nil && retried["action"] == .null && retried["slots"] == .null)
        }
    }

    @Test("bad input: 4xx JSON naming the problem, nothing added, and the server keeps serving")
    func badInput() async throws {
        try await withServer { api, f in
            let malformed = try await api.call("add", rawBody: "{not json")
            #expect(malformed.status == 400 && malformed.json["success"] == .bool(false))
            #expect(try await api.call("add", rawBody: "42").status == 400)
            let notObjects = try await api.call("add", rawBody: "[{\"name\": \"x\"}, 2]")
            #expect(notObjects.status == 400 && notObjects.message.contains("item 1 of the list"), "\(notObjects.message)")
            let missing = try await api.call("add", body: .object(["name": .string("x"), "context_uid": .string("c")]))
            #expect(missing.status == 406 && missing.message.contains("context_path"))
            let mistyped = try await api.call("add", body: .object(["name": .string("x"), "context_uid": .string("c"),
                                                                   "context_path": .string("/a/b/c"), "priority": .string("high")]))
            #expect(mistyped.status == 406 && mistyped.message.contains("'priority'"))
            // One bad task in a list: nothing is added.
            let good = TaskFactory.task(created: f.now)
            let mixed = try await api.call("add", body: .array([.object(good.wireDictionary), .object(["name": .string("x")])]))
            #expect(mixed.status == 406)
            #expect(mixed.message.contains("item 1 of the list") && mixed.message.contains("context_"), "\(mixed.message)")
            #expect(try await api.call(good.taskUID).status == 404)
            #expect(try await api.call("add", rawBody: "").status == 406)
            let huge = String(repeating: "x", count: 5 * 1024 * 1024)
            let oversized = try await api.call("add", rawBody: "{\"name\": \"\(huge)\"}")
            #expect(oversized.status == 413)
            #expect(try await api.call("pop", body: .object(["consumer_id": .string("consumer-1"), "wait": .string("soon")])).status == 400)
            let unknownRoute = try await api.call("/no/such/route", method: .get)
            #expect(unknownRoute.status == 404 && unknownRoute.json["success"] == .bool(false))
            // A long unknown path is not echoed whole.
            let longRoute = try await api.call("/" + String(repeating: "a", count: 5_000), method: .get)
            #expect(longRoute.status == 404 && longRoute.message.count < 400, "\(longRoute.message.count)")
            #expect(try await api.call("tasks").status == 200)
            #expect(try await api.add([good]).status == 200)
        }
    }

    @Test("pop with wait: empty exactly at the deadline of the server's clock, not before; answered as soon as a task is added")
    func popWait() async throws {
        try await withServer { api, f in
            // The long-poll's deadline is measured on the server's (manual) clock.
            let start = f.now
            let polling = Task { try await api.pop("consumer-1", wait: 20) }
            try await f.clock.waitForSleepers(1)
            f.clock.advance(by: 19.5)
            // Still waiting: it sleeps again, until the deadline (what is left of it, or its poll interval).
            try await f.clock.waitForSleeper(until: start + 20)
            f.clock.advance(by: 0.5)
            let empty = try await polling.value
            #expect(empty.status == 200 && empty.json.isEmpty)
            #expect(f.now - start == 20)

            let task = TaskFactory.task(created: f.now)
            async let waiting = api.pop("consumer-1", wait: 20)
            try await f.clock.waitForSleepers(1)
            // The test client has one connection, busy with the long-poll: add through a second client.
            let other = try HTTPQueueConnection(serverURL: "http://127.0.0.1:\(try #require(api.client.port))", authKey: api.key,
                                                userID: "labman", clock: api.clock)
            let added = ContinuousClock.now
            _ = try await other.add([task])
            let answer = try await waiting
            let latency = added.duration(to: .now)
            #expect(answer.json["task_uid"] == .string(task.taskUID))
            #expect(latency < .seconds(10), "woken by notification, not by the 20 s deadline (took \(latency))")
        }
    }

    @Test("an added task wakes one long-poll; one that cannot take it (its own running task blocks a plain pop) hands the wake on", .timeLimit(.minutes(3)))
    func wakeIsHandedOn() async throws {
        try await withServer { api, f in
            let url = "http://127.0.0.1:\(try #require(api.client.port))"
            // consumer-a runs a task, so its plain pops claim nothing while it does.
            let running = TaskFactory.task(created: f.now)
            _ = try await f.store.add([running], now: f.now)
            #expect(try await f.store.pop(consumerID: "consumer-a", now: f.now)?.taskUID == running.taskUID)
            let a = try HTTPQueueConnection(serverURL: url, authKey: api.key, userID: "labman", clock: api.clock)
            let b = try HTTPQueueConnection(serverURL: url, authKey: api.key, userID: "labman", clock: api.clock)
            // consumer-a waits first, so the add wakes it first (the longest-waiting long-poll).
            let pollA = Task { try await a.pop(consumerID: "consumer-a", wait: 20) }
            try await f.clock.waitForSleepers(1)
            let pollB = Task { try await b.pop(consumerID: "consumer-b", wait: 20) }
            try await f.clock.waitForSleepers(2)
            // The manual clock never moves: only the change signal can wake them. Another worksheet: nothing serializes it.
            let task = TaskFactory.task(context: "WS-0002", created: f.now)
            _ = try await f.store.add([task], now: f.now)
            #expect(try await pollB.value?.taskUID == task.taskUID)
            // consumer-a still waits, for its deadline.
            try await f.clock.waitForSleepers(1)
            f.clock.advance(by: 20)
            #expect(try await pollA.value == nil)
        }
    }

    @Test("a long-poll whose client is gone ends and claims nothing: the next task goes to a live consumer", .timeLimit(.minutes(3)))
    func goneClientEndsLongPoll() async throws {
        try await withServer { api, f, controller in
            let port = try #require(api.client.port)
            // A consumer long-polls on a raw connection, then dies (its socket closes, as at kill -9).
            let body = #"{"consumer_id": "consumer-dead", "wait": 20}"#
            let request = "POST /@@API/senaite/v1/queue_server/pop HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + "Content-Type: application/json\r\n\(QueueAuthToken.headerName): \(try api.token())\r\n"
                + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: port).get()
            try await channel.writeAndFlush(ByteBuffer(string: request)).get()
            try await f.clock.waitForSleepers(1)
            let connections = controller.clientConnections.count
            try await channel.close().get()
            // The server sees the connection close (its handler marks it gone, then unregisters it).
            let real = ContinuousClock()
            let deadline = real.now.advanced(by: .seconds(10))
            while controller.clientConnections.count >= connections, real.now < deadline {
                try await Task.sleep(for: .milliseconds(2))
            }
            #expect(controller.clientConnections.count == connections - 1)
            // The next task wakes the dead client's long-poll first (it waited longest; the manual clock never
            // moves): it must not claim it, and hands the wake on.
            let task = TaskFactory.task(created: f.now)
            _ = try await f.store.add([task], now: f.now)
            #expect(try await f.store.task(task.taskUID)?.status == .queued)
            #expect(try await api.pop("consumer-live").json["task_uid"] == .string(task.taskUID))
        }
    }

    @Test("a request answered before its body was read (401, 413) with Connection: close: the server reads the rest, so a client that sends its whole body first gets the answer (a 5 MB POST hung)",
          .timeLimit(.minutes(3)))
    func earlyAnswerDrainsBody() async throws {
        try await withServer { api, _, _ in
            let port = try #require(api.client.port)
            for (size, token, status) in [(6_000_000, false, "401"), (6_000_000, true, "413")] {
                let body = "{\"name\": \"" + String(repeating: "x", count: size) + "\"}"
                let auth = token ? "\(QueueAuthToken.headerName): \(try api.token())\r\n" : ""
                let head = "POST /@@API/senaite/v1/queue_server/add HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                    + "Content-Type: application/json\r\n\(auth)Content-Length: \(body.utf8.count)\r\n\r\n"
                let answer = AnswerCollector()
                let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .channelInitializer { channel in channel.pipeline.addHandler(answer) }
                    .connect(host: "127.0.0.1", port: port).get()
                // The whole request is written (the server keeps reading after its answer); a server that stopped
                // reading left this write pending until the time limit.
                try await channel.writeAndFlush(ByteBuffer(string: head + body)).get()
                let text = try await answer.text(within: .seconds(10))
                #expect(text.hasPrefix("HTTP/1.1 \(status)"), "\(text.prefix(120))")
                // Closed by the server once the body was read (RFC 9112 §9.6), saying so in the answer.
                #expect(text.lowercased().contains("connection: close"), "\(text.prefix(300))")
                try await channel.closeFuture.get()
            }
        }
    }

    @Test("Connection: close is honoured: the answer says so and the server closes; a keep-alive connection serves a second request",
          .timeLimit(.minutes(3)))
    func connectionClose() async throws {
        try await withServer { api, _, _ in
            let port = try #require(api.client.port)
            func connect(_ answer: AnswerCollector) async throws -> any Channel {
                try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .channelInitializer { channel in channel.pipeline.addHandler(answer) }
                    .connect(host: "127.0.0.1", port: port).get()
            }
            let closing = AnswerCollector()
            let first = try await connect(closing)
            try await first.writeAndFlush(ByteBuffer(string: "GET /@@API/senaite/v1/version HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")).get()
            let text = try await closing.text(within: .seconds(10))
            #expect(text.hasPrefix("HTTP/1.1 200") && text.lowercased().contains("connection: close"), "\(text.prefix(300))")
            try await first.closeFuture.get()

            let kept = AnswerCollector()
            let second = try await connect(kept)
            let request = "GET /@@API/senaite/v1/version HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            try await second.writeAndFlush(ByteBuffer(string: request)).get()
            let once = try await kept.text(within: .seconds(10))
            #expect(once.hasPrefix("HTTP/1.1 200") && !once.lowercased().contains("connection: close"))
            try await second.writeAndFlush(ByteBuffer(string: request)).get()
            let clock = ContinuousClock()
            let deadline = clock.now.advanced(by: .seconds(10))
            while clock.now < deadline, try await kept.text(within: .seconds(10)).components(separatedBy: "HTTP/1.1 200").count < 3 {
                try await Task.sleep(for: .milliseconds(5))
            }
            #expect(try await kept.text(within: .seconds(1)).components(separatedBy: "HTTP/1.1 200").count == 3)
            #expect(second.isActive)
            try? await second.close().get()

            // Pipelined: three requests in one write, the last asking to close: three answers in order, only the last
            // saying close, then the server closes (the close once followed the first answer, and the rest were lost).
            let pipelined = AnswerCollector()
            let third = try await connect(pipelined)
            let closing3 = "GET /@@API/senaite/v1/version HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            try await third.writeAndFlush(ByteBuffer(string: request + request + closing3)).get()
            try await third.closeFuture.get()
            let all = try await pipelined.text(within: .seconds(5))
            let answers = all.components(separatedBy: "HTTP/1.1 200").dropFirst()
            #expect(answers.count == 3, "\(all)")
            #expect(answers.map { $0.lowercased().contains("connection: close") } == [false, false, true], "\(all)")
        }
    }

    @Test("a form sent to a queue route: 400 saying the route reads JSON only; JSON labelled as a form is read")
    func formOnQueueRoute() async throws {
        try await withServer { api, _, _ in
            let token = try api.token()
            let form = try await api.client.execute(uri: "/@@API/senaite/v1/queue_server/add", method: .post,
                                                    headers: [.contentType: "application/x-www-form-urlencoded",
                                                              HTTPField.Name(QueueAuthToken.headerName)!: token],
                                                    body: ByteBuffer(string: "name=noop&context_uid=x&context_path=/senaite/x")) { $0 }
            #expect(form.status == .badRequest && String(buffer: form.body).contains("reads JSON only"))
            let labelled = try await api.client.execute(uri: "/@@API/senaite/v1/queue_server/add", method: .post,
                                                        headers: [.contentType: "application/x-www-form-urlencoded",
                                                                  HTTPField.Name(QueueAuthToken.headerName)!: token],
                                                        body: ByteBuffer(string: #"{"name": "noop", "context_uid": "x1", "context_path": "/senaite/x1"}"#)) { $0 }
            #expect(labelled.status == .ok, "\(String(buffer: labelled.body))")
        }
    }

    @Test("a closed long-poll gate (the process stopping): a waiting pop answers no task as soon as it is woken and claims nothing; pops still claim what is there", .timeLimit(.minutes(3)))
    func closedGateEndsLongPolls() async throws {
        try await withServer { api, f, controller in
            let polling = Task { try await api.pop("consumer-1", wait: 20) }
            try await f.clock.waitForSleepers(1)
            controller.longPolls.close()
            // The add wakes the waiting long-poll (the manual clock never moves): it must not take the task.
            let task = TaskFactory.task(created: f.now)
            _ = try await f.store.add([task], now: f.now)
            let answer = try await polling.value
            #expect(answer.status == 200 && answer.json.isEmpty)
            #expect(try await f.store.task(task.taskUID)?.status == .queued)
            // The gate ends waiting, not work: a pop still claims a queued task, and an empty one answers at once.
            #expect(try await api.pop("consumer-2", wait: 20).json["task_uid"] == .string(task.taskUID))
            #expect(try await api.pop("consumer-3", wait: 20).json.isEmpty)
        }
    }

    /// Issue 13, finding 15: `add` refuses what the OpenAPI document refuses; `diff` refuses a `uids` that is not a
    /// list; a wrong method on a route is 405 with `Allow`.
    @Test("add refuses negative seconds and numbers as strings; diff refuses uids that is not a list; a wrong method is 405")
    func apiEdges() async throws {
        try await withServer { api, f in
            let base: [String: JSONValue] = ["name": "noop", "context_uid": .string(TaskUID.make()), "context_path": "/senaite/x"]
            for (field, value) in [("max_seconds", JSONValue.int(-1)), ("min_seconds", .int(-5)), ("retries", .int(-1)),
                                   ("priority", .string("5")), ("max_seconds", .string("60"))] {
                var task = base
                task[field] = value
                let answer = try await api.call("add", body: .object(task))
                #expect(answer.status == 406 && answer.message.contains("'\(field)'"), "\(field)=\(value): \(answer.status) \(answer.message)")
            }
            #expect(try await f.store.tasks(status: Set(TaskStatus.allCases), since: nil).isEmpty)
            var good = base
            good["priority"] = .int(5)
            good["max_seconds"] = .int(60)
            #expect(try await api.call("add", body: .object(good)).status == 200)
            // diff: a single string is not the client's list of uids.
            let notAList = try await api.call("diff", body: ["uids": "notalist"])
            #expect(notAList.status == 400 && notAList.message.contains("'uids'"))
            let empty = try await api.call("diff", body: ["uids": []])
            #expect(empty.status == 200 && empty.json["count"] == .int(1))
            // A route that exists for other methods: 405 naming them; an unknown path stays 404.
            let wrongMethod = try await api.call("tasks", method: .delete)
            #expect(wrongMethod.status == 405 && wrongMethod.json["success"] == .bool(false), "\(wrongMethod.status) \(wrongMethod.json)")
            #expect(wrongMethod.headers[.allow]?.contains("GET") == true && wrongMethod.headers[.allow]?.contains("POST") == true)
            #expect(try await api.call("/@@API/senaite/v1/version", method: .delete).status == 405)
            #expect(try await api.call("/@@API/senaite/v1/version", method: .delete).headers[.allow] == "GET, HEAD, POST")
            // HEAD where GET is: the same status and headers, no body; on a POST-only route 405 as for GET.
            let version = try await api.call("/@@API/senaite/v1/version", method: .get)
            let versionHead = try await api.call("/@@API/senaite/v1/version", method: .head)
            #expect(version.status == 200 && versionHead.status == 200 && versionHead.json.isEmpty, "\(versionHead.status)")
            #expect(versionHead.headers[.contentType] == version.headers[.contentType])
            #expect(try await api.call("pop", method: .head).status == 405)
            #expect(try await api.call("/no/such/route", method: .get).status == 404)
            // A GET of a POST-only route is not a lookup of a task named "pop".
            for route in ["add", "pop", "done", "fail", "timeout", "delete"] {
                let get = try await api.call(route, method: .get)
                #expect(get.status == 405 && get.headers[.allow] == "POST" && get.message.contains("POST"), "\(route): \(get.status) \(get.headers[.allow] ?? "-") \(get.json)")
            }
        }
    }

    /// Issue 13, finding 19: `status: ["ghost"]` alone names no status, so no task matches, as in senaite.queue.
    @Test("tasks, uids and diff with status [ghost] alone answer no queued task, as senaite.queue does")
    func ghostStatusAlone() async throws {
        try await withServer { api, f in
            var ghost = TaskFactory.task("task_reindex_object_security", context: "client-1", created: f.now)
            ghost.ghost = true
            _ = try await api.add([TaskFactory.task(created: f.now), ghost])
            for route in ["tasks", "uids", "diff"] {
                let answer = try await api.call(route, body: ["status": ["ghost"], "uids": []])
                #expect(answer.status == 200 && answer.json["count"] == .int(0), "\(route): \(answer.json)")
            }
            let withGhosts = try await api.call("tasks", body: ["status": ["queued", "ghost"]])
            #expect(withGhosts.json["count"] == .int(2))
            #expect(try await api.call("tasks", body: ["status": ["queued"]]).json["count"] == .int(1))
        }
    }

    /// Issue 13, finding 20: requeueing a unique task beside a queued twin keeps it (senaite.queue deletes and
    /// re-adds it, and the re-add is refused as not unique, so the task is lost); `task_url` keeps the site path.
    @Test("requeueing a unique task while its twin is queued keeps it; task_url keeps the site path the request came in on")
    func requeueUniqueKeptAndTaskURL() async throws {
        try await withServer { api, f in
            let first = TaskFactory.task("task_assign_analyses", created: f.now, retries: 0, unique: true)
            _ = try await api.add([first])
            let popped = try await api.pop("http://nohost")
            let lease = popped.json["lease_token"]?.stringValue.map { ["lease_token": JSONValue.string($0)] } ?? [:]
            #expect(try await api.report("fail", first.taskUID, extra: lease).status == 200)
            #expect(try await f.store.task(first.taskUID)?.status == .failed)
            let twin = TaskFactory.task("task_assign_analyses", created: f.now + 1, unique: true)
            _ = try await api.add([twin])
            #expect(try await f.store.task(twin.taskUID)?.status == .queued)
            let requeued = try await api.report("requeue", first.taskUID)
            #expect(requeued.status == 200)
            #expect(try await f.store.task(first.taskUID)?.status == .queued, "the requeued task is kept")
            #expect(try await f.store.task(twin.taskUID)?.status == .queued)
            // task_url: the API URL the request came in on.
            let plain = try await api.call("tasks")
            #expect(plain.items.first?["task_url"]?.stringValue?.contains("://") == true)
            #expect(plain.items.allSatisfy { $0["task_url"]?.stringValue?.contains("/senaite/@@API") == false })
            let site = try await api.call("/senaite/@@API/senaite/v1/queue_server/tasks")
            #expect(site.items.count == 2)
            #expect(site.items.allSatisfy { $0["task_url"]?.stringValue?.hasSuffix("/senaite/@@API/senaite/v1/queue_server/\($0["task_uid"]?.stringValue ?? "")") == true })
        }
    }

    /// Issue 13, finding 16: lowering `min_seconds_task` applies to tasks already queued (never raises them).
    @Test("a lowered min_seconds_task applies to tasks already queued when they are popped; a higher one does not raise them")
    func lowerMinimumApplies() async throws {
        try await withServer { api, f in
            let added = try await api.call("add", body: ["name": "noop", "context_uid": .string(TaskUID.make()), "context_path": "/senaite/a"])
            #expect(added.status == 200)
            _ = try await api.call("add", body: ["name": "noop", "context_uid": .string(TaskUID.make()), "context_path": "/senaite/b",
                                                  "min_seconds": 1])
            #expect(try await f.store.tasks(status: [.queued], since: nil).map(\.minSeconds).sorted() == [1, 3])
            var settings = try await f.store.settings()
            settings.minSeconds = 0
            try await f.store.updateSettings(settings)
            let first = try await api.pop("http://consumer-1")
            let second = try await api.pop("http://consumer-2")
            #expect(first.json["min_seconds"] == .int(0) && second.json["min_seconds"] == .int(0))
            // A raised setting leaves a task's own lower value.
            settings.minSeconds = 10
            try await f.store.updateSettings(settings)
            _ = try await api.call("add", body: ["name": "noop", "context_uid": .string(TaskUID.make()), "context_path": "/senaite/c",
                                                  "min_seconds": 2])
            #expect(try await api.pop("http://consumer-3").json["min_seconds"] == .int(2))
        }
    }
}

/// Collects what a raw client connection receives.
final class AnswerCollector: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    private let received = Mutex("")

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        received.withLock { $0 += String(buffer: buffer) }
    }

    /// What arrived, once a status line did, polled every 5 ms for at most `limit`.
    /// - Throws: when nothing arrived within `limit`.
    func text(within limit: Duration) async throws -> String {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: limit)
        while clock.now < deadline {
            let text = received.withLock { $0 }
            if text.contains("\r\n\r\n") { return text }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw CancellationError()
    }
}

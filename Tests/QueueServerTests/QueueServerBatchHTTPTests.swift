import AsyncHTTPClient
import Consumer
import Foundation
import Logging
import QueueCore
import QueueTesting
import ServiceLifecycle
import TestSupport
import Testing

/// The batch extension of `pop`, `done` and `fail` over real HTTP (LimsQueue's own consumers); plain
/// senaite.queue requests are covered, unchanged, by ``QueueServerHTTPTests``.
@Suite("Queue server over HTTP: batches")
struct QueueServerBatchHTTPTests {
    let server = QueueServerHTTPTests()

    static func uids(_ value: JSONValue?) -> [String] {
        (value?.arrayValue ?? []).compactMap { $0.objectValue?["task_uid"]?.stringValue }
    }

    @Test("pop with max answers a list of claimed tasks, each with its lease; done with tasks reports each and refills")
    func popAndDone() async throws {
        try await server.withServer { api, f in
            var settings = try await f.store.settings()
            settings.maxConsumers = 10
            try await f.store.updateSettings(settings)
            let tasks = (0..<5).map { TaskFactory.task("task_generic_action", context: "WS-\($0)", created: f.now - 10 + Double($0)) }
            _ = try await api.add(tasks)
            let popped = try await api.call("pop", body: ["consumer_id": "consumer-1", "max": 3])
            #expect(popped.status == 200 && popped.json["count"] == .int(3))
            let claimed = popped.json["tasks"]?.arrayValue?.compactMap(\.objectValue) ?? []
            try #require(claimed.count == 3)
            #expect(claimed.map { $0["task_uid"]?.stringValue } == tasks[0..<3].map(\.taskUID))
            #expect(claimed.allSatisfy { $0["lease_token"]?.stringValue?.count == 32 && $0["status"] == "running" })

            // One report stale, two valid; refill to max 3 in the same request.
            let items: [JSONValue] = claimed.enumerated().map { index, task in
                .object(["task_uid": task["task_uid"]!, "lease_token": index == 1 ? "stale" : task["lease_token"]!])
            }
            let done = try await api.call("done", body: ["consumer_id": "consumer-1", "tasks": .array(items), "max": 3])
            #expect(done.status == 200)
            #expect(done.json["done"]?.arrayValue?.compactMap(\.stringValue) == [tasks[0].taskUID, tasks[2].taskUID])
            let refused = done.json["refused"]?.arrayValue?.compactMap(\.objectValue) ?? []
            #expect(refused.count == 1 && refused.first?["task_uid"]?.stringValue == tasks[1].taskUID && refused.first?["status"] == .int(409))
            // Still holding tasks[1]: two more fill the buffer of 3.
            #expect(Self.uids(done.json["next"]) == [tasks[3].taskUID, tasks[4].taskUID])

            // A batched fail with its own message per task.
            let failItems: [JSONValue] = [.object(["task_uid": .string(tasks[1].taskUID), "lease_token": claimed[1]["lease_token"]!,
                                                   "error_message": "broken"])]
            let failed = try await api.call("fail", body: ["consumer_id": "consumer-1", "tasks": .array(failItems)])
            #expect(failed.status == 200 && failed.json["failed"]?.arrayValue == [.string(tasks[1].taskUID)])
            #expect(try await f.store.task(tasks[1].taskUID)?.errorMessage == "broken")
        }
    }

    @Test("bad batch input: 400 naming the field; a plain pop without max is unchanged")
    func badInput() async throws {
        try await server.withServer { api, f in
            for bad: JSONValue in [0, 257, 2.5, "many", -1, .array([]), "0x10", "1e1", "2.5", "nan", "+16", " 16", "16\n", ""] {
                let answer = try await api.call("pop", body: ["consumer_id": "consumer-1", "max": bad])
                #expect(answer.status == 400 && answer.message.contains("'max'"), "max \(bad)")
            }
            // A form-encoded client's decimal text is a number.
            #expect(try await api.call("pop", body: ["consumer_id": "consumer-9", "max": "002"]).status == 200)
            for bad: JSONValue in [.array([]), "x", .array(["x"]), .array([.object(["task_uid": "nope"])]),
                                   .array([.object(["task_uid": .string(TaskUID.make()), "lease_token": 5])])] {
                let answer = try await api.call("done", body: ["consumer_id": "consumer-1", "tasks": bad])
                #expect(answer.status == 400 && answer.message.contains("'tasks"), "tasks \(bad)")
                let failed = try await api.call("fail", body: ["consumer_id": "consumer-1", "tasks": bad])
                #expect(failed.status == 400 && failed.message.contains("'tasks"), "tasks \(bad)")
            }
            let answer = try await api.call("done", body: ["consumer_id": "consumer-1", "max": 0,
                                                           "tasks": .array([.object(["task_uid": .string(TaskUID.make())])])])
            #expect(answer.status == 400 && answer.message.contains("'max'"))
            // Plain pop: a task dict (not a list), as senaite.queue answers.
            _ = try await api.add([TaskFactory.task(created: f.now)])
            let plain = try await api.pop("consumer-1")
            #expect(plain.status == 200 && plain.json["task_uid"] != nil && plain.json["tasks"] == nil)
        }
    }

    @Test("a batched consumer drains the queue through batched pops and reports, one task per name and context at a time")
    func batchedConsumer() async throws {
        try await server.withServer { api, f in
            var settings = try await f.store.settings()
            settings.maxConsumers = 8
            try await f.store.updateSettings(settings)
            // 40 noop tasks on 10 contexts (4 per context: serialized), then the consumer drains them.
            let tasks = (0..<40).map { index in
                QueueTask(name: "noop", contextUID: TaskFactory.uid(for: "ctx-\(index % 10)"), contextPath: "/senaite/ctx-\(index % 10)",
                          created: f.now - 10 + Double(index) / 100, minSeconds: 0, retries: 0, username: "bench")
            }
            _ = try await api.add(tasks)
            let port = try #require(api.client.port)
            let connection = try HTTPQueueConnection(serverURL: "http://127.0.0.1:\(port)", authKey: api.key, clock: f.clock)
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            let consumer = QueueConsumer(connection: connection, handlers: HandlerRegistry([NoopHandler()]),
                                         configuration: .init(consumerID: "batch-consumer", popWaitSeconds: 0.2, batched: true,
                                                              concurrency: 8),
                                         logger: logger)
            let group = ServiceGroup(configuration: .init(services: [.init(service: consumer)], logger: logger))
            try await withThrowingTaskGroup(of: Void.self) { running in
                running.addTask { try await group.run() }
                // Wait for the drain (an expectation with a deadline, not a fixed sleep).
                let deadline = ContinuousClock.now + .seconds(30)
                while ContinuousClock.now < deadline, !(try await f.store.tasks(status: [.queued, .running], since: nil).isEmpty) {
                    try await Task.sleep(for: .milliseconds(10))
                }
                await group.triggerGracefulShutdown()
                // The consumer's last long-poll waits on the server's manual clock: move the clock until it ends.
                let ticker = Task {
                    while !Task.isCancelled {
                        f.clock.advance(by: 0.25)
                        try? await Task.sleep(for: .milliseconds(5))
                    }
                }
                defer { ticker.cancel() }
                try await running.waitForAll()
            }
            #expect(try await f.store.tasks(status: [.queued, .running, .failed], since: nil).isEmpty)
            let history = try await f.store.history(since: 0, limit: 100)
            #expect(history.count == 40 && history.allSatisfy { $0.outcome == .done && $0.consumerID == "batch-consumer" })
        }
    }
}

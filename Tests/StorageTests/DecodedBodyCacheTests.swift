import Foundation
import QueueCore
import QueueTesting
@testable import Storage
import Testing

/// ``DecodedBodyCache``: a kept task is what decoding its body gives, a changed body is decoded afresh, failures are
/// not kept, and the cache stays within its capacity.
@Suite("Decoded body cache")
struct DecodedBodyCacheTests {
    struct Refused: Error {}

    @Test("a body is decoded once while kept; another body, a failed decode and bodies past the capacity are decoded again")
    func keepsAndDrops() throws {
        let cache = DecodedBodyCache(capacity: 3)
        var decodes = 0
        func decode(_ body: String) throws -> QueueTask {
            decodes += 1
            guard let dict = try JSONValue.parse(body).objectValue else { throw Refused() }
            return try QueueTask(stored: dict)
        }
        let tasks = (0..<5).map { TaskFactory.task(context: "WS-\($0)", created: 1_767_225_600 + Double($0)) }
        let bodies = try tasks.map { try SQLQueueStore.encodeBody($0) }
        let first = try cache.task(for: bodies[0], decode: decode)
        #expect(first.taskUID == tasks[0].taskUID && first.contextPath == tasks[0].contextPath)
        #expect(try cache.task(for: bodies[0], decode: decode).taskUID == tasks[0].taskUID)
        #expect(decodes == 1)
        // The same task with a changed body (a requeue writes a new one) is decoded from that body.
        var changed = tasks[0]
        changed.priority = 99
        #expect(try cache.task(for: try SQLQueueStore.encodeBody(changed), decode: decode).priority == 99)
        #expect(decodes == 2)
        #expect(throws: Refused.self) { try cache.task(for: "[]", decode: decode) }
        #expect(throws: Refused.self) { try cache.task(for: "[]", decode: decode) }
        #expect(decodes == 4)
        for body in bodies[1...] { _ = try cache.task(for: body, decode: decode) }
        #expect(cache.count == 3)
        // The oldest bodies were dropped: decoded again.
        let before = decodes
        _ = try cache.task(for: bodies[0], decode: decode)
        #expect(decodes == before + 1)
        _ = try cache.task(for: bodies[4], decode: decode)
        #expect(decodes == before + 1)
    }

    @Test("bodies equal as Swift strings but not byte for byte (composed and decomposed é) are two bodies")
    func keyedByBytes() throws {
        let cache = DecodedBodyCache()
        var composed = TaskFactory.task(context: "WS-1", created: 1_767_225_600)
        composed.extra = ["v": .string("caf\u{E9}")]
        var decomposed = composed
        decomposed.extra = ["v": .string("cafe\u{301}")]
        let bodies = try [composed, decomposed].map { try SQLQueueStore.encodeBody($0) }
        #expect(bodies[0] == bodies[1], "Swift compares strings by canonical equivalence")
        #expect(!bodies[0].utf8.elementsEqual(bodies[1].utf8))
        func decode(_ body: String) throws -> QueueTask {
            try QueueTask(stored: try #require(try JSONValue.parse(body).objectValue))
        }
        let first = try cache.task(for: bodies[0], decode: decode)
        let second = try cache.task(for: bodies[1], decode: decode)
        #expect(first.extra["v"]?.stringValue.map { Array($0.utf8) } == Array("caf\u{E9}".utf8))
        #expect(second.extra["v"]?.stringValue.map { Array($0.utf8) } == Array("cafe\u{301}".utf8))
        #expect(cache.count == 2)
    }

    @Test("a body longer than the limit is decoded every time and never kept")
    func longBodiesNotKept() throws {
        let cache = DecodedBodyCache(capacity: 8, maxBodyBytes: 2_000)
        var decodes = 0
        var task = TaskFactory.task(context: "WS-1", created: 1_767_225_600)
        task.uids = (0..<200).map { String(format: "%032x", $0) }
        let body = try SQLQueueStore.encodeBody(task)
        #expect(body.utf8.count > 2_000)
        for _ in 0..<3 {
            let decoded = try cache.task(for: body) { body in
                decodes += 1
                return try QueueTask(stored: try #require(try JSONValue.parse(body).objectValue))
            }
            #expect(decoded.uids == task.uids)
        }
        #expect(decodes == 3)
        #expect(cache.count == 0)
    }
}

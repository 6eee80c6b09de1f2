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

/// Regressions for what `scripts/api-fuzz` (schemathesis) found, on the real store (SQLite, or PostgreSQL in the
/// PostgreSQL pass): each case used to end in a 500 and must now be a 4xx naming the field.
@Suite("API fuzzing findings")
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
}

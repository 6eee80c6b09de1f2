import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import QueueCore
import QueueServer
import Storage
import Testing

/// A storage failure an operator can act on is answered 507 or 503 with the database's message; any other error
/// stays a 500 naming only its type (its text may carry SQL).
@Suite("Storage failures over HTTP")
struct StorageFailureHTTPTests {
    struct Failure: StorageFailure {
        let storageCondition: StorageCondition?
        let storageMessage = "database or disk is full"
    }

    @Test("full is 507, busy and unavailable are 503 with Retry-After, an unclassified failure is 500 without its message")
    func statuses() async throws {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: ErrorLoggingMiddleware())
        router.get("full") { _, _ -> String in throw Failure(storageCondition: .full) }
        router.get("busy") { _, _ -> String in throw Failure(storageCondition: .busy) }
        router.get("down") { _, _ -> String in throw Failure(storageCondition: .unavailable) }
        router.get("other") { _, _ -> String in throw Failure(storageCondition: nil) }
        router.get("silent") { _, _ -> String in throw StatementTimeoutError(seconds: 30) }
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        try await Application(router: router, logger: logger).test(.router) { client in
            func call(_ path: String) async throws -> (Int, String, String?) {
                try await client.execute(uri: path, method: .get) { response in
                    let body = try JSONDecoder().decode([String: JSONValue].self, from: Data(buffer: response.body))
                    return (Int(response.status.code), body["message"]?.stringValue ?? "", response.headers[.retryAfter])
                }
            }
            let full = try await call("/full")
            #expect(full.0 == 507 && full.1.hasPrefix("Insufficient Storage - ") && full.1.contains("database or disk is full"))
            let busy = try await call("/busy")
            #expect(busy.0 == 503 && busy.2 == "1" && busy.1.contains("locked by another process"))
            let down = try await call("/down")
            #expect(down.0 == 503 && down.2 == "1")
            // A statement a dead connection never answered: the database is unreachable, not a bug (was a 500).
            let silent = try await call("/silent")
            #expect(silent.0 == 503 && silent.2 == "1" && silent.1.contains("did not answer a statement within 30.0 s"), "\(silent)")
            let other = try await call("/other")
            #expect(other.0 == 500 && other.1 == "Internal Server Error - Failure" && other.2 == nil)
        }
    }
}

import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOFoundationCompat
import QueueAuth
import QueueCore
import QueueServer
import QueueTesting

/// Typed calls to the queue server routes for tests: each returns the HTTP status and the JSON object answered.
package struct QueueAPIClient {
    package let client: any TestClientProtocol
    package let key: String
    package let clock: any WallClock
    package var user = "labman"

    package init(client: any TestClientProtocol, key: String, clock: any WallClock, user: String = "labman") {
        self.client = client
        self.key = key
        self.clock = clock
        self.user = user
    }

    /// A route's answer: HTTP status, JSON object, headers.
    package struct Answer {
        package let status: Int
        package let json: [String: JSONValue]
        package var headers: HTTPFields = [:]
        /// The `message` field, or "".
        package var message: String { json["message"]?.stringValue ?? "" }
        /// The `items` field's objects.
        package var items: [[String: JSONValue]] { json["items"]?.arrayValue?.compactMap(\.objectValue) ?? [] }
    }

    /// An `X-Queue-Auth-Token` for `user` (default: ``user``) made at `now` (default: the clock's).
    package func token(user: String? = nil, now: Double? = nil, key: String? = nil) throws -> String {
        try QueueAuthToken(key: key ?? self.key).make(userID: user ?? self.user, now: now ?? clock.now())
    }

    /// Calls `queue_server/<route>` (or any path starting with "/").
    package func call(_ route: String, method: HTTPRequest.Method = .post, body: JSONValue? = nil, rawBody: String? = nil,
              token: String?? = nil) async throws -> Answer {
        var headers: HTTPFields = [.contentType: "application/json"]
        let header: String? = try token ?? self.token()
        if let header { headers[HTTPField.Name(QueueAuthToken.headerName)!] = header }
        var buffer: ByteBuffer?
        if let rawBody { buffer = ByteBuffer(string: rawBody) }
        // The project's JSON text, as a Python client's `json` writes and reads it: numbers neither Int nor Double holds
        // are sent and read as written (Foundation's decoder refuses `1e400`, its encoder has no number-as-text).
        if let body { buffer = ByteBuffer(bytes: body.jsonBytes) }
        let uri = route.hasPrefix("/") ? route : "/@@API/senaite/v1/queue_server/\(route)"
        let response = try await client.execute(uri: uri, method: method, headers: headers, body: buffer)
        let json = (try? JSONValue.parse(response.body.readableBytesView))?.objectValue ?? [:]
        return Answer(status: Int(response.status.code), json: json, headers: response.headers)
    }

    /// `add` with the tasks' wire dicts.
    package func add(_ tasks: [QueueTask]) async throws -> Answer {
        try await call("add", body: .array(tasks.map { .object($0.wireDictionary) }))
    }

    /// `pop` for `consumerID`, with an optional long-poll `wait` (seconds).
    package func pop(_ consumerID: String = "http://nohost", wait: Double? = nil) async throws -> Answer {
        var body: [String: JSONValue] = ["consumer_id": .string(consumerID)]
        if let wait { body["wait"] = .number(wait) }
        return try await call("pop", body: .object(body))
    }

    /// A report route (`done`, `fail`, ...) for the task `uid`, with extra body fields.
    package func report(_ route: String, _ uid: String, extra: [String: JSONValue] = [:]) async throws -> Answer {
        var body = extra
        body["task_uid"] = .string(uid)
        return try await call(route, body: .object(body))
    }
}

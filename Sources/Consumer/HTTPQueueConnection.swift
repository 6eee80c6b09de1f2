import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import QueueAuth
import QueueCore
import Synchronization

/// A queue server reached over HTTP with senaite.queue's JSON protocol and `X-Queue-Auth-Token` tokens
/// (reference 1.3, 1.4), acting as one user (the reserved consumer user by default).
///
/// Several server URLs may be given (server instances on one database): requests go to the current one; when it
/// cannot be reached (connection refused or lost, timeout, or an answer 502/503/504) the same request is sent to
/// the next one at once, and that one becomes current. Every instance shares the database, so a lease taken
/// through one server is finished through another. A request that was applied by a server that died before it
/// answered is at-least-once, as the protocol is: a lost pop's task is purged or timed out and runs again, a
/// repeated done is refused (409) and logged by the consumer.
public final class HTTPQueueConnection: QueueConnection {
    /// Base URLs of the server instances, in failover order, e.g. `http://127.0.0.1:8080`; routes go under
    /// `/@@API/senaite/v1/queue_server/`.
    public let serverURLs: [String]
    let http: HTTPClient
    let tokens: QueueAuthToken
    let userID: String
    let clock: any WallClock
    let logger: Logger
    private let cachedToken = Mutex<(token: String, madeAt: Double)?>(nil)
    /// Index in ``serverURLs`` of the server requests go to first.
    private let current = Mutex(0)

    /// The server requests go to now.
    public var serverURL: String { serverURLs[current.withLock { $0 }] }

    /// - Parameters:
    ///   - serverURL: scheme, host, port and optional site path (`http://host:8080` or `http://host:8080/senaite`).
    ///   - authKey: the shared auth key.
    ///   - userID: the user every request acts as. Default: `queue_consumer`.
    ///   - http: the HTTP client to use. Default: the shared one.
    /// - Throws: ``Fernet/Error/invalidKey``.
    public convenience init(serverURL: String, authKey: String, userID: String = QueueAuthToken.consumerUserID,
                            http: HTTPClient = .shared, clock: any WallClock = SystemWallClock()) throws {
        try self.init(serverURLs: [serverURL], authKey: authKey, userID: userID, http: http, clock: clock)
    }

    /// - Parameters:
    ///   - serverURLs: one or more server instances on one database, in failover order (same form as `serverURL`).
    ///   - authKey: the shared auth key.
    ///   - userID: the user every request acts as. Default: `queue_consumer`.
    ///   - http: the HTTP client to use. Default: the shared one.
    ///   - logger: where failovers are logged (notice).
    /// - Throws: ``Fernet/Error/invalidKey``; ``QueueServerError`` (status 400) when `serverURLs` is empty.
    public init(serverURLs: [String], authKey: String, userID: String = QueueAuthToken.consumerUserID,
                http: HTTPClient = .shared, clock: any WallClock = SystemWallClock(),
                logger: Logger = Logger(label: "limsqueue.consumer")) throws {
        guard !serverURLs.isEmpty else { throw QueueServerError(status: 400, message: "No queue server URL given") }
        self.serverURLs = serverURLs.map { url in
            var url = url
            while url.hasSuffix("/") { url.removeLast() }
            return url
        }
        self.http = http
        self.tokens = try QueueAuthToken(key: authKey)
        self.userID = userID
        self.clock = clock
        self.logger = logger
    }

    /// The HTTP client configuration for consumers: a connection that cannot be made (refused, unreachable) fails
    /// after at most `connectSeconds` and is not retried within the request, so the consumer fails over to the next
    /// server at once (or backs off and logs it). AsyncHTTPClient's default retries connecting until the request's
    /// deadline: a consumer whose server was down logged nothing for 20 s and failed over only then (found by a
    /// tryout).
    ///
    /// Requests make no tracing spans: LimsQueue bootstraps no tracer, and AsyncHTTPClient's default (the global
    /// no-op tracer) still parsed every request's URL with Foundation's `URL` to label the span nobody records
    /// (1.5-2 % of all CPU of `limsqueue bench queue` in `perf`).
    /// - Parameters:
    ///   - connectSeconds: the connect timeout. Default: 5 seconds.
    ///   - connectionsPerHost: connections kept per server (long-polls hold theirs). Default: 8.
    public static func clientConfiguration(connectSeconds: Int64 = 5, connectionsPerHost: Int = 8) -> HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration()
        configuration.tracing.tracer = nil
        configuration.timeout.connect = .seconds(connectSeconds)
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: connectionsPerHost)
        configuration.connectionPool.retryConnectionEstablishment = false
        return configuration
    }

    /// A token for this connection's user, reused for 5 of its 10 seconds.
    func token() throws -> String {
        let now = clock.now()
        if let cached = cachedToken.withLock({ $0 }), now - cached.madeAt < 5, now >= cached.madeAt { return cached.token }
        let token = try tokens.make(userID: userID, now: now)
        cachedToken.withLock { $0 = (token, now) }
        return token
    }

    /// POSTs `body` to `queue_server/<route>` and returns the decoded JSON object, failing over to the next
    /// server URL when the current one cannot be reached (each server is tried once per request).
    /// - Parameter seconds: timeout of one attempt. Default: 15 seconds.
    /// - Throws: ``QueueServerError`` for non-2xx answers; the last transport error of AsyncHTTPClient when no
    ///   server could be reached.
    public func post(_ route: String, _ body: JSONValue, timeout seconds: Double = 15) async throws -> [String: JSONValue] {
        let first = current.withLock { $0 }
        var lastError: any Error = QueueServerError(status: 503, message: "No queue server reachable")
        for attempt in 0..<serverURLs.count {
            let index = (first + attempt) % serverURLs.count
            do {
                let answer = try await send(route, body, to: serverURLs[index], timeout: seconds)
                if attempt > 0 {
                    current.withLock { $0 = index }
                    logger.notice("queue server failover", metadata: ["lims.server": .string(serverURLs[index])])
                }
                return answer
            } catch let error as QueueServerError where !Self.unavailable.contains(error.status) {
                throw error
            } catch {
                if Task.isCancelled { throw error }
                lastError = error
                if serverURLs.count > 1 {
                    logger.notice("queue server unreachable", metadata: [
                        "lims.server": .string(serverURLs[index]), "lims.error": .string(String(describing: error)),
                    ])
                }
            }
        }
        current.withLock { $0 = (first + 1) % serverURLs.count }
        throw lastError
    }

    /// HTTP statuses that mean "this server instance cannot serve now": try the next one.
    static let unavailable: Set<Int> = [502, 503, 504]

    /// One attempt of ``post(_:_:timeout:)`` against one server.
    func send(_ route: String, _ body: JSONValue, to serverURL: String, timeout seconds: Double) async throws -> [String: JSONValue] {
        var request = HTTPClientRequest(url: "\(serverURL)/@@API/senaite/v1/queue_server/\(route)")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: QueueAuthToken.headerName, value: try token())
        request.body = .bytes(ByteBuffer(bytes: body.jsonBytes))
        let response = try await http.execute(request, timeout: .milliseconds(Int64(seconds * 1000)))
        let buffer = try await response.body.collect(upTo: 64 << 20)
        let object = (try? JSONValue.parse(buffer.readableBytesView))?.objectValue ?? [:]
        guard (200..<300).contains(Int(response.status.code)) else {
            throw QueueServerError(status: Int(response.status.code),
                                   message: object["message"]?.stringValue ?? response.status.reasonPhrase)
        }
        return object
    }

    public func pop(consumerID: String, wait: Double) async throws -> QueueTask? {
        let answer = try await post("pop", .object(["consumer_id": .string(consumerID), "wait": .number(wait)]),
                                    timeout: wait + 15)
        guard !answer.isEmpty, answer["task_uid"] != nil else { return nil }
        return try QueueTask(stored: answer.filter { $0.key != "task_url" })
    }

    func claimFields(_ task: QueueTask) -> [String: JSONValue] {
        var fields: [String: JSONValue] = ["task_uid": .string(task.taskUID)]
        if let consumerID = task.consumerID { fields["consumer_id"] = .string(consumerID) }
        if let leaseToken = task.leaseToken { fields["lease_token"] = .string(leaseToken) }
        return fields
    }

    public func done(_ task: QueueTask) async throws {
        _ = try await post("done", .object(claimFields(task)))
    }

    public func doneAndPop(_ task: QueueTask, consumerID: String, wait: Double) async throws -> QueueTask? {
        var fields = claimFields(task)
        fields["consumer_id"] = .string(consumerID)
        fields["pop"] = .bool(true)
        fields["wait"] = .number(wait)
        let answer = try await post("done", .object(fields), timeout: wait + 15)
        guard let next = answer["next"]?.objectValue, next["task_uid"] != nil else { return nil }
        return try QueueTask(stored: next.filter { $0.key != "task_url" })
    }

    public func fail(_ task: QueueTask, message: String) async throws {
        var fields = claimFields(task)
        fields["error_message"] = .string(message)
        _ = try await post("fail", .object(fields))
    }

    /// Posts `fail` with `retry: false` (this server's addition to the protocol; senaite.queue ignores it).
    public func failPermanently(_ task: QueueTask, message: String) async throws {
        var fields = claimFields(task)
        fields["error_message"] = .string(message)
        fields["retry"] = .bool(false)
        _ = try await post("fail", .object(fields))
    }

    public func timeout(_ task: QueueTask) async throws {
        _ = try await post("timeout", .object(claimFields(task)))
    }

    public func release(_ task: QueueTask) async throws {
        _ = try await post("requeue", .object(claimFields(task)))
    }

    public func pop(consumerID: String, max: Int, wait: Double) async throws -> [QueueTask] {
        let answer = try await post("pop", .object(["consumer_id": .string(consumerID), "wait": .number(wait), "max": .int(max)]),
                                    timeout: wait + 15)
        return try Self.tasks(answer["tasks"])
    }

    public func report(done tasks: [QueueTask], consumerID: String, popMax: Int?, wait: Double) async throws -> BatchReportAnswer {
        var fields: [String: JSONValue] = ["consumer_id": .string(consumerID), "tasks": .array(tasks.map { .object(Self.reportItem($0)) })]
        if let popMax {
            fields["max"] = .int(popMax)
            fields["wait"] = .number(wait)
        }
        let answer = try await post("done", .object(fields), timeout: wait + 15)
        return BatchReportAnswer(refused: Self.refused(answer), next: try Self.tasks(answer["next"]))
    }

    public func report(failed tasks: [(task: QueueTask, message: String)], consumerID: String) async throws -> BatchReportAnswer {
        let items = tasks.map { task, message -> JSONValue in
            var item = Self.reportItem(task)
            item["error_message"] = .string(message)
            return .object(item)
        }
        let answer = try await post("fail", .object(["consumer_id": .string(consumerID), "tasks": .array(items)]))
        return BatchReportAnswer(refused: Self.refused(answer))
    }

    /// One item of a batched report: `task_uid` and `lease_token`.
    static func reportItem(_ task: QueueTask) -> [String: JSONValue] {
        var item: [String: JSONValue] = ["task_uid": .string(task.taskUID)]
        if let leaseToken = task.leaseToken { item["lease_token"] = .string(leaseToken) }
        return item
    }

    /// Tasks of a batched answer (`tasks` or `next`: a list of complete task dicts).
    static func tasks(_ value: JSONValue?) throws -> [QueueTask] {
        try (value?.arrayValue ?? []).compactMap { item in
            guard var object = item.objectValue, object["task_uid"] != nil else { return nil }
            object.removeValue(forKey: "task_url")
            return try QueueTask(stored: object)
        }
    }

    /// The `refused` list of a batched answer, by task uid.
    static func refused(_ answer: [String: JSONValue]) -> [String: QueueServerError] {
        var refused: [String: QueueServerError] = [:]
        for item in answer["refused"]?.arrayValue ?? [] {
            guard let object = item.objectValue, let uid = object["task_uid"]?.stringValue else { continue }
            refused[uid] = QueueServerError(status: Int(object["status"]?.doubleValue ?? 409),
                                            message: object["message"]?.stringValue ?? "refused")
        }
        return refused
    }

    public func add(_ tasks: [QueueTask]) async throws -> [String: String] {
        let answer = try await post("add", .array(tasks.map { .object($0.wireDictionary) }))
        var outcomes: [String: String] = [:]
        for (uid, outcome) in answer["outcomes"]?.objectValue ?? [:] { outcomes[uid] = outcome.stringValue }
        return outcomes
    }
}

import AsyncHTTPClient
import Foundation
import NIOCore
import QueueCore

/// A client of the LIMS JSON API for the CLI's drivers (`demo run`, `bench lims`): JSON in and out, HTTP Basic
/// credentials per call.
struct LimsHTTPClient: Sendable {
    /// One answer: HTTP status and the JSON object (empty when the body was not an object).
    struct Answer: Sendable {
        let status: Int
        let json: [String: JSONValue]
        var items: [[String: JSONValue]] { json["items"]?.arrayValue?.compactMap(\.objectValue) ?? [] }
        var message: String { json["message"]?.stringValue ?? "" }
    }

    /// Server root, e.g. `http://127.0.0.1:8080` (a site path such as `/senaite` allowed).
    let base: String
    let http: HTTPClient

    /// Calls `<base>/@@API/senaite/v1/<path>` as `user` (`(name, password)`): GET without `body`, POST with it.
    /// - Throws: transport errors of AsyncHTTPClient (a 4xx/5xx is an answer, not an error).
    func call(_ path: String, body: JSONValue? = nil, as user: (String, String), timeout: Int64 = 60) async throws -> Answer {
        var request = HTTPClientRequest(url: "\(base)/@@API/senaite/v1/\(path)")
        request.method = body == nil ? .GET : .POST
        request.headers.add(name: "Authorization", value: "Basic " + Data("\(user.0):\(user.1)".utf8).base64EncodedString())
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body.jsonBytes))
        }
        let response = try await http.execute(request, timeout: .seconds(timeout))
        let buffer = try await response.body.collect(upTo: 64 << 20)
        return Answer(status: Int(response.status.code), json: (try? JSONValue.parse(buffer.readableBytesView))?.objectValue ?? [:])
    }

    /// Like ``call(_:body:as:timeout:)`` but a non-2xx answer throws ``CLIError`` with the server's message.
    func expect(_ path: String, body: JSONValue? = nil, as user: (String, String)) async throws -> Answer {
        let answer = try await call(path, body: body, as: user)
        guard (200..<300).contains(answer.status) else {
            throw CLIError("\(body == nil ? "GET" : "POST") \(path) as \(user.0): HTTP \(answer.status) \(answer.message)")
        }
        return answer
    }

    /// Logs in through the JSON API's `login` and returns the `__ac` session cookie (`name=value`).
    /// - Throws: ``CLIError`` when the login is refused or sets no cookie.
    func sessionCookie(as user: (String, String)) async throws -> String {
        var request = HTTPClientRequest(url: "\(base)/@@API/senaite/v1/login")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: JSONValue.object(["username": .string(user.0), "password": .string(user.1)]).jsonBytes))
        let response = try await http.execute(request, timeout: .seconds(60))
        _ = try await response.body.collect(upTo: 1 << 20)
        guard response.status.code == 200,
              let cookie = response.headers["set-cookie"].first?.split(separator: ";").first.map(String.init) else {
            throw CLIError("login as \(user.0): HTTP \(response.status.code), no session cookie")
        }
        return cookie
    }

    /// GETs a web page (`<base><path>`) with the session `cookie`.
    /// - Throws: ``CLIError`` for a non-2xx answer; transport errors.
    func page(_ path: String, cookie: String) async throws {
        var request = HTTPClientRequest(url: base + path)
        request.headers.add(name: "Cookie", value: cookie)
        let response = try await http.execute(request, timeout: .seconds(60))
        _ = try await response.body.collect(upTo: 64 << 20)
        guard (200..<300).contains(Int(response.status.code)) else { throw CLIError("GET \(path): HTTP \(response.status.code)") }
    }

    /// `user`'s queued and running tasks (`my_tasks`), or nil when the server has no queue (404).
    /// - Throws: ``CLIError`` for another non-2xx answer; transport errors.
    func activeTasks(of user: (String, String)) async throws -> [[String: JSONValue]]? {
        let answer = try await call("my_tasks?status=queued,running", as: user)
        if answer.status == 404 { return nil }
        guard answer.status == 200 else { throw CLIError("GET my_tasks as \(user.0): HTTP \(answer.status) \(answer.message)") }
        return answer.items
    }

    /// The uids of the queued and running tasks `users` have now (none where the server has no queue).
    func ownTaskUIDs(of users: [(String, String)]) async throws -> Set<String> {
        var uids: Set<String> = []
        for user in users {
            uids.formUnion(try await activeTasks(of: user)?.compactMap { $0["task_uid"]?.stringValue } ?? [])
        }
        return uids
    }

    /// Waits until none of `users` (`(name, password)`) has a queued or running task of their own (but those in
    /// `existing`: a driver's waits leave out the work the users had before it began) (polling each one's
    /// `my_tasks?status=queued,running` every 0.5 s; continuation chunks and follow-ups act for the same user), calling
    /// `progress` with (queued, running) summed over them on each change. Other users' tasks are not waited for: a
    /// tryout's `demo run --server` against a lab holding an unrelated task delayed a year waited its whole timeout.
    /// Falls back to ``waitForQueue(as:timeout:progress:)`` (the whole queue) as `fallback` when the server has no
    /// `my_tasks` route. - Throws: ``CLIError`` after `timeout` seconds.
    func waitForOwnTasks(of users: [(String, String)], ignoring existing: Set<String> = [], fallback: (String, String),
                         timeout: Double = 600, progress: (Int, Int) -> Void = { _, _ in }) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        var last: (Int, Int)?
        var seen: Set<String> = []
        let distinct = users.filter { seen.insert($0.0).inserted }
        while Date() < deadline {
            var queued = 0, running = 0
            for user in distinct {
                guard let items = try await activeTasks(of: user) else {
                    return try await waitForQueue(as: fallback, timeout: deadline.timeIntervalSinceNow, progress: progress)
                }
                for item in items where !existing.contains(item["task_uid"]?.stringValue ?? "") {
                    if item["status"] == .string("running") { running += 1 } else { queued += 1 }
                }
            }
            if last == nil || last! != (queued, running) { progress(queued, running); last = (queued, running) }
            if queued == 0 && running == 0 { return }
            try await Task.sleep(for: .milliseconds(500))
        }
        throw CLIError("the tasks of \(distinct.map(\.0).joined(separator: ", ")) did not finish within \(Int(timeout)) s")
    }

    /// Waits until the queue has no queued or running task (polling `queue_statistics` every 0.5 s), calling
    /// `progress` with (queued, running) on each change. - Throws: ``CLIError`` after `timeout` seconds.
    func waitForQueue(as user: (String, String), timeout: Double = 600, progress: (Int, Int) -> Void = { _, _ in }) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        var last: (Int, Int)?
        while Date() < deadline {
            let stats = try await expect("queue_statistics", as: user)
            let queued = stats.json["queued"]?.intValue ?? 0, running = stats.json["running"]?.intValue ?? 0
            if last == nil || last! != (queued, running) { progress(queued, running); last = (queued, running) }
            if queued == 0 && running == 0 { return }
            try await Task.sleep(for: .milliseconds(500))
        }
        throw CLIError("the queue did not empty within \(Int(timeout)) s")
    }
}

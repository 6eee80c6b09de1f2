import Foundation
import HTTPTypes
import Hummingbird
import Logging
import QueueCore

/// The routes of senaite.queue's queue server (reference 1.3), under `/@@API/senaite/v1/` and, for clients
/// configured with a site path, `/senaite/@@API/senaite/v1/`.
///
/// Every `queue_server/...` route needs an `X-Queue-Auth-Token` (401 otherwise). Errors are JSON
/// `{"success": false, "message": ...}` with senaite.queue's status codes: 406 invalid task, 412 bad uid or task
/// not running, 404 unknown task, 428 bad consumer id, 409 lost lease (this project), 400 malformed request.
public struct QueueServerController: Sendable {
    /// Configuration of the server's routes.
    public struct Configuration: Sendable {
        /// Longest `wait` a pop may ask for, seconds. Default: 30 seconds.
        public var maxPopWait: Double
        /// How often a long-poll looks at the database for changes made by other processes, seconds.
        /// Default: 0.5 seconds.
        public var pollFallbackSeconds: Double
        /// Version string answered by the `version` route.
        public var version: String
        /// Largest `max` a batched pop may ask for, and most reports one batched done or fail may carry.
        /// Default: 256 tasks.
        public var maxBatch: Int

        public init(maxPopWait: Double = 30, pollFallbackSeconds: Double = 0.5, version: String = "1.0.0", maxBatch: Int = 256) {
            self.maxPopWait = maxPopWait
            self.pollFallbackSeconds = pollFallbackSeconds
            self.version = version
            self.maxBatch = maxBatch
        }
    }

    let store: any QueueStore
    let authenticator: QueueAuthenticator
    let clock: any WallClock
    /// Where the uids of added tasks that bring none come from.
    let uids: any UIDGenerator
    let configuration: Configuration
    /// The Prometheus metrics this server records and exports on `GET /metrics`.
    public let metrics: QueueMetrics
    /// Closed when the process stops: long-polls then answer "no task" at once (``LongPollGate``).
    public let longPolls = LongPollGate()
    /// The live client connections: a long-poll whose client is gone ends and claims nothing (``ClientConnection``).
    public let clientConnections = ClientConnections()
    /// The store snapshot behind `/metrics`, shared by the scrapes of the same 2 seconds: the route is public and
    /// aggregates an hour of history (0.5 s at 100,000 attempts on SQLite).
    let metricsSnapshots = RecentResults<Int, QueueStatusSnapshot>(maxAge: 2)

    /// - Parameters:
    ///   - store: the queue.
    ///   - authenticator: checks every `queue_server` request's token.
    ///   - clock: now for every change, and the clock a long-poll's deadline is measured on.
    ///   - configuration: the routes' tunables. Default: ``Configuration/init(maxPopWait:pollFallbackSeconds:version:maxBatch:)``.
    ///   - metrics: where claims and reported ends are recorded. Default: a registry of its own.
    ///   - uids: the uids of added tasks that bring none. Default: ``QueueCore/TimeOrderedUIDGenerator``.
    public init(store: any QueueStore, authenticator: QueueAuthenticator, clock: any WallClock,
                configuration: Configuration = .init(), metrics: QueueMetrics = QueueMetrics(),
                uids: any UIDGenerator = TimeOrderedUIDGenerator()) {
        self.store = store
        self.authenticator = authenticator
        self.clock = clock
        self.uids = uids
        self.configuration = configuration
        self.metrics = metrics
    }

    /// Mounts the routes on `router` under both API prefixes, plus the public `GET /metrics` (Prometheus text
    /// format, counts only) and `GET /openapi.yaml` and `GET /openapi.json` (the API's OpenAPI 3.1 description; also
    /// under each prefix). With `queueRoutes` false (a web node) only `version`, `/metrics` and the description are
    /// mounted.
    public func addRoutes(to router: Router<QueueRequestContext>, queueRoutes: Bool = true) {
        router.get("metrics", use: metricsPage)
        router.get("openapi.yaml", use: openAPI)
        router.get("openapi.json", use: openAPIJSON)
        for prefix in Self.apiPrefixes {
            let api = router.group(RouterPath(prefix))
            api.get("version", use: version)
            api.post("version", use: version)
            api.get("openapi.yaml", use: openAPI)
            api.get("openapi.json", use: openAPIJSON)
            guard queueRoutes else { continue }
            let queue = api.group("queue_server").add(middleware: QueueAuthMiddleware(authenticator: authenticator))
            for method in [HTTPRequest.Method.get, .post] {
                queue.on("tasks", method: method, use: tasks)
                queue.on("tasks/:status", method: method, use: tasks)
                queue.on("diff", method: method, use: diff)
                queue.on("uids", method: method, use: uids)
                queue.on("uids/:status", method: method, use: uids)
                queue.on("search", method: method, use: search)
                queue.on("requeue/:task_uid", method: method, use: requeue)
                queue.on(":task_uid", method: method, use: getTask)
            }
            queue.post("add", use: add)
            queue.post("pop", use: pop)
            queue.post("done", use: done)
            queue.post("fail", use: fail)
            queue.post("timeout", use: timeout)
            queue.post("requeue", use: requeue)
            queue.post("delete", use: delete)
        }
    }

    // MARK: Helpers

    /// The API's two mount points: the root, and under SENAITE's site path for clients configured with one.
    public static let apiPrefixes = ["@@API/senaite/v1", "senaite/@@API/senaite/v1"]

    /// `scheme://host/<api prefix>` the client used (the site-path prefix when it came that way).
    public static func apiURL(_ request: Request) -> String {
        let prefix = request.uri.path.hasPrefix("/senaite/") ? apiPrefixes[1] : apiPrefixes[0]
        return "\(baseURL(request))/\(prefix)"
    }

    /// `scheme://host` the client used, for `task_url` and `url`.
    public static func baseURL(_ request: Request) -> String {
        let host = request.head.authority ?? "localhost"
        let scheme = request.head.scheme ?? "http"
        return "\(scheme)://\(host)"
    }

    static func routeURL(_ request: Request) -> String {
        baseURL(request) + request.uri.path
    }

    /// Runs a store call, mapping ``QueueError`` to its HTTP status.
    func perform<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as QueueError {
            throw QueueAPIError(error)
        }
    }

    /// Statuses from the path parameter or the `status` field; default queued+running. "ghost" is a marker.
    static func statuses(_ request: Request, _ context: QueueRequestContext, _ payload: RequestPayload)
        throws -> (statuses: Set<TaskStatus>, ghosts: Bool)
    {
        var names: [String] = []
        if let path = context.parameters.get("status") {
            names = [path]
        } else if let given = try payload.stringList("status") {
            names = given
        }
        if names.isEmpty { return ([.queued, .running], false) }
        var statuses: Set<TaskStatus> = []
        var ghosts = false
        for name in names {
            if name == "ghost" { ghosts = true; continue }
            guard let status = TaskStatus(rawValue: name) else {
                throw QueueAPIError(.badRequest, "Field 'status' has unknown value '\((String(name).removingPercentEncoding ?? String(name)).quotedPrefix(40))'; use queued, running, failed or ghost")
            }
            statuses.insert(status)
        }
        // `["ghost"]` alone names no status: senaite.queue filters tasks by status, and no task's status is "ghost",
        // so it answers none (diff still adds the running tasks, as it always does). Source: issue 13, finding 19.
        return (statuses, ghosts)
    }

    static func requireUID(_ value: String?) throws -> String {
        guard let value, TaskUID.isValid(value) else {
            throw QueueAPIError(.preconditionFailed, "Task uid empty or no valid format")
        }
        return value.lowercased()
    }

    func summary(_ items: [JSONValue], request: Request, payload: RequestPayload, extra: [String: JSONValue] = [:]) -> Response {
        var body = extra
        body["count"] = .int(items.count)
        body["items"] = .array(items)
        body["url"] = .string(Self.routeURL(request))
        body["zeo"] = .string(payload.zeo)
        return JSONResponse.make(body: body)
    }

    // MARK: Routes

    /// `GET /metrics`: refreshes the store gauges and answers the registry in Prometheus' text format 0.0.4.
    /// Public (Prometheus scrapes without credentials): it exposes counts and durations only.
    @Sendable func metricsPage(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let (store, now) = (store, clock.now())
        metrics.update(from: try await metricsSnapshots.value(for: 0, now: now) { try await store.statusSnapshot(now: now) })
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics.exposition())))
    }

    /// `GET /openapi.yaml`: the OpenAPI 3.1 description of every route (``OpenAPIDocument``).
    @Sendable func openAPI(_ request: Request, context: QueueRequestContext) async throws -> Response {
        Response(status: .ok, headers: [.contentType: "application/yaml; charset=utf-8"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: OpenAPIDocument.yaml)))
    }

    /// `GET /openapi.json`: ``openAPI(_:context:)``'s description as JSON.
    @Sendable func openAPIJSON(_ request: Request, context: QueueRequestContext) async throws -> Response {
        Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: OpenAPIDocument.json)))
    }

    /// `logger` with the task's uid and name as metadata (`lims.task.uid`, `lims.task.name`).
    static func taskLogger(_ logger: Logger, uid: String, name: String? = nil) -> Logger {
        var logger = logger
        logger[metadataKey: "lims.task.uid"] = .string(uid)
        if let name { logger[metadataKey: "lims.task.name"] = .string(name) }
        return logger
    }

    /// Logs `message` at debug level with the task's uid and name (`lims.task.uid`, `lims.task.name`) and
    /// `extra` as metadata. The hot path's form of ``taskLogger(_:uid:name:)``: nothing is built when the level
    /// drops the line.
    static func debug(_ logger: Logger, _ message: @autoclosure () -> Logger.Message, uid: String, name: String,
                      _ extra: @autoclosure () -> Logger.Metadata = [:]) {
        guard logger.logLevel <= .debug else { return }
        var metadata = extra()
        metadata["lims.task.uid"] = .string(uid)
        metadata["lims.task.name"] = .string(name)
        logger.debug(message(), metadata: metadata)
    }

    @Sendable func version(_ request: Request, context: QueueRequestContext) async throws -> Response {
        JSONResponse.make(body: [
            "url": .string(Self.routeURL(request)),
            "version": .string(configuration.version),
            "date": .string(ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: clock.now()))),
            "success": .bool(true),
        ])
    }

    @Sendable func tasks(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let payload = try await RequestPayload.read(request, context: context)
        let (statuses, ghosts) = try Self.statuses(request, context, payload)
        let since = try payload.number("since")
        let complete = payload.flag("complete")
        let base = Self.apiURL(request)
        let found = statuses.isEmpty ? [] : try await perform { try await store.tasks(status: statuses, since: since) }
        let items = found.filter { ghosts || !$0.ghost }.map { TaskInfo.info($0, complete: complete, baseURL: base) }
        let sinceTime = try await perform { try await store.sinceTime() }
        return summary(items, request: request, payload: payload, extra: ["since_time": .double(sinceTime)])
    }

    @Sendable func diff(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let payload = try await RequestPayload.read(request, context: context)
        let (statuses, ghosts) = try Self.statuses(request, context, payload)
        // `uids` is the client's list of queued task uids: a JSON list (senaite.queue's client always sends one). A
        // single string would otherwise read as a list of no valid uid and answer every task.
        if let uids = payload.fields["uids"], uids != .null, uids.arrayValue == nil {
            throw QueueAPIError(.badRequest, "Field 'uids' must be a list of task uids")
        }
        let clientUIDs = Set((try payload.stringList("uids") ?? []).filter(TaskUID.isValid).map { $0.lowercased() })
        let complete = payload.flag("complete")
        let base = Self.apiURL(request)
        // Every task's uid and status, then whole only the tasks the answer lists: a client that knows the queue gets
        // its answer without the server reading every task's body (20,000 queued tasks, client knowing them all:
        // 263-286 ms before, 77-88 after). senaite.queue's client pulls `diff` every 2 s with every queued uid it holds
        // (reference 1.5).
        let keys = try await perform { try await store.taskKeys(status: statuses.union([.running])) }
        let serverUIDs = Set(keys.filter { statuses.contains($0.status) }.map(\.taskUID))
        let listed = keys.filter { key in
            guard ghosts || !key.ghost else { return false }
            if key.status == .running { return true }
            return statuses.contains(key.status) && !clientUIDs.contains(key.taskUID)
        }
        let tasks: [QueueTask]
        if listed.count * 4 >= keys.count {
            // Much of the queue (a client's first sync): one read in queue order beats lookups by uid (20,000 tasks:
            // 340 ms against 600).
            let wanted = Set(listed.map(\.taskUID))
            tasks = try await perform { try await store.tasks(status: statuses.union([.running]), since: nil) }
                .filter { wanted.contains($0.taskUID) }
        } else {
            // In the order of the keys; a task that ended between the two reads is left out.
            let found = try await perform { try await store.tasks(uids: listed.map(\.taskUID)) }
            tasks = listed.compactMap { found[$0.taskUID] }
        }
        let items = tasks.map { TaskInfo.info($0, complete: complete, baseURL: base) }
        let stale = clientUIDs.subtracting(serverUIDs).sorted().map(JSONValue.string)
        return summary(items, request: request, payload: payload, extra: ["stale": .array(stale), "unknown": .array([])])
    }

    @Sendable func uids(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let payload = try await RequestPayload.read(request, context: context)
        let (statuses, _) = try Self.statuses(request, context, payload)
        let uids = statuses.isEmpty ? [] : try await perform { try await store.objectUIDList(status: statuses) }
        return summary(uids.map(JSONValue.string), request: request, payload: payload)
    }

    @Sendable func search(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let payload = try await RequestPayload.read(request, context: context)
        guard let uid = try payload.string("uid"), !uid.isEmpty else {
            throw QueueAPIError(.badRequest, "Field 'uid' is missing")
        }
        let name = try payload.string("name")
        let complete = payload.flag("complete")
        let base = Self.apiURL(request)
        let found = try await perform { try await store.tasks(for: uid, name: name) }
        return summary(found.map { TaskInfo.info($0, complete: complete, baseURL: base) }, request: request, payload: payload)
    }

    @Sendable func getTask(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let uid = try Self.requireUID(context.parameters.get("task_uid"))
        guard let task = try await perform({ try await store.task(uid) }) else {
            throw QueueAPIError(.notFound, "Task \(uid)")
        }
        guard case .object(let dict) = TaskInfo.complete(task, baseURL: Self.apiURL(request)) else { return JSONResponse.make(body: [:]) }
        return JSONResponse.make(body: dict)
    }

    @Sendable func add(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let payload = try await RequestPayload.read(request, context: context)
        guard !payload.items.isEmpty else { throw QueueAPIError(.notAcceptable, "No valid task(s)") }
        // A batch sent as `{"tasks": [...]}` (the shape of a batched `done`): `add` reads the body itself as a task
        // or a list of tasks. Said so, instead of "field 'name' is missing" (a tryout's finding).
        if payload.items.count == 1, payload.items[0]["name"] == nil, payload.items[0]["tasks"]?.arrayValue != nil {
            throw QueueAPIError(.notAcceptable, "No valid task(s): 'add' takes a task object or a JSON list of task objects as "
                                + "the body, not a 'tasks' field")
        }
        let settings = try await perform { try await store.settings() }
        let now = clock.now()
        let user = context.userID ?? ""
        let items = payload.items
        let tasks = try await perform {
            try items.enumerated().map { index, item in
                do {
                    return try QueueTask(wire: item, settings: settings, now: now, defaultUsername: user, uids: uids)
                } catch let error as QueueError where items.count > 1 && error.code == .invalidTask {
                    // Which task of a list: the whole list is refused, so the caller must find the bad one.
                    throw QueueError(.invalidTask, error.message + " (item \(index) of the list, counting from 0; no task of the list was added)")
                }
            }
        }
        let outcomes = try await perform { try await store.add(tasks, now: now) }
        for (task, outcome) in zip(tasks, outcomes) where outcome == .added {
            Self.debug(context.logger, "task added", uid: task.taskUID, name: task.name)
        }
        let base = Self.apiURL(request)
        // One item per uid: the item that was added, else the first one listed (a uid listed twice with
        // different contents would otherwise list a task the queue does not hold).
        var added: [QueueTask] = []
        var itemIndex: [String: Int] = [:]
        for (task, outcome) in zip(tasks, outcomes) {
            var item = task
            item.status = .queued
            if let index = itemIndex[task.taskUID] {
                if outcome == .added { added[index] = item }
            } else {
                itemIndex[task.taskUID] = added.count
                added.append(item)
            }
        }
        var outcomeMap: [String: JSONValue] = [:]
        // A uid listed twice gets one entry: "added" when one of its items was added (the later ones are then
        // duplicates of it), else the first item's outcome.
        for (task, outcome) in zip(tasks, outcomes) where outcomeMap[task.taskUID] == nil || outcome == .added {
            outcomeMap[task.taskUID] = .string(outcome.rawValue)
        }
        return summary(added.map { TaskInfo.short($0, baseURL: base) }, request: request, payload: payload,
                       extra: ["outcomes": .object(outcomeMap)])
    }

    @Sendable func pop(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let payload = try await RequestPayload.read(request, context: context)
        let consumerID = try Self.requireConsumerID(payload)
        let wait = try payload.number("wait", clampedTo: 0...configuration.maxPopWait) ?? 0
        metrics.polled(consumerID: consumerID, now: clock.now())
        if let max = try batchMax(payload) {
            let claimed = try await perform { try await popWaiting(consumerID: consumerID, max: max, wait: wait, client: clientConnections.connection(for: context)) }
            var tasks: [QueueTask] = []
            for task in claimed { tasks.append(try await withCurrentMinimum(task)) }
            return JSONResponse.make(body: claimedBody(tasks, consumerID: consumerID, request: request, context: context))
        }
        let popped = try await perform { try await popWaiting(consumerID: consumerID, max: nil, wait: wait, client: clientConnections.connection(for: context)) }.first
        guard let popped else { return JSONResponse.make(body: [:]) }
        let task = try await withCurrentMinimum(popped)
        metrics.claimed(task, consumerID: consumerID, now: clock.now())
        Self.debug(context.logger, "task claimed", uid: task.taskUID, name: task.name, ["lims.consumer": .string(consumerID)])
        guard case .object(let dict) = TaskInfo.complete(task, baseURL: Self.apiURL(request), withLease: true) else { return JSONResponse.make(body: [:]) }
        return JSONResponse.make(body: dict)
    }

    /// `task` with its `min_seconds` lowered to the current `min_seconds_task` setting when that is lower: a
    /// lowered setting applies to tasks already queued (their booked minimum was copied from the setting when they
    /// were added). A higher setting never raises a task's own value. Source: issue 13, finding 16.
    func withCurrentMinimum(_ task: QueueTask) async throws -> QueueTask {
        let setting = try await store.settings().minSeconds
        guard setting < task.minSeconds else { return task }
        var task = task
        task.minSeconds = setting
        return task
    }

    /// Pops at once, or, with `wait` > 0, as soon as a task becomes claimable: woken by this process's change
    /// signal, by the due time of a delayed task, or by the database's change counter (changes made by other
    /// processes), whichever comes first; nil at the deadline. While it waits, its pop is parked with the store
    /// (``QueueStore/park(consumerID:max:)``): an add or done of this process claims for it in its own transaction,
    /// and the tasks come without a claim of its own (one transaction and two thread hand-offs less per pickup).
    ///
    /// With `max` (a batched pop) up to `max` tasks are claimed at once (``QueueStore/pop(consumerID:max:now:)``);
    /// without it, one by senaite.queue's rules. Returns the claimed tasks, empty at the deadline.
    func popWaiting(consumerID: String, max batch: Int?, wait: Double, client: ClientConnection?) async throws -> [QueueTask] {
        @Sendable func attempt() async throws -> [QueueTask] {
            let claimed: [QueueTask]
            if let batch {
                claimed = try await store.pop(consumerID: consumerID, max: batch, now: clock.now())
            } else {
                claimed = try await store.pop(consumerID: consumerID, now: clock.now()).map { [$0] } ?? []
            }
            return try await answerable(claimed, client: client, stopping: false)
        }
        let start = clock.now()
        let deadline = start + wait
        // The counter is read before the first attempt: a change committed between that attempt and the wait
        // below is then seen as a change (else it could be missed until the periodic retry).
        let counterBefore = wait > 0 ? try await store.changeCounter() : 0
        let first = try await attempt()
        if !first.isEmpty { return first }
        guard wait > 0, !longPolls.isClosed, client?.isGone != true else { return [] }
        var lastCounter = counterBefore
        var attempted = true
        var lastAttempt = start
        // Woken by this process's signal and not yet tried: a wake this long-poll does not use is handed on to the
        // next waiter (an add wakes one long-poll per task, see QueueStore.passOnSignal).
        var woken = false
        defer { if woken { store.passOnSignal() } }
        while true {
            if longPolls.isClosed || client?.isGone == true { return [] }
            if !attempted {
                let tasks = try await attempt()
                if !tasks.isEmpty {
                    woken = false
                    return tasks
                }
                if woken { store.passOnSignal() }
                woken = false
            }
            attempted = false
            lastAttempt = clock.now()
            while true {
                let remaining = deadline - clock.now()
                if remaining <= 0 || Task.isCancelled || longPolls.isClosed || client?.isGone == true { return [] }
                var sleep = min(remaining, configuration.pollFallbackSeconds)
                // A delayed task that becomes due while we wait (one already due but not claimable does not count:
                // it waits for a change, else every waiter would spin).
                let nowBefore = clock.now()
                let upcoming = try await store.nextAvailableAt(after: nowBefore)
                if let upcoming { sleep = min(sleep, max(0.001, upcoming - nowBefore)) }
                // Parked with the writer while waiting: an add or done of this process claims for it in its own
                // transaction (``QueueStore/park(consumerID:max:)``); withdrawn before anything else.
                let ticket = store.park(consumerID: consumerID, max: batch)
                // Waiting for the signal from now on, before the tasks that wait start (``QueueStore/signalWaiter()``).
                let waiter = store.signalWaiter()
                let signalled = await waitForSignal(waiter, seconds: sleep, client: client, parked: ticket)
                let handed = await store.withdraw(ticket)
                if !handed.isEmpty {
                    // A wake of the signal meant for another task goes on to the next waiter.
                    if signalled { store.passOnSignal() }
                    return try await answerable(handed, client: client, stopping: true)
                }
                // Woken by this process's own change: pop at once (the counter tells only other processes' changes).
                if signalled {
                    woken = true
                    break
                }
                if client?.isGone == true { return [] }
                let counter = try await store.changeCounter()
                let becameDue = upcoming.map { $0 <= clock.now() } ?? false
                // Pop again when something changed, a delayed task became due, or every 5 s for lease expiry.
                if counter != lastCounter || becameDue || clock.now() - lastAttempt > 5 {
                    lastCounter = counter
                    break
                }
            }
        }
    }

    /// Waits on `waiter` (``QueueStore/signalWaiter()``, registered by the caller before this starts its tasks) for
    /// this process's change signal, or `seconds` of ``clock`` time, whichever comes first: the store's
    /// wait (real time, the same length) races a sleep on the injected clock, so that a long-poll's deadline, a
    /// delayed task's due time and the periodic lease check follow a manual clock in tests.
    /// A `client` that goes away ends the wait too (the caller looks at ``ClientConnection/isGone``), and so do tasks
    /// claimed for the `parked` pop (the caller withdraws it: ``QueueStore/withdraw(_:)``).
    /// - Returns: true when the change signal ended the wait.
    func waitForSignal(_ waiter: Int, seconds: Double, client: ClientConnection?, parked: ParkedPopTicket) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask { await store.waitForSignal(waiter, seconds: seconds) }
            group.addTask {
                await store.waitForParkedAnswer(parked)
                return false
            }
            group.addTask {
                try? await clock.sleep(for: .seconds(seconds))
                return false
            }
            if let client {
                group.addTask {
                    await client.waitUntilGone()
                    return false
                }
            }
            var signalled = await group.next() ?? false
            group.cancelAll()
            // A signal that came as the time ran out still counts (the store's wait says so when cancelled).
            for await result in group { signalled = signalled || result }
            return signalled
        }
    }

    /// `tasks` as a pop answers them: given back to the queue at once (``handBack(_:)``) when the client went away
    /// while they were claimed (nobody will read the answer; their leases would hold them for nothing), or, with
    /// `stopping`, when the process stops (its waiting long-polls take no task; a pop's first attempt still does).
    func answerable(_ tasks: [QueueTask], client: ClientConnection?, stopping: Bool) async throws -> [QueueTask] {
        guard !tasks.isEmpty, client?.isGone == true || (stopping && longPolls.isClosed) else { return tasks }
        try await handBack(tasks)
        return []
    }

    /// Gives tasks claimed for a client that is gone back to the queue (``QueueStore/release(_:lease:now:)`` under
    /// their own lease: queued, retries kept), so they do not wait out their leases. A task whose claim was lost
    /// meanwhile is left as it is.
    func handBack(_ claimed: [QueueTask]) async throws {
        for task in claimed {
            let lease = LeaseClaim(consumerID: task.consumerID, leaseToken: task.leaseToken)
            do {
                _ = try await store.release(task.taskUID, lease: lease, now: clock.now())
            } catch let error as QueueError where error.code == .leaseLost || error.code == .notFound {
                continue
            }
        }
    }

    /// The claim a done/fail/timeout carries: `consumer_id` and/or `lease_token`, both optional.
    static func lease(_ payload: RequestPayload) throws -> LeaseClaim {
        LeaseClaim(consumerID: try checkedConsumerID(try payload.string("consumer_id")), leaseToken: try payload.string("lease_token"))
    }

    /// A fail report's `error_message` as recorded: "Unknown error" when none was sent, at most
    /// ``QueueCore/QueueTask/maxErrorMessageCharacters`` characters.
    static func failureMessage(_ message: String?) -> String {
        String((message ?? "Unknown error").prefix(QueueTask.maxErrorMessageCharacters))
    }

    /// The most characters (Unicode scalars, as JSON Schema's `maxLength` counts) of a `consumer_id`: it is
    /// stored with each claim, shown by the monitor and labels the metrics, so it is bounded (SENAITE's are a
    /// host name and a number).
    static let maxConsumerIDLength = 256

    /// The `consumer_id` a pop needs: a string of 4 to ``maxConsumerIDLength`` characters.
    /// - Throws: 428 "No valid consumer id" (senaite.queue's answer) when it is missing or shorter, naming the field
    ///   and its type when it is not a string; 400 when it is longer.
    static func requireConsumerID(_ payload: RequestPayload) throws -> String {
        let id: String?
        do {
            id = try payload.string("consumer_id")
        } catch {
            throw QueueAPIError(.preconditionRequired, "No valid consumer id: field 'consumer_id' must be a string")
        }
        guard let id = try checkedConsumerID(id), id.count >= 4 else {
            throw QueueAPIError(.preconditionRequired, "No valid consumer id")
        }
        return id
    }

    /// `id` when it is at most ``maxConsumerIDLength`` long. - Throws: 400 naming `consumer_id` when longer.
    static func checkedConsumerID(_ id: String?) throws -> String? {
        guard let id, id.unicodeScalars.count > maxConsumerIDLength else { return id }
        throw QueueAPIError(.badRequest, "Field 'consumer_id' is longer than \(maxConsumerIDLength) characters")
    }

    /// `done`; with `pop: true` (an extension) it also claims the consumer's next task in the same transaction and
    /// answers it as `next` (a complete task dict, or `{}`), waiting up to `wait` seconds for one.
    @Sendable func done(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let payload = try await RequestPayload.read(request, context: context)
        if payload.fields["tasks"] != nil { return try await doneBatch(payload, request: request, context: context) }
        let uid = try Self.requireUID(try payload.string("task_uid"))
        let lease = try Self.lease(payload)
        guard payload.flag("pop") else {
            let task = try await perform { try await store.done(uid, lease: lease, now: clock.now()) }
            metrics.ended(task, outcome: .done, now: clock.now())
            Self.debug(context.logger, "task done", uid: uid, name: task.name)
            return taskMessage("Task done: \(uid)", task, request: request, payload: payload)
        }
        guard let consumerID = lease.consumerID, consumerID.count >= 4 else {
            throw QueueAPIError(.preconditionRequired, "No valid consumer id")
        }
        let wait = try payload.number("wait", clampedTo: 0...configuration.maxPopWait) ?? 0
        metrics.polled(consumerID: consumerID, now: clock.now())
        var (task, next) = try await perform { try await store.doneAndPop(uid, lease: lease, consumerID: consumerID, now: clock.now()) }
        metrics.ended(task, outcome: .done, now: clock.now())
        Self.debug(context.logger, "task done", uid: uid, name: task.name)
        if next == nil, wait > 0 {
            next = try await perform { try await popWaiting(consumerID: consumerID, max: nil, wait: wait, client: clientConnections.connection(for: context)) }.first
        }
        if let next {
            metrics.claimed(next, consumerID: consumerID, now: clock.now())
            Self.debug(context.logger, "task claimed", uid: next.taskUID, name: next.name, ["lims.consumer": .string(consumerID)])
        }
        var body = taskMessageBody("Task done: \(uid)", task, request: request, payload: payload)
        var nextTask = next
        if let claimed = next { nextTask = try await withCurrentMinimum(claimed) }
        body["next"] = nextTask.map { TaskInfo.complete($0, baseURL: Self.apiURL(request), withLease: true) } ?? .object([:])
        return JSONResponse.make(body: body)
    }

    @Sendable func fail(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let payload = try await RequestPayload.read(request, context: context)
        if payload.fields["tasks"] != nil { return try await failBatch(payload, request: request, context: context) }
        let uid = try Self.requireUID(try payload.string("task_uid"))
        let lease = try Self.lease(payload)
        let message = Self.failureMessage(try payload.string("error_message"))
        // `retry: false` (this server's addition; senaite.queue ignores unknown fields): the failure cannot succeed
        // on a retry, so the task fails now whatever retries remain.
        let retry = try payload.boolean("retry") ?? true
        let running = try await perform { try await store.task(uid) }
        let task = try await perform {
            try await store.fail(uid, message: message, lease: lease, now: clock.now(), retry: retry)
        }
        if let running { metrics.ended(running, outcome: .failed, now: clock.now()) }
        Self.taskLogger(context.logger, uid: uid, name: task.name)
            .info("task failed", metadata: ["lims.task.status": .string(task.status?.rawValue ?? "-"), "lims.task.retries": .stringConvertible(task.retries)])
        return taskMessage("Task failed: \(uid)", task, request: request, payload: payload)
    }

    @Sendable func timeout(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let payload = try await RequestPayload.read(request, context: context)
        let uid = try Self.requireUID(try payload.string("task_uid"))
        let lease = try Self.lease(payload)
        let running = try await perform { try await store.task(uid) }
        let task = try await perform { try await store.timeout(uid, lease: lease, now: clock.now()) }
        if let running { metrics.ended(running, outcome: .timeout, now: clock.now()) }
        Self.taskLogger(context.logger, uid: uid, name: task.name).info("task timed out")
        return taskMessage(uid, task, request: request, payload: payload)
    }

    @Sendable func requeue(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let payload = try await RequestPayload.read(request, context: context)
        let uid = try Self.requireUID(context.parameters.get("task_uid") ?? (try payload.string("task_uid")))
        let lease = try Self.lease(payload)
        let task = try await perform { try await store.requeue(uid, lease: lease, now: clock.now()) }
        Self.taskLogger(context.logger, uid: uid, name: task.name).info("task re-queued")
        return taskMessage("Task re-queued: \(uid)", task, request: request, payload: payload)
    }

    @Sendable func delete(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let payload = try await RequestPayload.read(request, context: context)
        let uid = try Self.requireUID(try payload.string("task_uid"))
        let task = try await perform { try await store.delete(uid, now: clock.now()) }
        Self.taskLogger(context.logger, uid: uid, name: task.name).info("task deleted")
        return taskMessage("Task deleted: \(uid)", task, request: request, payload: payload)
    }

    // MARK: Batches (an extension for LimsQueue's own consumers; plain senaite.queue requests are unchanged)

    /// The `max` field of a batched pop or done: nil when absent.
    /// - Throws: 400 naming `max` unless it is an integer from 1 to ``Configuration/maxBatch``.
    func batchMax(_ payload: RequestPayload) throws -> Int? {
        guard let value = payload.fields["max"], value != .null else { return nil }
        let number: Double?
        switch value {
        case .int(let int): number = Double(int)
        case .double(let double): number = double
        // A form-encoded client sends numbers as text: decimal digits only (Double("0x10") reads hex, Int("+16") a sign;
        // tryouts found both).
        case .string(let text):
            number = !text.isEmpty && text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
                ? Int(text).map(Double.init) : nil
        default: number = nil
        }
        guard let number, number.isFinite, number.rounded() == number, number >= 1, number <= Double(configuration.maxBatch) else {
            throw QueueAPIError(.badRequest, "Field 'max' must be an integer from 1 to \(configuration.maxBatch)")
        }
        return Int(number)
    }

    /// The `tasks` field of a batched done or fail: a non-empty list of objects, each with a valid `task_uid` and an
    /// optional `lease_token` (and, for fail, an optional `error_message` and `retry`, whose defaults are the
    /// request's own `error_message` and `retry`, else "Unknown error" and true); the request's `consumer_id` applies
    /// to every item.
    /// - Throws: 400 naming the field (`tasks`, `tasks[i].task_uid`, ...) for a malformed list.
    func batchReports(_ payload: RequestPayload) throws -> [(lease: TaskLease, message: String?, retry: Bool)] {
        guard let items = payload.fields["tasks"]?.arrayValue, !items.isEmpty else {
            throw QueueAPIError(.badRequest, "Field 'tasks' must be a non-empty list of objects with task_uid and lease_token")
        }
        guard items.count <= configuration.maxBatch else {
            throw QueueAPIError(.badRequest, "Field 'tasks' may hold at most \(configuration.maxBatch) items")
        }
        let consumerID = try Self.checkedConsumerID(try payload.string("consumer_id"))
        let retryDefault = try payload.boolean("retry") ?? true
        let messageDefault = try payload.string("error_message")
        return try items.enumerated().map { index, item in
            guard let object = item.objectValue else {
                throw QueueAPIError(.badRequest, "Field 'tasks[\(index)]' must be an object with task_uid and lease_token")
            }
            guard let uid = object["task_uid"]?.stringValue, TaskUID.isValid(uid) else {
                throw QueueAPIError(.badRequest, "Field 'tasks[\(index)].task_uid' is missing or not a valid task uid")
            }
            func optionalString(_ key: String) throws -> String? {
                guard let value = object[key], value != .null else { return nil }
                guard let text = value.stringValue else { throw QueueAPIError(.badRequest, "Field 'tasks[\(index)].\(key)' must be a string") }
                return text
            }
            let lease = LeaseClaim(consumerID: consumerID, leaseToken: try optionalString("lease_token"))
            let retry = try RequestPayload.boolean(object["retry"], field: "tasks[\(index)].retry") ?? retryDefault
            return (TaskLease(taskUID: uid.lowercased(), lease: lease), try optionalString("error_message") ?? messageDefault, retry)
        }
    }

    /// `claimed` as an answer's `tasks` (complete task dicts) and `count`, recording the claims.
    func claimedBody(_ claimed: [QueueTask], consumerID: String, request: Request, context: QueueRequestContext) -> [String: JSONValue] {
        let now = clock.now()
        let base = Self.apiURL(request)
        for task in claimed {
            metrics.claimed(task, consumerID: consumerID, now: now)
            Self.debug(context.logger, "task claimed", uid: task.taskUID, name: task.name, ["lims.consumer": .string(consumerID)])
        }
        return ["tasks": .array(claimed.map { TaskInfo.complete($0, baseURL: base, withLease: true) }), "count": .int(claimed.count)]
    }

    /// The per-item outcome of a batched report: `done`/`failed` lists the uids applied, `refused` the others
    /// with the status and message a single report would have got.
    static func reportBody(_ reports: [TaskLease], _ results: [Result<QueueTask, any Error>], appliedKey: String) -> [String: JSONValue] {
        var applied: [JSONValue] = []
        var refused: [JSONValue] = []
        for (report, result) in zip(reports, results) {
            switch result {
            case .success:
                applied.append(.string(report.taskUID))
            case .failure(let error):
                let apiError = (error as? QueueError).map(QueueAPIError.init) ?? QueueAPIError(.internalServerError, "Not applied")
                refused.append(.object(["task_uid": .string(report.taskUID), "status": .int(apiError.status.code),
                                        "message": .string(apiError.message)]))
            }
        }
        return [appliedKey: .array(applied), "refused": .array(refused)]
    }

    /// Batched `done` (`tasks` given): finishes every listed task whose claim still holds (the others are answered
    /// in `refused`, each with the status a single done would have got) and, with `max`, claims up to `max`
    /// tasks for `consumer_id` in the same transaction (`next`), waiting up to `wait` seconds when none is
    /// claimable. Answer: `{"done": [uid], "refused": [{task_uid, status, message}], "next": [task]}`.
    func doneBatch(_ payload: RequestPayload, request: Request, context: QueueRequestContext) async throws -> Response {
        let reports = try batchReports(payload).map(\.lease)
        let max = try batchMax(payload)
        let now = clock.now()
        var body: [String: JSONValue]
        if let max {
            let consumerID = try Self.requireConsumerID(payload)
            let wait = try payload.number("wait", clampedTo: 0...configuration.maxPopWait) ?? 0
            metrics.polled(consumerID: consumerID, now: now)
            var (results, next) = try await perform { try await store.doneAndPop(reports, consumerID: consumerID, max: max, now: now) }
            recordDone(reports, results, context: context)
            if next.isEmpty, wait > 0 {
                next = try await perform { try await popWaiting(consumerID: consumerID, max: max, wait: wait, client: clientConnections.connection(for: context)) }
            }
            body = Self.reportBody(reports, results, appliedKey: "done")
            body["next"] = claimedBody(next, consumerID: consumerID, request: request, context: context)["tasks"]
        } else {
            let results = try await perform { try await store.done(reports, now: now) }
            recordDone(reports, results, context: context)
            body = Self.reportBody(reports, results, appliedKey: "done")
        }
        body["url"] = .string(Self.routeURL(request))
        return JSONResponse.make(body: body)
    }

    func recordDone(_ reports: [TaskLease], _ results: [Result<QueueTask, any Error>], context: QueueRequestContext) {
        let now = clock.now()
        for case .success(let task) in results {
            metrics.ended(task, outcome: .done, now: now)
            Self.debug(context.logger, "task done", uid: task.taskUID, name: task.name)
        }
    }

    /// Batched `fail` (`tasks` given, each with its own `error_message`): fails every listed task whose claim
    /// still holds. Answer: `{"failed": [uid], "refused": [{task_uid, status, message}]}`.
    func failBatch(_ payload: RequestPayload, request: Request, context: QueueRequestContext) async throws -> Response {
        let reports = try batchReports(payload).map { item in
            TaskFailureReport(task: item.lease, message: Self.failureMessage(item.message), retry: item.retry)
        }
        let results = try await perform { try await store.fail(reports, now: clock.now()) }
        let now = clock.now()
        for case .success(let task) in results {
            metrics.ended(task, outcome: .failed, now: now)
            Self.taskLogger(context.logger, uid: task.taskUID, name: task.name)
                .info("task failed", metadata: ["lims.task.status": .string(task.status?.rawValue ?? "-"), "lims.task.retries": .stringConvertible(task.retries)])
        }
        var body = Self.reportBody(reports.map(\.task), results, appliedKey: "failed")
        body["url"] = .string(Self.routeURL(request))
        return JSONResponse.make(body: body)
    }

    func taskMessage(_ message: String, _ task: QueueTask, request: Request, payload: RequestPayload) -> Response {
        JSONResponse.make(body: taskMessageBody(message, task, request: request, payload: payload))
    }

    func taskMessageBody(_ message: String, _ task: QueueTask, request: Request, payload: RequestPayload) -> [String: JSONValue] {
        [
            "message": .string(message),
            "task": TaskInfo.short(task, baseURL: Self.apiURL(request)),
            "url": .string(Self.routeURL(request)),
            "zeo": .string(payload.zeo),
        ]
    }
}

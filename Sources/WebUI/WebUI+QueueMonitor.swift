import Foundation
import Hummingbird
import LabActions
import LIMSCore
import QueueCore
import QueueServer

/// The queue monitor at `/queue_tasks` (Manage queue: Manager, LabManager): statistics, chart, filters, paged task
/// list, Requeue and Remove with a confirmation step. Refreshes itself every 5 seconds.
/// Source: senaite.queue `queue_tasks` view, reference 1.8.
extension WebUI {
    /// Rows per page (the original's page size).
    static let monitorPageSize = 20
    /// Seconds between the monitor's reloads.
    static let monitorRefreshSeconds = 5

    /// The list filters (``QueueCore/TaskListFilter``: active = queued or running, failed = failed, all = every task
    /// with ghosts).
    typealias MonitorFilter = TaskListFilter

    /// `GET /queue_tasks[?filter=active|failed|all&page=N]`.
    @Sendable func queueMonitor(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let (user, state) = try await signedIn(context)
        try Self.require(.manageQueue, user, in: state, for: "The queue monitor")
        let filter = MonitorFilter(rawValue: FormQuery(request).get("filter") ?? "") ?? .active
        let now = clock.now()
        // Aggregates and one page of rows: nothing here reads the whole queue or the window's history.
        let windowSeconds = 3600.0
        // Capped before any arithmetic: a page number near Int.max overflowed the offset and stopped the process.
        let requested = Self.requestedPage(request)
        var listing = try await queue.taskPage(filter, offset: (requested - 1) * Self.monitorPageSize, limit: Self.monitorPageSize)
        let pageCount = max(1, (listing.total + Self.monitorPageSize - 1) / Self.monitorPageSize)
        let page = min(requested, pageCount)
        if page != requested {
            listing = try await queue.taskPage(filter, offset: (page - 1) * Self.monitorPageSize, limit: Self.monitorPageSize)
        }
        let ghosts = listing.totals[.all, default: 0] - listing.totals[.active, default: 0] - listing.totals[.failed, default: 0]
        let queue = queue
        let window = try await monitorWindow.value(for: 0, now: now) {
            MonitorWindow(activity: try await queue.activity(now: now, windowSeconds: windowSeconds, bucketSeconds: 120),
                          perName: try await queue.kindStatistics(since: now - windowSeconds),
                          lastSeen: try await queue.consumersLastSeen(since: now - windowSeconds, now: now))
        }
        let statistics = QueueStatistics(counts: try await queue.counts(ghosts: false), ghosts: ghosts, activity: window.activity,
                                         perName: window.perName, running: try await queue.tasks(status: [.running], since: nil),
                                         lastSeen: window.lastSeen, polls: consumerPolls())
        let shown = listing.tasks
        let contexts = shown.map(\.contextUID)
        let contextState = try await repository.read { state, reader -> LabState in
            try await reader.load(contexts, into: &state)
            return state
        }
        let rows: [[String: Any]] = zip(shown, listing.positions).map { task, position in
            let status = task.status ?? .queued
            var row: [String: Any] = [
                "taskUID": task.taskUID, "shortUID": task.shortUID,
                "priority": task.priority, "position": position.map(String.init) ?? "",
                "created": Self.dateText(task.created), "name": task.name, "contextPath": task.contextPath,
                "username": task.username, "status": status.rawValue,
                "statusLabel": status.rawValue + (task.ghost ? " (ghost)" : ""), "ghost": task.ghost,
                "retries": task.retries, "error": task.errorMessage ?? "",
                "selectable": status != .running, "disabled": status == .running,
            ]
            if let href = Self.contextHref(task.contextUID, in: contextState) { row["contextHref"] = href }
            return row
        }
        let counts: [(String, String, Int)] = [
            ("queued", "queued", statistics.queued), ("running", "running", statistics.running),
            ("failed", "failed", statistics.failed), ("ghost", "ghosts", statistics.ghosts),
        ]
        let data: [String: Any] = [
            "statusCards": counts.map { ["key": $0.0, "label": $0.1, "count": $0.2] },
            "processedPerMinute": String(format: "%.2f", statistics.processedPerMinute),
            "processedLastHour": statistics.processedInWindow,
            "failuresLastHour": statistics.failuresInWindow,
            "chart": QueueChart.svg(statistics.buckets, windowSeconds: statistics.windowSeconds),
            "perName": statistics.perName.map { figures -> [String: Any] in
                // Times come from done attempts only: none done, no figure.
                func time(_ seconds: Double) -> String { QueueStatistics.duration(figures.processed > 0 ? seconds : nil) }
                return [
                    "name": figures.name, "done": figures.processed, "failed": figures.failed, "retried": figures.retried,
                    "waitMean": time(figures.waitMean), "waitP95": time(figures.waitP95),
                    "runMean": time(figures.runMean), "runP95": time(figures.runP95),
                ]
            },
            "consumers": statistics.consumers.map { consumer -> [String: Any] in
                var item: [String: Any] = ["id": consumer.id, "lastSeen": Self.dateText(consumer.lastSeen)]
                if let task = consumer.current {
                    item["current"] = [
                        "name": task.name, "shortUID": task.shortUID,
                        "since": QueueStatistics.duration(task.started.map { max(0, now - $0) }),
                    ]
                }
                return item
            },
            "filters": MonitorFilter.allCases.map { ["key": $0.rawValue, "label": $0.label, "href": "/queue_tasks?filter=\($0.rawValue)", "active": $0 == filter] },
            "filter": filter.rawValue,
            "rows": rows,
            "total": listing.total,
            "pages": Self.pages(total: listing.total, pageSize: Self.monitorPageSize, current: page) { "/queue_tasks?filter=\(filter.rawValue)&page=\($0)" },
        ]
        let chrome = await chrome(request, user: user, state: state, tab: "queue", refreshSeconds: Self.monitorRefreshSeconds)
        return renderer.page("queue_tasks", title: "Queue monitor", chrome: chrome, data: data)
    }

    /// `POST /queue_tasks` {action: requeue|remove, uids, filter, confirm?} (or {scope: requeue-all|remove-all,
    /// filter}: every task the filter lists): without `confirm=yes` answers the confirmation page; with it, requeues (retries reset to the setting) or removes each selected task and
    /// redirects back to the list. Running tasks are refused (they are not selectable).
    @Sendable func queueMonitorAction(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let (user, state) = try await signedIn(context)
        try Self.require(.manageQueue, user, in: state, for: "Requeue and Remove")
        var request = request
        let form = try await WebForm.read(&request, context: context)
        let filter = MonitorFilter(rawValue: form.value("filter") ?? "") ?? .active
        let back = "/queue_tasks?filter=\(filter.rawValue)"
        // `scope=requeue-all|remove-all`: every task the filter lists (bulk), else the selected `uids`.
        let scope = form.value("scope").flatMap { $0.isEmpty ? nil : $0 }
        let bulk = scope == "requeue-all" || scope == "remove-all"
        if scope != nil, !bulk { throw WebError.badRequest("Field 'scope' must be requeue-all or remove-all.") }
        guard let action = bulk ? scope.map({ String($0.dropLast(4)) }) : form.value("action"), ["requeue", "remove"].contains(action) else {
            throw WebError.badRequest("Field 'action' must be requeue or remove.")
        }
        var tasks: [QueueTask] = []
        if bulk {
            let statuses: Set<TaskStatus> = switch filter {
            case .active: [.queued, .running]
            case .failed: [.failed]
            case .all: Set(TaskStatus.allCases)
            }
            tasks = try await queue.tasks(status: statuses, since: nil).filter(filter.includes)
            guard !tasks.isEmpty else { return Self.redirect(back, message: "No task is listed.", error: true) }
        } else {
            var seen: Set<String> = []
            let uids = form.values("uids").filter { !$0.isEmpty && seen.insert($0).inserted }
            guard !uids.isEmpty else { return Self.redirect(back, message: "Select at least one task first.", error: true) }
            if let bad = uids.first(where: { !TaskUID.isValid($0) }) {
                throw WebError.badRequest("Field 'uids' has '\(bad.prefix(40))', not a task uid (32 hex characters).")
            }
            for uid in uids {
                if let task = try await queue.task(uid) { tasks.append(task) }
            }
        }
        let running = tasks.filter { $0.status == .running }
        let actionable = tasks.filter { $0.status != .running }
        let verb = action == "requeue" ? "Requeue" : "Remove"
        // Nothing to confirm (found by a fresh user: unknown uids got a "Yes, requeue 0" button).
        guard !actionable.isEmpty else {
            let message = running.isEmpty ? "None of the selected tasks is in the queue any more."
                : "The selected task\(running.count == 1 ? " is" : "s are") running; running tasks are left as they are."
            return Self.redirect(back, message: message, error: true)
        }
        if form.value("confirm") != "yes" {
            var fields: [[String: Any]] = [["name": "action", "value": action], ["name": "filter", "value": filter.rawValue]]
            if let scope, bulk {
                fields.append(["name": "scope", "value": scope])
            } else {
                fields += actionable.map { ["name": "uids", "value": $0.taskUID] }
            }
            var question = "\(verb) \(actionable.count) task\(actionable.count == 1 ? "" : "s")?"
            if action == "requeue" { question += " Retries are reset to the Maximum retries setting." }
            if !running.isEmpty { question += " \(running.count) running task(s) are left as they are." }
            let data: [String: Any] = [
                "heading": "\(verb) tasks", "question": question, "action": "/queue_tasks", "fields": fields,
                "items": actionable.prefix(50).map { "\($0.shortUID) · \($0.name) · \($0.contextPath) · \(($0.status ?? .queued).rawValue)" }
                    + (actionable.count > 50 ? ["… and \(actionable.count - 50) more"] : []),
                "hasItems": !actionable.isEmpty,
                "button": "Yes, \(verb.lowercased()) \(actionable.count)", "buttonClass": action == "remove" ? "danger" : "primary",
                "cancel": back,
            ]
            let chrome = await chrome(request, user: user, state: state, tab: "queue")
            return renderer.page("confirm", title: "\(verb) tasks", chrome: chrome, data: data)
        }
        let now = clock.now()
        var changed = 0, missing = 0
        for task in actionable {
            do {
                if action == "requeue" {
                    _ = try await queue.requeue(task.taskUID, lease: .none, now: now)
                } else {
                    _ = try await queue.delete(task.taskUID, now: now)
                }
                changed += 1
            } catch let error as QueueError where error.code == .notFound {
                missing += 1
            }
        }
        let done = action == "requeue" ? "Requeued" : "Removed"
        var message = "\(done) \(changed) task\(changed == 1 ? "" : "s")."
        if missing > 0 { message += " \(missing) had already left the queue." }
        if !running.isEmpty { message += " \(running.count) running task(s) were left as they are." }
        return Self.redirect(back, message: message)
    }

    /// `GET /queue_tasks/<task_uid>`: the task as stored (wire JSON), without its lease token.
    @Sendable func queueTaskDetail(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let (user, state) = try await signedIn(context)
        try Self.require(.manageQueue, user, in: state, for: "The queue monitor")
        let uid = context.parameters.get("task_uid") ?? ""
        guard let task = try await queue.task(uid) else { throw WebError.notFound("No task \(uid) in the queue.") }
        let json = JSONValue.object(task.sharedWireDictionary).prettyJSONString
        let chrome = await chrome(request, user: user, state: state, tab: "queue")
        return renderer.page("queue_task", title: "Task \(task.shortUID)", chrome: chrome,
                             data: ["shortUID": task.shortUID, "json": json])
    }

    /// The page of a task's context: a worksheet or a sample of the lab; nil for other contexts.
    static func contextHref(_ uid: String, in state: LabState) -> String? {
        if state.worksheets.peek(uid) != nil { return "/worksheets/\(uid)" }
        if state.samples.peek(uid) != nil { return "/samples/\(uid)" }
        return nil
    }
}

/// The monitor's aggregates of the recent history (``WebUI/monitorWindow``).
struct MonitorWindow: Sendable {
    var activity: QueueActivity
    var perName: [TaskKindStatistics]
    var lastSeen: [String: Double]
}

extension TaskListFilter {
    /// The monitor's tab label.
    var label: String {
        switch self {
        case .active: "Active tasks"
        case .failed: "Failed tasks"
        case .all: "All tasks +ghosts"
        }
    }
}

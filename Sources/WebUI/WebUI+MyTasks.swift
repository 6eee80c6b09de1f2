import Foundation
import Hummingbird
import LabActions
import LIMSCore
import LimsAPI
import QueueCore
import QueueServer

/// The user's own background work: `/my_tasks` lists their queued, running and failed tasks; every page shows
/// their failed work (what failed and why) with Retry and Dismiss until they act on it (``OwnTasks``).
/// Source: issue 13, finding 12.
extension WebUI {
    /// Failed tasks shown in the notice of every page, at most. Default: 5.
    static let failedWorkShown = 5

    /// The notice items for `user`'s failed work: `{taskUID, shortUID, name, context, error}`.
    func failedWork(of userid: String) async -> (items: [[String: Any]], total: Int) {
        guard let failed = try? await OwnTasks(queue: queue, clock: clock).failed(of: userid, limit: Self.failedWorkShown) else {
            return ([], 0)
        }
        return (failed.tasks.map(Self.taskRow), failed.total)
    }

    /// A task as a row of the pages.
    static func taskRow(_ task: QueueTask) -> [String: Any] {
        [
            "taskUID": task.taskUID, "shortUID": task.shortUID, "name": task.name, "context": task.contextPath,
            "status": (task.status ?? .queued).rawValue, "failed": task.status == .failed,
            "error": task.errorMessage ?? "", "created": dateText(task.created), "objects": task.uids.count,
        ]
    }

    /// `GET /my_tasks`: the user's queued, running and failed work.
    /// `GET /my_tasks[?page=N]`: the user's queued, running and failed work, newest first, ``myTasksPageSize`` a page.
    @Sendable func myTasksPage(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let (user, state) = try await signedIn(context)
        let own = OwnTasks(queue: queue, clock: clock)
        let total = try await own.count(of: user.userid)
        let pageCount = max(1, (total + Self.myTasksPageSize - 1) / Self.myTasksPageSize)
        let page = min(Self.requestedPage(request), pageCount)
        let tasks = try await own.tasks(of: user.userid, offset: (page - 1) * Self.myTasksPageSize, limit: Self.myTasksPageSize)
        let active = try await own.count(of: user.userid, status: [.queued, .running]) > 0
        let chrome = await chrome(request, user: user, state: state, tab: "my_tasks",
                                  refreshSeconds: active ? Self.backgroundRefreshSeconds : nil)
        return renderer.page("my_tasks", title: "My background work", chrome: chrome, data: [
            "rows": tasks.map(Self.taskRow), "hasRows": !tasks.isEmpty, "total": total,
            "pages": Self.pages(total: total, pageSize: Self.myTasksPageSize, current: page) { "/my_tasks?page=\($0)" },
        ])
    }

    /// Rows of a `/my_tasks` page.
    static let myTasksPageSize = 50

    /// `POST /my_tasks` {action: retry|dismiss, task_uid, back?}: acts on a failed task of the user's own and
    /// returns to `back` (a local path) or `/my_tasks`.
    @Sendable func myTasksAction(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let (user, _) = try await signedIn(context)
        var request = request
        let form = try await WebForm.read(&request, context: context)
        guard let action = form.value("action").flatMap(OwnTasks.Action.init(rawValue:)) else {
            throw WebError.badRequest("Field 'action' must be retry or dismiss.")
        }
        let back = Self.safeTarget(form.value("back") ?? "/my_tasks")
        do {
            let task = try await OwnTasks(queue: queue, clock: clock).act(action, taskUID: form.value("task_uid") ?? "", userid: user.userid)
            let done = action == .retry ? "queued again" : "dismissed"
            return Self.redirect(back, message: "Task \(task.shortUID) (\(task.name)) \(done).")
        } catch {
            return Self.redirect(back, message: Self.actionErrorText(error), error: true)
        }
    }
}

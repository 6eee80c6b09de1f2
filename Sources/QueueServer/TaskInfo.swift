import Foundation
import QueueCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The JSON shapes of tasks in responses (reference 1.1): short info and complete info, both with `task_url`.
enum TaskInfo {
    /// `task_uid, name, priority, status, created (time.ctime string), retries, username, task_url`.
    static func short(_ task: QueueTask, baseURL: String) -> JSONValue {
        .object([
            "task_uid": .string(task.taskUID),
            "name": .string(task.name),
            "priority": .int(task.priority),
            "status": task.status.map { .string($0.rawValue) } ?? .null,
            "created": .string(ctime(task.created)),
            "retries": .int(task.retries),
            "username": .string(task.username),
            "task_url": .string(taskURL(task.taskUID, baseURL: baseURL)),
        ])
    }

    /// The whole task dict plus `task_url`. `lease_token` only with `withLease` (the answer to the claim that
    /// made it): a reader of the task cannot present its claim. (A report without any claim is still accepted,
    /// as senaite.queue's clients send them; the token protects against stale reports, not key holders.)
    static func complete(_ task: QueueTask, baseURL: String, withLease: Bool = false) -> JSONValue {
        var dict = withLease ? task.wireDictionary : task.sharedWireDictionary
        dict["task_url"] = .string(taskURL(task.taskUID, baseURL: baseURL))
        return .object(dict)
    }

    static func info(_ task: QueueTask, complete: Bool, baseURL: String) -> JSONValue {
        complete ? Self.complete(task, baseURL: baseURL) : short(task, baseURL: baseURL)
    }

    /// `{api URL}/queue_server/{task_uid}`: `baseURL` is the API URL the request came in on
    /// (``QueueServerController/apiURL(_:)``), so a client that uses the site path (`/senaite/@@API/...`) gets it
    /// back (issue 13, finding 20).
    static func taskURL(_ uid: String, baseURL: String) -> String {
        "\(baseURL)/queue_server/\(uid)"
    }

    /// Python's `time.ctime(seconds)` in the server's local time zone, e.g. `"Sun Nov 29 20:16:28 2026"`.
    static func ctime(_ seconds: Double) -> String {
        guard seconds.isFinite, abs(seconds) < 1e15 else { return "?" }
        var time = time_t(seconds.rounded(.down))
        var parts = tm()
        localtime_r(&time, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let day = String(parts.tm_mday)
        let paddedDay = day.count == 1 ? " " + day : day
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[Int(parts.tm_wday)]) \(months[Int(parts.tm_mon)]) \(paddedDay) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) \(parts.tm_year + 1900)"
    }
}

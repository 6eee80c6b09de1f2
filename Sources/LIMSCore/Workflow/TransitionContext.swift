/// Who performs a transition, from where, and what the queue currently holds.
///
/// - `worksheetUID`: the worksheet the user acts from (SENAITE's request `ws_uid`); `assign`/`unassign` need it.
/// - `queuedUIDs`: uids that appear in QUEUED (not running) tasks — the input of senaite.queue's pre-guards.
/// - `insideQueuedTask`: true while a consumer processes a task; the sample pre-guard is then bypassed (a
///   consumer is never blocked by its own task). The worksheet pre-guard has no bypass.
/// - `uids`: generator for objects created by after-events (retests).
///
/// Source: senaite.queue `adapters/guards.py` and the `queue_tuid` request marker, reference 1.11; bug 5.1.
public struct TransitionContext: Sendable {
    public var user: User
    public var worksheetUID: String?
    public var queuedUIDs: Set<String>
    public var insideQueuedTask: Bool
    public var uids: any UIDGenerator
    /// Set by after-events acting on the system's behalf (retests, cascades): permission checks are skipped,
    /// state guards still apply.
    var systemAction = false

    public init(
        user: User, worksheetUID: String? = nil, queuedUIDs: Set<String> = [], insideQueuedTask: Bool = false,
        uids: any UIDGenerator
    ) {
        self.user = user
        self.worksheetUID = worksheetUID
        self.queuedUIDs = queuedUIDs
        self.insideQueuedTask = insideQueuedTask
        self.uids = uids
    }

    /// A copy acting from `worksheetUID`.
    public func onWorksheet(_ worksheetUID: String?) -> TransitionContext {
        var copy = self
        copy.worksheetUID = worksheetUID
        return copy
    }

    /// A copy acting on the system's behalf.
    func asSystem() -> TransitionContext {
        var copy = self
        copy.systemAction = true
        return copy
    }
}

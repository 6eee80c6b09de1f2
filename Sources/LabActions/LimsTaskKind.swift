/// The LIMS task kinds: the names the actions queue and the consumers' handlers serve, written once.
///
/// Source: senaite.queue's task names and worksheet action adapters (reference 1.12-1.13).
public enum LimsTaskKind {
    /// Assigns analyses to the task's worksheet (`uids`, optional `slots`).
    public static let assignAnalyses = "task_assign_analyses"
    /// The chunked security re-index walk of a client's subtree.
    public static let reindexObjectSecurity = "task_reindex_object_security"
    /// Any workflow transition (`action`) on `uids`, or on the context when `uids` is empty.
    public static let genericAction = "task_generic_action"
    /// The worksheet actions that go through the queue while it is ready, in the order the pages show them.
    public static let queuedWorksheetActions = ["submit", "verify", "retract", "reject", "unassign"]

    /// The task of a queued worksheet action: `task_action_<action>`.
    public static func worksheetAction(_ action: String) -> String { "task_action_\(action)" }

    /// The task names a generic workflow transition serves: `task_generic_action` and each worksheet action's.
    public static var workflowTaskNames: [String] { [genericAction] + queuedWorksheetActions.map(worksheetAction) }

    /// Every LIMS task name.
    public static var all: [String] { workflowTaskNames + [assignAnalyses, reindexObjectSecurity] }
}

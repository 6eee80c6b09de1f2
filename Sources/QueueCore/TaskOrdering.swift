/// The queue's order: which queued task goes first.
///
/// Ascending by
/// 1. the position of the task's `name` (else its `action`) in the `top_priority_tasks` setting; tasks not
///    listed come after all listed ones;
/// 2. `created + 300 * priority` (a task of priority p waits as if created 300·p seconds later);
/// 3. `context_uid`, so tasks of one context stay together.
///
/// Source: senaite.queue `cmp_tasks`, reference 1.2. Unlike the original, the order holds after
/// fail/timeout/requeue too (reference 4): stores keep the rank and sort key in indexed columns.
public enum TaskOrdering {
    /// Seconds one priority step is worth. Source: reference 1.2 (P = t + 300·p).
    public static let secondsPerPriority: Double = 300

    /// Rank 1 of the order: index of `name`, else of `action`, in `topPriority`; `topPriority.count` when absent.
    public static func topRank(of task: QueueTask, topPriority: [String]) -> Int {
        if let index = topPriority.firstIndex(of: task.name) { return index }
        if let action = task.action, let index = topPriority.firstIndex(of: action) { return index }
        return topPriority.count
    }

    /// Rank 2 of the order: `created + 300 * priority`, seconds.
    public static func sortKey(of task: QueueTask) -> Double {
        task.created + secondsPerPriority * Double(task.priority)
    }

    /// True if `lhs` goes before `rhs` in the queue.
    public static func precedes(_ lhs: QueueTask, _ rhs: QueueTask, topPriority: [String]) -> Bool {
        let lhsRank = topRank(of: lhs, topPriority: topPriority)
        let rhsRank = topRank(of: rhs, topPriority: topPriority)
        if lhsRank != rhsRank { return lhsRank < rhsRank }
        let lhsKey = sortKey(of: lhs), rhsKey = sortKey(of: rhs)
        if lhsKey != rhsKey { return lhsKey < rhsKey }
        return lhs.contextUID < rhs.contextUID
    }
}

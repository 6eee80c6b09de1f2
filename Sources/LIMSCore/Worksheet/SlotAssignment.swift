/// A routine analysis chosen for a worksheet slot by a template, not yet assigned (the queue enqueues these
/// as `task_assign_analyses` with `uids` + `slots`).
///
/// Source: senaite.queue `_apply_worksheet_template_routine_analyses` monkey, reference 1.12.
public struct SlotAssignment: Sendable, Codable, Equatable, Hashable {
    public let analysisUID: String
    /// Target position, 1-based.
    public let slot: Int

    public init(analysisUID: String, slot: Int) {
        self.analysisUID = analysisUID
        self.slot = slot
    }
}

/// Names of the guards that can refuse a transition or an operation, as reported in
/// ``TransitionOutcome/refused(guard:reason:)`` and ``LabError/guardID``.
///
/// Source: guard functions of senaite.core (`bika/lims/workflow/*/guards.py`) and senaite.queue
/// (`adapters/guards.py`), reference 1.11 and 3.1-3.3.
public enum GuardID {
    /// The object does not exist.
    public static let exists = "exists"
    /// The transition is not possible from the object's current state (or not part of its workflow).
    public static let state = "state"
    /// The user lacks the permission the transition requires.
    public static let permission = "permission"
    /// senaite.queue sample pre-guard: the sample or one of its analyses is in a queued task.
    public static let queueSample = "queue.sample"
    /// senaite.queue worksheet pre-guard: the worksheet or one of its analyses is in a queued task.
    public static let queueWorksheet = "queue.worksheet"
    /// A user's direct action on an analysis that a queued or running task names (``LabActions``, like the result
    /// entry's refusal): the task would otherwise act on an analysis that moved under it, e.g. submit one the user
    /// unassigned meanwhile. Tasks' own work is not held (reference 1.11 guards samples and worksheets only).
    public static let queueAnalysis = "queue.analysis"
    /// `Worksheet.addAnalysis`: the worksheet must be open or to_be_verified.
    public static let worksheetAcceptsAnalyses = "worksheet.accepts_analyses"
    /// Duplicates and reference analyses are added to open worksheets only, into a usable slot.
    public static let worksheetSlot = "worksheet.slot"
    /// Reference sample validity (not expired, not disposed, supports the services).
    public static let referenceSample = "reference_sample"

    public static let analysisInitialize = "analysis.initialize"
    public static let analysisAssign = "analysis.assign"
    public static let analysisUnassign = "analysis.unassign"
    public static let analysisSubmit = "analysis.submit"
    public static let analysisVerify = "analysis.verify"
    public static let analysisMultiVerify = "analysis.multi_verify"
    public static let analysisRetest = "analysis.retest"
    public static let analysisRetract = "analysis.retract"
    public static let analysisReject = "analysis.reject"
    public static let analysisCancel = "analysis.cancel"
    public static let analysisReinstate = "analysis.reinstate"
    public static let worksheetSubmit = "worksheet.submit"
    public static let worksheetVerify = "worksheet.verify"
    public static let worksheetRollbackToOpen = "worksheet.rollback_to_open"
    public static let worksheetRemove = "worksheet.remove"
    public static let worksheetRetract = "worksheet.retract"
    public static let sampleSubmit = "sample.submit"
    public static let sampleVerify = "sample.verify"
    public static let sampleRollbackToReceive = "sample.rollback_to_receive"
}

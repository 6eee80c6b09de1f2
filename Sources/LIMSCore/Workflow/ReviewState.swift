/// Review-state names, persisted as text exactly as SENAITE spells them.
///
/// Source: senaite.core workflow definitions, reference 3.1-3.2.
public enum ReviewState {
    // Analyses
    /// Created, sample not yet received. Moved out by `initialize` (sample receipt) or `cancel`.
    public static let registered = "registered"
    /// Ready for a worksheet. In: `initialize`, `unassign`, `reinstate`. Out: `assign`, `submit`, `reject`, `cancel`.
    public static let unassigned = "unassigned"
    /// On a worksheet, no result submitted. In: `assign`. Out: `unassign`, `submit`, `reject`.
    public static let assigned = "assigned"
    /// Result submitted (analyses, worksheets and samples). Out: `verify`, `retract`, `reject`, rollbacks.
    public static let toBeVerified = "to_be_verified"
    /// Final for analyses, worksheets and samples.
    public static let verified = "verified"
    /// Result withdrawn; a retest replaces it. Final.
    public static let retracted = "retracted"
    /// Rejected; final.
    public static let rejected = "rejected"
    /// Cancelled before work; `reinstate` brings it back.
    public static let cancelled = "cancelled"
    // Worksheets
    /// Worksheet accepting analyses. Out: `submit`, `remove`.
    public static let open = "open"
    /// Transient state of a worksheet being removed (the object is deleted by `after_remove`).
    public static let removed = "removed"
    // Samples
    /// Registered, not received. Out: `receive`.
    public static let sampleDue = "sample_due"
    /// Received. Out: `submit`.
    public static let sampleReceived = "sample_received"

    /// States of an analysis that count as "submitted" (result entered and sent for verification or beyond).
    public static let submittedStates: Set<String> = [toBeVerified, verified, "published"]
    /// States of an analysis that count as "verified".
    public static let verifiedStates: Set<String> = [verified, "published"]
    /// States of an analysis that worksheet and sample derivations ignore.
    public static let inactiveAnalysisStates: Set<String> = [retracted, rejected, cancelled]
}

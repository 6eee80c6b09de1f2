/// The workflow definitions of this LIMS, as data.
///
/// Deliberate reductions (documented deviations from senaite.core 1.3):
/// - the worksheet's `attachment_due` state and automatic `attach` are folded into `submit` (no attachments);
/// - no `publish` (reports are out of scope), no worksheet `reject`, no calculation dependencies;
/// - `unassign` is not offered from `retracted`/`rejected`/`cancelled`: retracted analyses stay on their
///   worksheet as history next to their retest, rejected ones already left it at `after_reject`;
/// - worksheet `rollback_to_open` is also allowed when no active analysis is left (SENAITE's guard needs an
///   `assigned` analysis, which left emptied worksheets in to_be_verified).
///
/// Source: senaite.core `bika_analysis_workflow`, `bika_duplicateanalysis_workflow`,
/// `bika_referenceanalysis_workflow`, `bika_worksheet_workflow`, `bika_ar_workflow`; reference 3.1-3.2.
public enum LabWorkflows {
    typealias T = TransitionDefinition
    private static let S = ReviewState.self

    /// Routine analyses: `bika_analysis_workflow`.
    public static let analysis = WorkflowDefinition(
        id: "bika_analysis_workflow",
        initialState: S.registered,
        states: [S.registered, S.unassigned, S.assigned, S.toBeVerified, S.verified, S.retracted, S.rejected,
                 S.cancelled],
        transitions: [
            T("initialize", from: [S.registered], to: S.unassigned, guardID: GuardID.analysisInitialize),
            T("assign", from: [S.unassigned], to: S.assigned, guardID: GuardID.analysisAssign,
              permission: .manageWorksheets),
            T("unassign", from: [S.assigned], to: S.unassigned, guardID: GuardID.analysisUnassign,
              permission: .manageWorksheets, beforeEvent: "before_unassign", afterEvent: "after_unassign"),
            T("submit", from: [S.registered, S.unassigned, S.assigned], to: S.toBeVerified,
              guardID: GuardID.analysisSubmit, permission: .submit, afterEvent: "after_submit"),
            T("verify", from: [S.toBeVerified], to: S.verified, guardID: GuardID.analysisVerify,
              permission: .verify, afterEvent: "after_verify"),
            T("multi_verify", from: [S.toBeVerified], to: S.toBeVerified, guardID: GuardID.analysisMultiVerify,
              permission: .verify, afterEvent: "after_multi_verify"),
            T("retest", from: [S.toBeVerified], to: S.verified, guardID: GuardID.analysisRetest,
              permission: .verify, afterEvent: "after_retest"),
            T("retract", from: [S.toBeVerified], to: S.retracted, guardID: GuardID.analysisRetract,
              permission: .retract, afterEvent: "after_retract"),
            T("reject", from: [S.unassigned, S.assigned, S.toBeVerified], to: S.rejected,
              guardID: GuardID.analysisReject, permission: .reject, beforeEvent: "before_reject",
              afterEvent: "after_reject"),
            T("cancel", from: [S.registered, S.unassigned], to: S.cancelled, guardID: GuardID.analysisCancel,
              permission: .cancel, afterEvent: "after_cancel"),
            T("reinstate", from: [S.cancelled], to: S.unassigned, guardID: GuardID.analysisReinstate,
              permission: .cancel),
        ])

    /// Duplicates: `bika_duplicateanalysis_workflow` (start `assigned`; unassigning deletes them).
    public static let duplicateAnalysis = WorkflowDefinition(
        id: "bika_duplicateanalysis_workflow",
        initialState: S.assigned,
        states: [S.assigned, S.unassigned, S.toBeVerified, S.verified, S.retracted],
        transitions: [
            T("unassign", from: [S.assigned, S.toBeVerified], to: S.unassigned, guardID: GuardID.analysisUnassign,
              permission: .manageWorksheets, afterEvent: "after_unassign"),
            T("submit", from: [S.assigned], to: S.toBeVerified, guardID: GuardID.analysisSubmit,
              permission: .submit, afterEvent: "after_submit"),
            T("verify", from: [S.toBeVerified], to: S.verified, guardID: GuardID.analysisVerify,
              permission: .verify, afterEvent: "after_verify"),
            T("multi_verify", from: [S.toBeVerified], to: S.toBeVerified, guardID: GuardID.analysisMultiVerify,
              permission: .verify, afterEvent: "after_multi_verify"),
            T("retract", from: [S.toBeVerified], to: S.retracted, guardID: GuardID.analysisRetract,
              permission: .retract, afterEvent: "after_retract"),
        ])

    /// Blanks and controls: `bika_referenceanalysis_workflow` (duplicate workflow + `reject`).
    public static let referenceAnalysis = WorkflowDefinition(
        id: "bika_referenceanalysis_workflow",
        initialState: S.assigned,
        states: [S.assigned, S.unassigned, S.toBeVerified, S.verified, S.retracted, S.rejected],
        transitions: duplicateAnalysis.transitions + [
            T("reject", from: [S.assigned, S.toBeVerified], to: S.rejected, guardID: GuardID.analysisReject,
              permission: .reject, afterEvent: "after_reject"),
        ])

    /// Worksheets: `bika_worksheet_workflow`. `submit`, `verify` and `rollback_to_open` are automatic
    /// (no permission; derived from the analyses by their guards).
    public static let worksheet = WorkflowDefinition(
        id: "bika_worksheet_workflow",
        initialState: S.open,
        states: [S.open, S.toBeVerified, S.verified, S.removed],
        transitions: [
            T("submit", from: [S.open], to: S.toBeVerified, guardID: GuardID.worksheetSubmit),
            T("verify", from: [S.toBeVerified], to: S.verified, guardID: GuardID.worksheetVerify),
            T("rollback_to_open", from: [S.toBeVerified], to: S.open, guardID: GuardID.worksheetRollbackToOpen),
            T("retract", from: [S.toBeVerified], to: S.open, guardID: GuardID.worksheetRetract,
              permission: .retract, afterEvent: "after_retract_worksheet"),
            T("remove", from: [S.open], to: S.removed, guardID: GuardID.worksheetRemove,
              permission: .manageWorksheets, afterEvent: "after_remove"),
        ])

    /// Samples: the part of `bika_ar_workflow` this project needs. `submit`, `verify` and
    /// `rollback_to_receive` are automatic (derived from the sample's analyses).
    public static let sample = WorkflowDefinition(
        id: "bika_ar_workflow",
        initialState: S.sampleDue,
        states: [S.sampleDue, S.sampleReceived, S.toBeVerified, S.verified],
        transitions: [
            T("receive", from: [S.sampleDue], to: S.sampleReceived, permission: .receive,
              afterEvent: "after_receive"),
            T("submit", from: [S.sampleReceived], to: S.toBeVerified, guardID: GuardID.sampleSubmit),
            T("verify", from: [S.toBeVerified], to: S.verified, guardID: GuardID.sampleVerify),
            T("rollback_to_receive", from: [S.toBeVerified], to: S.sampleReceived,
              guardID: GuardID.sampleRollbackToReceive),
        ])

    /// Every workflow of the lab.
    public static let all = [analysis, duplicateAnalysis, referenceAnalysis, worksheet, sample]

    /// The transition ids of every workflow, sorted.
    public static let transitionIDs: [String] = Set(all.flatMap { $0.transitions.map(\.id) }).sorted()

    /// The workflow bound to `object`, nil for objects without one (setup objects, users, clients).
    public static func workflow(for object: any LabObject) -> WorkflowDefinition? {
        workflow(for: type(of: object).portalType)
    }

    /// The workflow bound to a portal type, nil if none.
    public static func workflow(for portalType: PortalType) -> WorkflowDefinition? {
        switch portalType {
        case .analysis: analysis
        case .duplicateAnalysis: duplicateAnalysis
        case .referenceAnalysis: referenceAnalysis
        case .worksheet: worksheet
        case .sample: sample
        default: nil
        }
    }
}

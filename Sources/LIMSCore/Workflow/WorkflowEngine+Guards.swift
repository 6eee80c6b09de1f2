/// The transition guards. Each returns nil when the transition may happen.
///
/// Source: senaite.core `bika/lims/workflow/analysis/guards.py` and `worksheet/guards.py`, reference 3.1-3.2;
/// sample guards derived from the analyses the same way (reference 3.1 events: "sample tries submit/verify/
/// rollback_to_receive").
extension WorkflowEngine {
    static func evaluateGuard(
        _ guardID: String, transition: String, uid: String, context: TransitionContext, state: LabState
    ) -> GuardRefusal? {
        let label = state.label(uid)
        let user = context.user
        switch guardID {
        case GuardID.analysisInitialize:
            guard let sample = state.sample(of: uid), sample.dateReceived != nil else {
                return GuardRefusal(guardID, "\(label) cannot start before its sample is received")
            }
            return nil

        case GuardID.analysisAssign:
            guard let analysis = state.analysisRecord(uid) else { return nil }
            guard let wsUID = context.worksheetUID, state.worksheets[wsUID] != nil else {
                return GuardRefusal(guardID, "\(label) can only be assigned from a worksheet")
            }
            guard let sample = state.sample(of: uid), sample.dateReceived != nil else {
                return GuardRefusal(guardID, "\(label) cannot be assigned: its sample has not been received")
            }
            if let other = analysis.worksheetUID {
                return GuardRefusal(guardID, "\(label) is already on worksheet \(state.label(other))")
            }
            return worksheetManagementRefusal(guardID, user: user, context: context, state: state)

        case GuardID.analysisUnassign:
            guard let analysis = state.analysisRecord(uid) else { return nil }
            guard let wsUID = context.worksheetUID, state.worksheets[wsUID] != nil else {
                return GuardRefusal(guardID, "\(label) can only be unassigned from a worksheet")
            }
            guard analysis.worksheetUID != nil else {
                return GuardRefusal(guardID, "\(label) is not on a worksheet")
            }
            return worksheetManagementRefusal(guardID, user: user, context: context, state: state)

        case GuardID.analysisSubmit:
            guard let analysis = state.analysisRecord(uid) else { return nil }
            guard analysis.hasResult else {
                return GuardRefusal(guardID, "\(label) has no result to submit")
            }
            if analysis.kind != .reference {
                guard let sample = state.sample(of: uid), sample.dateReceived != nil else {
                    return GuardRefusal(guardID, "\(label) cannot be submitted: its sample has not been received")
                }
            }
            if !state.settings.allowToSubmitNotAssigned, !user.isLabManager, !context.systemAction,
               analysis.analyst != user.userid {
                return GuardRefusal(guardID,
                                    "\(label) is assigned to \(analysis.analyst ?? "nobody"); only that analyst or a lab manager may submit it")
            }
            return nil

        case GuardID.analysisVerify, GuardID.analysisMultiVerify, GuardID.analysisRetest:
            guard let analysis = state.analysisRecord(uid) else { return nil }
            let remaining = state.settings.numberOfRequiredVerifications - analysis.verifiedBy.count
            if guardID == GuardID.analysisMultiVerify, remaining <= 1 {
                return GuardRefusal(guardID, "\(label) needs only one more verification; use verify")
            }
            if guardID != GuardID.analysisMultiVerify, remaining > 1 {
                return GuardRefusal(guardID, "\(label) still needs \(remaining) verifications; use multi_verify")
            }
            if analysis.submittedBy == user.userid, !state.settings.selfVerificationEnabled {
                return GuardRefusal(guardID,
                                    "\(user.userid) submitted \(label) and self-verification is disabled in the lab settings; another user must verify it")
            }
            if analysis.verifiedBy.contains(user.userid) {
                return GuardRefusal(guardID, "\(user.userid) has already verified \(label)")
            }
            return nil

        case GuardID.analysisRetract, GuardID.analysisReject, GuardID.analysisCancel, GuardID.analysisReinstate:
            // No calculation dependencies in this project: nothing else to check.
            return nil

        case GuardID.worksheetSubmit, GuardID.worksheetVerify:
            guard let worksheet = state.worksheets[uid] else { return nil }
            let active = activeAnalyses(onWorksheet: worksheet, state: state)
            let needed = guardID == GuardID.worksheetSubmit ? ReviewState.submittedStates : ReviewState.verifiedStates
            let word = guardID == GuardID.worksheetSubmit ? "submitted" : "verified"
            guard !active.isEmpty else {
                return GuardRefusal(guardID, "Worksheet \(worksheet.id) has no analyses")
            }
            if let pending = active.first(where: { !needed.contains($0.reviewState) }) {
                return GuardRefusal(guardID, "Worksheet \(worksheet.id) still has analyses that are not \(word), e.g. \(state.label(pending.uid))")
            }
            return nil

        case GuardID.worksheetRollbackToOpen:
            guard let worksheet = state.worksheets[uid] else { return nil }
            let active = activeAnalyses(onWorksheet: worksheet, state: state)
            if active.isEmpty || active.contains(where: { $0.reviewState == ReviewState.assigned }) { return nil }
            return GuardRefusal(guardID, "Worksheet \(worksheet.id) has no analysis waiting for a result")

        case GuardID.worksheetRemove:
            guard let worksheet = state.worksheets[uid] else { return nil }
            guard worksheet.layout.isEmpty else {
                return GuardRefusal(guardID, "Worksheet \(worksheet.id) still holds analyses; remove them first")
            }
            // Removing a worksheet is managing worksheets: with RestrictWorksheetManagement, lab managers only
            // (whoever the worksheet's analyst is), as for creating one.
            return worksheetManagementRefusal(guardID, user: user, context: context, state: state)

        case GuardID.worksheetRetract:
            guard let worksheet = state.worksheets[uid] else { return nil }
            let active = activeAnalyses(onWorksheet: worksheet, state: state)
            if let blocking = active.first(where: { $0.reviewState != ReviewState.toBeVerified }) {
                return GuardRefusal(guardID, "Worksheet \(worksheet.id) cannot be retracted: \(state.label(blocking.uid)) is \(blocking.reviewState)")
            }
            return active.isEmpty ? GuardRefusal(guardID, "Worksheet \(worksheet.id) has no analyses to retract") : nil

        case GuardID.sampleSubmit, GuardID.sampleVerify:
            guard let sample = state.samples[uid] else { return nil }
            let active = state.analyses(ofSample: uid).filter { !ReviewState.inactiveAnalysisStates.contains($0.reviewState) }
            let needed = guardID == GuardID.sampleSubmit ? ReviewState.submittedStates : ReviewState.verifiedStates
            let word = guardID == GuardID.sampleSubmit ? "submitted" : "verified"
            guard !active.isEmpty else { return GuardRefusal(guardID, "Sample \(sample.id) has no active analyses") }
            if let pending = active.first(where: { !needed.contains($0.reviewState) }) {
                return GuardRefusal(guardID, "Sample \(sample.id) still has analyses that are not \(word), e.g. \(pending.id)")
            }
            return nil

        case GuardID.sampleRollbackToReceive:
            guard let sample = state.samples[uid] else { return nil }
            let active = state.analyses(ofSample: uid).filter { !ReviewState.inactiveAnalysisStates.contains($0.reviewState) }
            if active.contains(where: { !ReviewState.submittedStates.contains($0.reviewState) }) { return nil }
            return GuardRefusal(guardID, "Sample \(sample.id) has no analysis waiting for a result")

        default:
            return GuardRefusal(guardID, "Unknown guard \(guardID)")
        }
    }

    /// Analyses on the worksheet that its derived transitions consider (retracted/rejected/cancelled ignored).
    /// Source: bug reports 5.8 (senaite.core #850/#977).
    static func activeAnalyses(onWorksheet worksheet: Worksheet, state: LabState) -> [any AnalysisRecord] {
        worksheet.layout.compactMap { state.analysisRecord($0.analysisUID) }
            .filter { !ReviewState.inactiveAnalysisStates.contains($0.reviewState) }
    }

    /// SENAITE `is_worksheet_management_allowed`: with `RestrictWorksheetManagement` only LabManager/Manager.
    static func worksheetManagementRefusal(
        _ guardID: String, user: User, context: TransitionContext, state: LabState
    ) -> GuardRefusal? {
        if context.systemAction || !state.settings.restrictWorksheetManagement || user.isLabManager { return nil }
        return GuardRefusal(guardID,
                            "Only lab managers may manage worksheets (restricted in the lab settings); \(user.userid) is not one")
    }
}

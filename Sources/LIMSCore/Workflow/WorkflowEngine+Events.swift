/// The before/after events of the workflows.
///
/// Source: senaite.core `bika/lims/workflow/analysis/events.py`, `worksheet/events.py`,
/// `analysisrequest/events.py`, reference 3.1-3.2; retests on the same worksheet per bug 5.8.
extension WorkflowEngine {
    static func runEvent(
        _ event: String, on uid: String, context: TransitionContext, state: inout LabState, now: Double,
        events: inout [LabEvent]
    ) {
        let user = context.user.userid
        let system = context.asSystem()
        switch event {
        case "after_receive":
            try? state.modify(Sample.self, uid) { $0.dateReceived = now }
            for analysis in state.analyses(ofSample: uid) where analysis.reviewState == ReviewState.registered {
                attempt("initialize", on: analysis.uid, context: system, state: &state, now: now, events: &events)
            }

        case "after_submit":
            try? state.modifyAnalysis(uid) {
                $0.submittedBy = user
                $0.dateSubmitted = now
            }
            promote("submit", from: uid, context: context, state: &state, now: now, events: &events)

        case "after_verify":
            try? state.modifyAnalysis(uid) {
                $0.verifiedBy.append(user)
                $0.dateVerified = now
            }
            promote("verify", from: uid, context: context, state: &state, now: now, events: &events)

        case "after_multi_verify":
            try? state.modifyAnalysis(uid) {
                $0.verifiedBy.append(user)
                $0.dateVerified = now
            }

        case "after_retract", "after_retest":
            if event == "after_retest" {
                try? state.modifyAnalysis(uid) {
                    $0.verifiedBy.append(user)
                    $0.dateVerified = now
                }
            }
            let worksheetUID = state.analysisRecord(uid)?.worksheetUID
            createRetest(of: uid, context: system, state: &state, now: now, events: &events)
            if let sample = state.sample(of: uid), state.analysisRecord(uid)?.kind == .routine {
                attempt("rollback_to_receive", on: sample.uid, context: context, state: &state, now: now, events: &events)
            }
            if let worksheetUID {
                attempt("rollback_to_open", on: worksheetUID, context: context, state: &state, now: now, events: &events)
                if event == "after_retest" {
                    attempt("verify", on: worksheetUID, context: context, state: &state, now: now, events: &events)
                }
            }

        case "before_unassign", "before_reject":
            // Duplicates of this analysis on its worksheet are unassigned (and so deleted) first.
            if let sampleUID = state.analysisRecord(uid)?.sampleUID {
                state.scope?.requireComplete("duplicates:\(sampleUID)", what: "the duplicates of sample \(sampleUID)")
            }
            let duplicates = state.duplicateAnalyses.loaded
                .filter { $0.analysisUID == uid && $0.worksheetUID != nil }
                .sorted { $0.id < $1.id }
            for duplicate in duplicates {
                attempt("unassign", on: duplicate.uid, context: system.onWorksheet(duplicate.worksheetUID),
                        state: &state, now: now, events: &events)
            }

        case "after_unassign":
            if let worksheetUID = removeFromWorksheet(uid, state: &state, events: &events) {
                rederiveWorksheet(worksheetUID, context: context, state: &state, now: now, events: &events)
            }

        case "after_reject", "after_cancel":
            if let worksheetUID = removeFromWorksheet(uid, state: &state, events: &events) {
                rederiveWorksheet(worksheetUID, context: context, state: &state, now: now, events: &events)
            }
            if let sample = state.sample(of: uid), state.analysisRecord(uid)?.kind == .routine {
                for transition in ["submit", "verify", "rollback_to_receive"] {
                    attempt(transition, on: sample.uid, context: context, state: &state, now: now, events: &events)
                }
            }

        case "after_retract_worksheet":
            let toRetract = state.analyses(onWorksheet: uid).filter { $0.reviewState == ReviewState.toBeVerified }
            for analysis in toRetract {
                attempt("retract", on: analysis.uid, context: context.onWorksheet(uid), state: &state, now: now,
                        events: &events)
            }

        case "after_remove":
            if state.delete(uid) { events.append(.deleted(uid: uid, portalType: .worksheet)) }

        default:
            break
        }
    }

    /// after_submit / after_verify: try the same transition on the worksheet, then on the sample.
    private static func promote(
        _ transition: String, from uid: String, context: TransitionContext, state: inout LabState, now: Double,
        events: inout [LabEvent]
    ) {
        guard let analysis = state.analysisRecord(uid) else { return }
        if let worksheetUID = analysis.worksheetUID {
            attempt(transition, on: worksheetUID, context: context, state: &state, now: now, events: &events)
        }
        if analysis.kind == .routine, let sampleUID = analysis.sampleUID {
            attempt(transition, on: sampleUID, context: context, state: &state, now: now, events: &events)
        }
    }

    /// after_unassign and friends: the worksheet follows its remaining analyses (SENAITE
    /// `remove_analysis_from_worksheet`): non-empty → try submit and verify; empty → rollback_to_open.
    static func rederiveWorksheet(
        _ worksheetUID: String, context: TransitionContext, state: inout LabState, now: Double,
        events: inout [LabEvent]
    ) {
        guard let worksheet = state.worksheets[worksheetUID] else { return }
        if worksheet.layout.isEmpty {
            attempt("rollback_to_open", on: worksheetUID, context: context, state: &state, now: now, events: &events)
        } else {
            attempt("submit", on: worksheetUID, context: context, state: &state, now: now, events: &events)
            attempt("verify", on: worksheetUID, context: context, state: &state, now: now, events: &events)
        }
    }

    /// Removes the analysis' layout row and clears its worksheet; duplicates and reference analyses are then
    /// deleted (SENAITE deletes them on unassign). Returns the worksheet uid, nil if it was on none.
    static func removeFromWorksheet(_ uid: String, state: inout LabState, events: inout [LabEvent]) -> String? {
        guard let analysis = state.analysisRecord(uid), let worksheetUID = analysis.worksheetUID else { return nil }
        try? state.modify(Worksheet.self, worksheetUID) { ws in ws.layout.removeAll { $0.analysisUID == uid } }
        try? state.modifyAnalysis(uid) { $0.worksheetUID = nil }
        events.append(.removedFromWorksheet(analysisUID: uid, worksheetUID: worksheetUID))
        if analysis.kind != .routine, analysis.reviewState == ReviewState.unassigned {
            let portalType = type(of: analysis).portalType
            if state.delete(uid) { events.append(.deleted(uid: uid, portalType: portalType)) }
        }
        return worksheetUID
    }
}

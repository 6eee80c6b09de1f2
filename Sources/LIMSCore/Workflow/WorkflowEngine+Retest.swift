/// Retest creation after `retract` / `retest`.
///
/// A retest is a copy with an empty result, `retestOfUID` = the original and id `<base>-<n>` (smallest unused
/// n ≥ 1 among siblings; base = keyword for routine analyses, `<groupID>-<keyword>` for duplicates and
/// reference analyses). A routine retest of an analysis on a worksheet is added to the SAME worksheet, at the
/// original's slot (its sample's slot), which rolls a to_be_verified worksheet back to open.
///
/// Source: senaite.core `bika/lims/utils/analysis.py` `create_retest`, `events.after_retract`; bug 5.8.
extension WorkflowEngine {
    static func createRetest(
        of uid: String, context: TransitionContext, state: inout LabState, now: Double, events: inout [LabEvent]
    ) {
        guard let original = state.analysisRecord(uid) else { return }
        switch original {
        case let analysis as Analysis:
            guard let sampleUID = analysis.sampleUID, let sample = state.samples[sampleUID] else { return }
            let siblings = Set(state.analyses(ofSample: sampleUID).map(\.id))
            let id = retestID(base: analysis.keyword, siblings: siblings)
            let retest = Analysis(
                uid: context.uids.makeUID(), id: id, path: "\(sample.path)/\(id)", created: now,
                sampleUID: sampleUID, serviceUID: analysis.serviceUID, keyword: analysis.keyword,
                reviewState: sample.dateReceived != nil ? ReviewState.unassigned : ReviewState.registered,
                analyst: analysis.analyst, retestOfUID: analysis.uid, methodUID: analysis.methodUID,
                instrumentUID: analysis.instrumentUID)
            guard (try? state.insert(retest)) != nil else { return }
            events.append(.created(uid: retest.uid, portalType: .analysis))
            if let worksheetUID = analysis.worksheetUID,
               let slot = state.worksheets[worksheetUID]?.position(of: analysis.uid) {
                try? state.addAnalysis(retest.uid, to: worksheetUID, slot: slot, context: context, now: now,
                                       events: &events)
            }

        case let duplicate as DuplicateAnalysis:
            guard let worksheetUID = duplicate.worksheetUID, let worksheet = state.worksheets[worksheetUID],
                  let slot = worksheet.position(of: duplicate.uid), let sampleUID = duplicate.sampleUID
            else { return }
            state.scope?.requireComplete("children:\(duplicate.containerWorksheetUID)", what: "the duplicates of a worksheet")
            let siblings = Set(state.duplicateAnalyses.loaded
                .filter { $0.containerWorksheetUID == duplicate.containerWorksheetUID }.map(\.id))
            let id = retestID(base: "\(duplicate.groupID)-\(duplicate.keyword)", siblings: siblings)
            let container = state.worksheets[duplicate.containerWorksheetUID]?.path ?? worksheet.path
            let retest = DuplicateAnalysis(
                uid: context.uids.makeUID(), id: id, path: "\(container)/\(id)", created: now,
                containerWorksheetUID: duplicate.containerWorksheetUID, analysisUID: duplicate.analysisUID,
                sampleUID: sampleUID, serviceUID: duplicate.serviceUID, keyword: duplicate.keyword,
                groupID: duplicate.groupID, analyst: duplicate.analyst, retestOfUID: duplicate.uid,
                worksheetUID: worksheetUID, methodUID: duplicate.methodUID, instrumentUID: duplicate.instrumentUID)
            place(retest, slot: slot, type: .duplicate, container: sampleUID, worksheetUID: worksheetUID,
                  state: &state, events: &events)

        case let reference as ReferenceAnalysis:
            guard let worksheetUID = reference.worksheetUID, let worksheet = state.worksheets[worksheetUID],
                  let slot = worksheet.position(of: reference.uid),
                  let referenceSample = state.referenceSamples[reference.referenceSampleUID]
            else { return }
            state.scope?.requireComplete("children:\(reference.referenceSampleUID)", what: "the analyses of a reference sample")
            let siblings = Set(state.referenceAnalyses.loaded
                .filter { $0.referenceSampleUID == reference.referenceSampleUID }.map(\.id))
            let id = retestID(base: "\(reference.groupID)-\(reference.keyword)", siblings: siblings)
            let retest = ReferenceAnalysis(
                uid: context.uids.makeUID(), id: id, path: "\(referenceSample.path)/\(id)", created: now,
                referenceSampleUID: reference.referenceSampleUID, serviceUID: reference.serviceUID,
                keyword: reference.keyword, blank: reference.blank, groupID: reference.groupID,
                expected: reference.expected, analyst: reference.analyst, retestOfUID: reference.uid,
                worksheetUID: worksheetUID, methodUID: reference.methodUID, instrumentUID: reference.instrumentUID)
            place(retest, slot: slot, type: reference.blank ? .blank : .control, container: referenceSample.uid,
                  worksheetUID: worksheetUID, state: &state, events: &events)

        default:
            return
        }
    }

    /// `<base>-<n>` with the smallest n ≥ 1 not in `siblings`.
    static func retestID(base: String, siblings: Set<String>) -> String {
        var n = 1
        while siblings.contains("\(base)-\(n)") { n += 1 }
        return "\(base)-\(n)"
    }

    /// Inserts a worksheet-bound analysis (duplicate/reference) and its layout row.
    static func place(
        _ analysis: any AnalysisRecord, slot: Int, type: SlotType, container: String, worksheetUID: String,
        state: inout LabState, events: inout [LabEvent]
    ) {
        guard (try? state.insert(analysis)) != nil else { return }
        events.append(.created(uid: analysis.uid, portalType: Swift.type(of: analysis).portalType))
        try? state.modify(Worksheet.self, worksheetUID) { ws in
            ws.insertRow(WorksheetLayoutRow(position: slot, type: type, containerUID: container,
                                            analysisUID: analysis.uid))
        }
        events.append(.addedToWorksheet(analysisUID: analysis.uid, worksheetUID: worksheetUID, position: slot))
    }
}

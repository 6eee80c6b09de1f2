/// Adding routine analyses to a worksheet and removing them.
///
/// Source: senaite.core `Worksheet.addAnalysis` / `removeAnalysis`, reference 3.3; bug 5.7 (senaite.core #1281).
extension LabState {
    /// Adds a routine analysis to a worksheet (SENAITE `Worksheet.addAnalysis`).
    ///
    /// Rules, in order:
    /// 1. the worksheet must be `open` or `to_be_verified` (a retest whose original is on this worksheet is
    ///    always accepted); a verified worksheet refuses with a message (bug 5.7);
    /// 2. the analysis must not be on a worksheet already;
    /// 3. `assign` must be allowed from this worksheet (sample received, user may manage worksheets, ...);
    /// 4. instrument/method: the worksheet's instrument if the service allows it (plus that instrument's first
    ///    method); with no worksheet instrument, the worksheet's method if the service allows it;
    /// 5. analyst = the worksheet's analyst;
    /// 6. slot: the slot already holding its sample, else `slot` if empty, else the smallest free position;
    /// 7. the worksheet then tries `rollback_to_open` (a to_be_verified worksheet reopens).
    ///
    /// - Parameters:
    ///   - slot: preferred position (1-based), nil for automatic. Default: nil.
    ///   - now: Unix epoch seconds.
    /// - Returns: the events, in order.
    /// - Throws: ``LabError`` `notFound`, `invalidInput` (not a routine analysis) or `refused` with the
    ///   refusing guard in ``LabError/guardID`` (``GuardID/worksheetAcceptsAnalyses``, `analysis.assign`,
    ///   `permission`, ...). Nothing changes when it throws.
    @discardableResult
    public mutating func addAnalysis(
        _ analysisUID: String, to worksheetUID: String, slot: Int? = nil, context: TransitionContext, now: Double
    ) throws -> [LabEvent] {
        var events: [LabEvent] = []
        try addAnalysis(analysisUID, to: worksheetUID, slot: slot, context: context, now: now, events: &events)
        return events
    }

    /// Adds several routine analyses in order; stops at the first refusal (earlier ones stay added).
    @discardableResult
    public mutating func addAnalyses(
        _ analysisUIDs: [String], to worksheetUID: String, context: TransitionContext, now: Double
    ) throws -> [LabEvent] {
        var events: [LabEvent] = []
        for uid in analysisUIDs {
            try addAnalysis(uid, to: worksheetUID, slot: nil, context: context, now: now, events: &events)
        }
        return events
    }

    /// Removes an analysis from its worksheet: the `unassign` transition from that worksheet (duplicates of it
    /// are unassigned first; duplicates/reference analyses are deleted; the worksheet re-derives its state).
    public mutating func removeAnalysis(_ analysisUID: String, context: TransitionContext, now: Double) -> TransitionOutcome {
        let worksheetUID = analysisRecord(analysisUID)?.worksheetUID ?? context.worksheetUID
        return WorkflowEngine.doTransition("unassign", on: analysisUID, context: context.onWorksheet(worksheetUID),
                                           state: &self, now: now)
    }

    /// Checks rules 1-3 of ``addAnalysis(_:to:slot:context:now:)`` without changing anything: what a queued
    /// assignment asks before it is queued, so the request refuses what the task could not do.
    /// - Throws: the ``LabError`` ``addAnalysis(_:to:slot:context:now:)`` would throw for them.
    public func checkAddAnalysis(_ analysisUID: String, to worksheetUID: String, context: TransitionContext) throws {
        guard let worksheet = worksheets[worksheetUID] else { throw LabError.notFound("worksheet", worksheetUID) }
        guard let analysis = analyses[analysisUID] else {
            if analysisRecord(analysisUID) != nil {
                throw LabError(.invalidInput, "\(label(analysisUID)) is not a routine analysis; use addDuplicate or addReferenceAnalyses")
            }
            throw LabError.notFound("analysis", analysisUID)
        }
        let isRetestOfHere = analysis.retestOfUID.flatMap { analysisRecord($0)?.worksheetUID } == worksheetUID
        let accepting: Set<String> = [ReviewState.open, ReviewState.toBeVerified]
        guard accepting.contains(worksheet.reviewState) || isRetestOfHere else {
            throw LabError.refused(GuardID.worksheetAcceptsAnalyses,
                                   "Worksheet \(worksheet.id) is \(worksheet.reviewState): only open or to-be-verified worksheets accept analyses. Use a new worksheet for \(label(analysisUID)).")
        }
        if let other = analysis.worksheetUID {
            throw LabError.refused(GuardID.analysisAssign, "\(label(analysisUID)) is already on worksheet \(label(other))")
        }
        if let refusal = WorkflowEngine.check("assign", on: analysisUID, context: context.onWorksheet(worksheetUID), state: self) {
            throw refusal.labError
        }
    }

    mutating func addAnalysis(
        _ analysisUID: String, to worksheetUID: String, slot: Int?, context: TransitionContext, now: Double,
        events: inout [LabEvent]
    ) throws {
        try checkAddAnalysis(analysisUID, to: worksheetUID, context: context)
        guard let worksheet = worksheets[worksheetUID], let analysis = analyses[analysisUID] else {
            throw LabError.notFound("analysis", analysisUID)
        }
        let context = context.onWorksheet(worksheetUID)
        let service = analysisServices[analysis.serviceUID]
        let instrumentMethod = worksheet.instrumentUID.flatMap { instruments[$0]?.methodUIDs.first }
        try modifyAnalysis(analysisUID) { a in
            if let instrument = worksheet.instrumentUID, service?.instrumentUIDs.contains(instrument) == true {
                a.instrumentUID = instrument
                if let instrumentMethod { a.methodUID = instrumentMethod }
            } else if worksheet.instrumentUID == nil, let method = worksheet.methodUID,
                      service?.methodUIDs.contains(method) == true {
                a.methodUID = method
            }
            a.analyst = worksheet.analyst
        }
        let sampleUID = analysis.sampleUID ?? ""
        let position: Int
        if let sampleSlot = worksheet.routineSlot(ofSample: sampleUID) {
            position = sampleSlot
        } else if let slot, slot > 0, worksheet.rows(at: slot).isEmpty {
            position = slot
        } else {
            position = worksheet.smallestFreePosition
        }
        WorkflowEngine.perform("assign", on: analysisUID, context: context, state: &self, now: now, events: &events)
        try modifyAnalysis(analysisUID) { $0.worksheetUID = worksheetUID }
        try modify(Worksheet.self, worksheetUID) { ws in
            ws.insertRow(WorksheetLayoutRow(position: position, type: .routine, containerUID: sampleUID,
                                            analysisUID: analysisUID))
        }
        events.append(.addedToWorksheet(analysisUID: analysisUID, worksheetUID: worksheetUID, position: position))
        WorkflowEngine.attempt("rollback_to_open", on: worksheetUID, context: context, state: &self, now: now,
                               events: &events)
    }
}

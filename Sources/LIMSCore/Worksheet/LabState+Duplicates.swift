/// Duplicates on a worksheet.
///
/// Source: senaite.core `Worksheet.addDuplicateAnalyses`, `get_suitable_slot_for_duplicate`,
/// `nextRefAnalysesGroupID`, reference 3.3.
extension LabState {
    /// Adds one duplicate per routine analysis of `sourceSlot` (retracted and rejected ones skipped) into
    /// `destSlot`.
    ///
    /// The worksheet must be `open`. Default destination: the template's empty `d` slot whose `dup` is
    /// `sourceSlot`, else a new slot after max(highest occupied position, template size). The duplicates share
    /// the group id `<sampleid>-D<nn>` (next number for that sample across the lab), start `assigned`, get the
    /// worksheet's analyst and the source analyses' method and instrument.
    ///
    /// - Parameters:
    ///   - sourceSlot: the routine slot to duplicate (1-based).
    ///   - destSlot: destination position (1-based), nil for the default. It must be empty. Default: nil.
    ///   - now: Unix epoch seconds.
    /// - Returns: uids of the created duplicates, in source layout order.
    /// - Throws: ``LabError`` `notFound`, or `refused` with ``GuardID/worksheetSlot`` (not open, empty source,
    ///   occupied destination), ``GuardID/queueWorksheet`` or `analysis.assign` (may not manage worksheets).
    @discardableResult
    public mutating func addDuplicate(
        sourceSlot: Int, destSlot: Int? = nil, to worksheetUID: String, context: TransitionContext, now: Double
    ) throws -> [String] {
        guard let worksheet = worksheets[worksheetUID] else { throw LabError.notFound("worksheet", worksheetUID) }
        try checkWorksheetEditable(worksheet, context: context)
        let sources = worksheet.rows(at: sourceSlot)
            .filter { $0.type == .routine }
            .compactMap { analyses[$0.analysisUID] }
            .filter { !ReviewState.inactiveAnalysisStates.contains($0.reviewState) }
        guard let sampleUID = sources.first?.sampleUID, let sample = samples[sampleUID] else {
            throw LabError.refused(GuardID.worksheetSlot,
                                   "Slot \(sourceSlot) of worksheet \(worksheet.id) has no routine analyses to duplicate")
        }
        let template = worksheet.templateUID.flatMap { worksheetTemplates[$0] }
        let position: Int
        if let destSlot {
            guard destSlot > 0, worksheet.rows(at: destSlot).isEmpty else {
                throw LabError.refused(GuardID.worksheetSlot,
                                       "Slot \(destSlot) of worksheet \(worksheet.id) is not free for duplicates")
            }
            position = destSlot
        } else if let templateSlot = template?.layout.first(where: {
            $0.type == .duplicate && $0.dup == sourceSlot && worksheet.rows(at: $0.pos).isEmpty
        }) {
            position = templateSlot.pos
        } else {
            position = max(worksheet.occupiedPositions.last ?? 0, template?.size ?? 0) + 1
        }
        let groupID = nextDuplicateGroupID(for: sample)
        var created: [String] = []
        var events: [LabEvent] = []
        for source in sources {
            let id = "\(groupID)-\(source.keyword)"
            let duplicate = DuplicateAnalysis(
                uid: context.uids.makeUID(), id: id, path: "\(worksheet.path)/\(id)", created: now,
                containerWorksheetUID: worksheetUID, analysisUID: source.uid, sampleUID: sampleUID,
                serviceUID: source.serviceUID, keyword: source.keyword, groupID: groupID,
                analyst: worksheet.analyst, worksheetUID: worksheetUID, methodUID: source.methodUID,
                instrumentUID: source.instrumentUID)
            WorkflowEngine.place(duplicate, slot: position, type: .duplicate, container: sampleUID,
                                 worksheetUID: worksheetUID, state: &self, events: &events)
            created.append(duplicate.uid)
        }
        return created
    }

    /// `<sampleid>-D<nn>`: the next duplicate group number of `sample` across the lab.
    func nextDuplicateGroupID(for sample: Sample) -> String {
        let prefix = "\(sample.id)-D"
        scope?.requireComplete("duplicates:\(sample.uid)", what: "the duplicates of sample \(sample.id)")
        let used = duplicateAnalyses.loaded.compactMap { d -> Int? in
            guard d.groupID.hasPrefix(prefix) else { return nil }
            return Int(d.groupID.dropFirst(prefix.count))
        }
        return prefix + LabPaths.padded((used.max() ?? 0) + 1, 2)
    }

    /// Duplicates and references go to open worksheets only, by users who may manage worksheets, and never
    /// while the worksheet is queued.
    func checkWorksheetEditable(_ worksheet: Worksheet, context: TransitionContext) throws {
        guard worksheet.reviewState == ReviewState.open else {
            throw LabError.refused(GuardID.worksheetSlot,
                                   "Worksheet \(worksheet.id) is \(worksheet.reviewState): duplicates and reference analyses can only be added to an open worksheet")
        }
        if let refusal = WorkflowEngine.queuePreGuard(worksheet, context: context, state: self) {
            throw refusal.labError
        }
        if !context.systemAction, !hasPermission(.manageWorksheets, on: worksheet.uid, user: context.user) {
            throw LabError.refused(GuardID.permission,
                                   "\(context.user.userid) may not manage worksheet \(worksheet.id)")
        }
        if let refusal = WorkflowEngine.worksheetManagementRefusal(GuardID.analysisAssign, user: context.user,
                                                                   context: context, state: self) {
            throw refusal.labError
        }
    }
}

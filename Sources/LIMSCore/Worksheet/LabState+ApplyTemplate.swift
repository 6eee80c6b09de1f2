/// Worksheet templates: routine selection, application, and template duplicates/references.
///
/// Source: senaite.core `Worksheet.applyWorksheetTemplate` (reference 3.5) and senaite.queue's split of it
/// (reference 1.12); duplicates for slots filled later by a queued assignment per reference 4.
extension LabState {
    /// Records the template on the worksheet and takes over its instrument and method restriction.
    /// - Throws: ``LabError`` `notFound`; `refused` with `permission`/`analysis.assign` if the user may not
    ///   manage worksheets, or ``GuardID/worksheetAcceptsAnalyses`` if the worksheet is not open/to_be_verified.
    public mutating func setWorksheetTemplate(
        _ templateUID: String, on worksheetUID: String, context: TransitionContext
    ) throws {
        guard let worksheet = worksheets[worksheetUID] else { throw LabError.notFound("worksheet", worksheetUID) }
        guard let template = worksheetTemplates[templateUID] else {
            throw LabError.notFound("worksheet template", templateUID)
        }
        guard [ReviewState.open, ReviewState.toBeVerified].contains(worksheet.reviewState) else {
            throw LabError.refused(GuardID.worksheetAcceptsAnalyses,
                                   "Worksheet \(worksheet.id) is \(worksheet.reviewState) and accepts no template")
        }
        if !hasPermission(.manageWorksheets, on: worksheetUID, user: context.user) {
            throw LabError.refused(GuardID.permission, "\(context.user.userid) may not manage worksheet \(worksheet.id)")
        }
        if let refusal = WorkflowEngine.worksheetManagementRefusal(GuardID.analysisAssign, user: context.user,
                                                                   context: context, state: self) {
            throw refusal.labError
        }
        try modify(Worksheet.self, worksheetUID) { ws in
            ws.templateUID = templateUID
            if let instrument = template.instrumentUID { ws.instrumentUID = instrument }
            if let method = template.restrictToMethodUID { ws.methodUID = method }
        }
    }

    /// The routine analyses a template would put on the worksheet, with their slots, WITHOUT assigning them.
    ///
    /// Candidates: routine analyses of the template's services that are `unassigned`, on no worksheet, of a
    /// received sample, not in `excluding` (e.g. already queued), allowed on the template's instrument and
    /// method. Sorted by sample priority, then sample id, then service sort key and keyword. Free slots are the
    /// template's `a` positions with no layout row and not in `reservedSlots`, ascending. A sample already on the
    /// worksheet keeps its slot; each new sample takes one free slot (one sample per slot; no slot left → its
    /// analyses are skipped); the chosen new samples get the free slots in sample-id order.
    ///
    /// - Parameters:
    ///   - excluding: analysis or sample uids to leave out (queued ones). Default: empty.
    ///   - reservedSlots: positions promised to pending (queued) assignments. Default: empty.
    /// - Returns: assignments ordered by slot, then candidate order.
    /// - Throws: ``LabError`` `notFound` for an unknown worksheet or template.
    public func templateRoutineSelection(
        _ templateUID: String, for worksheetUID: String, excluding: Set<String> = [], reservedSlots: Set<Int> = []
    ) throws -> [SlotAssignment] {
        guard let worksheet = worksheets[worksheetUID] else { throw LabError.notFound("worksheet", worksheetUID) }
        guard let template = worksheetTemplates[templateUID] else {
            throw LabError.notFound("worksheet template", templateUID)
        }
        let services = Set(template.serviceUIDs)
        scope?.requireComplete("candidates:\(templateUID)", what: "the routine analyses template \(template.title) may select")
        let candidates = analyses.loaded.filter { a in
            guard services.contains(a.serviceUID), a.reviewState == ReviewState.unassigned, a.worksheetUID == nil,
                  !excluding.contains(a.uid), let sampleUID = a.sampleUID, !excluding.contains(sampleUID),
                  let sample = samples[sampleUID], sample.dateReceived != nil,
                  let service = analysisServices[a.serviceUID]
            else { return false }
            if let instrument = template.instrumentUID, !service.instrumentUIDs.contains(instrument) { return false }
            if let method = template.restrictToMethodUID, !service.methodUIDs.contains(method) { return false }
            return true
        }.sorted { lhs, rhs in
            let ls = samples[lhs.sampleUID ?? ""]!, rs = samples[rhs.sampleUID ?? ""]!
            let lk = analysisServices[lhs.serviceUID]?.sortKey ?? 0, rk = analysisServices[rhs.serviceUID]?.sortKey ?? 0
            return (ls.priority, ls.id, lk, lhs.keyword, lhs.id) < (rs.priority, rs.id, rk, rhs.keyword, rhs.id)
        }
        let freeSlots = template.layout
            .filter { $0.type == .routine && worksheet.rows(at: $0.pos).isEmpty && !reservedSlots.contains($0.pos) }
            .map(\.pos).sorted()
        var existing: [String: Int] = [:]
        for row in worksheet.layout where row.type == .routine { existing[row.containerUID] = row.position }
        var newSamples: [String] = []
        var kept: [Analysis] = []
        for analysis in candidates {
            let sampleUID = analysis.sampleUID ?? ""
            if existing[sampleUID] != nil || newSamples.contains(sampleUID) {
                kept.append(analysis)
            } else if newSamples.count < freeSlots.count {
                newSamples.append(sampleUID)
                kept.append(analysis)
            }
        }
        let orderedNew = newSamples.sorted { (samples[$0]?.id ?? "") < (samples[$1]?.id ?? "") }
        var slotOf = existing
        for (sampleUID, slot) in zip(orderedNew, freeSlots) { slotOf[sampleUID] = slot }
        let assignments = kept.enumerated().map { index, analysis in
            (index, SlotAssignment(analysisUID: analysis.uid, slot: slotOf[analysis.sampleUID ?? ""] ?? 0))
        }
        return assignments.sorted { ($0.1.slot, $0.0) < ($1.1.slot, $1.0) }.map(\.1)
    }

    /// Applies a template synchronously (SENAITE `applyWorksheetTemplate`): stores it on the worksheet, assigns
    /// the routine selection (queued uids in `context.queuedUIDs` are left out), then adds duplicates and
    /// blanks/controls for the template rows that can be filled.
    ///
    /// Analyses refused individually are reported in ``TemplateApplication/skipped``.
    /// - Parameter now: Unix epoch seconds.
    /// - Throws: what ``setWorksheetTemplate(_:on:context:)`` throws.
    @discardableResult
    public mutating func applyWorksheetTemplate(
        _ templateUID: String, to worksheetUID: String, context: TransitionContext, now: Double
    ) throws -> TemplateApplication {
        try setWorksheetTemplate(templateUID, on: worksheetUID, context: context)
        var result = TemplateApplication()
        let selection = try templateRoutineSelection(templateUID, for: worksheetUID, excluding: context.queuedUIDs)
        for assignment in selection {
            do {
                try addAnalysis(assignment.analysisUID, to: worksheetUID, slot: assignment.slot, context: context,
                                now: now, events: &result.events)
                result.assigned.append(assignment.analysisUID)
            } catch let error as LabError {
                result.skipped[assignment.analysisUID] = error.message
            }
        }
        let extras = try addTemplateDuplicatesAndReferences(to: worksheetUID, context: context, now: now)
        result.duplicates = extras.duplicates
        result.references = extras.references
        result.skipped.merge(extras.skipped) { first, _ in first }
        result.events += extras.events
        return result
    }

    /// Adds, for the worksheet's template, the duplicates of `d` rows whose slot is empty and whose source slot
    /// now holds routine analyses, and the blanks/controls of empty `b`/`c` rows (from the valid reference
    /// sample of the row's definition that supports the most template services; ties → lowest id).
    ///
    /// Idempotent: filled rows are left alone, so it can run again after a queued assignment filled more
    /// source slots (reference 4). Does nothing for a worksheet without template or not open.
    /// - Parameter now: Unix epoch seconds.
    /// - Throws: ``LabError`` `notFound` for an unknown worksheet.
    @discardableResult
    public mutating func addTemplateDuplicatesAndReferences(
        to worksheetUID: String, context: TransitionContext, now: Double
    ) throws -> TemplateApplication {
        guard let worksheet = worksheets[worksheetUID] else { throw LabError.notFound("worksheet", worksheetUID) }
        var result = TemplateApplication()
        guard let template = worksheet.templateUID.flatMap({ worksheetTemplates[$0] }),
              worksheet.reviewState == ReviewState.open
        else { return result }
        for row in template.layout where row.type == .duplicate {
            guard let current = worksheets[worksheetUID], current.rows(at: row.pos).isEmpty, let source = row.dup,
                  current.rows(at: source).contains(where: { $0.type == .routine })
            else { continue }
            do {
                let created = try addDuplicate(sourceSlot: source, destSlot: row.pos, to: worksheetUID,
                                               context: context, now: now)
                result.duplicates += created
                result.events += created.map { .created(uid: $0, portalType: .duplicateAnalysis) }
            } catch let error as LabError {
                result.skipped["slot \(row.pos)"] = error.message
            }
        }
        let services = template.serviceUIDs
        for row in template.layout where row.type == .blank || row.type == .control {
            guard let current = worksheets[worksheetUID], current.rows(at: row.pos).isEmpty,
                  let definitionUID = row.type == .blank ? row.blankRef : row.controlRef
            else { continue }
            let wantBlank = row.type == .blank
            let best = referenceSamples.values
                .filter { $0.definitionUID == definitionUID && $0.blank == wantBlank && $0.isValid(at: now) }
                .map { sample in (sample, services.filter { sample.expected[$0] != nil }.count) }
                .filter { $0.1 > 0 }
                .sorted { ($1.1, $0.0.id) < ($0.1, $1.0.id) }
                .first?.0
            guard let best else {
                result.skipped["slot \(row.pos)"] = "No valid reference sample of the slot's definition supports the template's services"
                continue
            }
            do {
                let created = try addReferenceAnalyses(referenceSampleUID: best.uid, serviceUIDs: services,
                                                       slot: row.pos, to: worksheetUID, context: context, now: now)
                result.references += created
                result.events += created.map { .created(uid: $0, portalType: .referenceAnalysis) }
            } catch let error as LabError {
                result.skipped["slot \(row.pos)"] = error.message
            }
        }
        return result
    }
}

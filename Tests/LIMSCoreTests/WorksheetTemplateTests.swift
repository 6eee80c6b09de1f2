import LIMSCore
import Testing

@Suite("Worksheet templates (reference 3.4-3.5, WorksheetApplyTemplate.rst, reference 4)")
struct WorksheetTemplateTests {
    struct Setup {
        var lab: LabFixture
        let template: WorksheetTemplate
        let samples: [Sample]
        let blank: ReferenceSample
        let control: ReferenceSample
        let worksheet: Worksheet
    }

    /// Template: 1 a, 2 a, 3 d(1), 4 a, 5 d(2), 6 c, 7 b; services Cu, Fe. Four received samples with Cu, Fe.
    func setup() throws -> Setup {
        var lab = try LabFixture()
        let t = lab.now
        let values = [lab.cu.uid: ReferenceValue(result: "0"), lab.fe.uid: ReferenceValue(result: "0")]
        let blankDef = lab.state.createReferenceDefinition(title: "Blank", blank: true, expected: values, uids: lab.uids, now: t)
        let controlDef = lab.state.createReferenceDefinition(
            title: "Control", blank: false,
            expected: [lab.cu.uid: ReferenceValue(result: "10", min: "9", max: "11"), lab.fe.uid: ReferenceValue(result: "5")],
            uids: lab.uids, now: t)
        // An expired blank first: must never be picked.
        _ = try lab.state.createReferenceSample(title: "Old blank", definitionUID: blankDef.uid, expiryDate: t - 1, uids: lab.uids, now: t)
        let blank = try lab.state.createReferenceSample(title: "Blank", definitionUID: blankDef.uid, expiryDate: t + 86_400 * 365, uids: lab.uids, now: t)
        let control = try lab.state.createReferenceSample(title: "Control", definitionUID: controlDef.uid, uids: lab.uids, now: t)
        let template = try lab.state.createWorksheetTemplate(
            title: "Metals",
            layout: [.routine(1), .routine(2), .duplicate(3, of: 1), .routine(4), .duplicate(5, of: 2),
                     .control(6, definition: controlDef.uid), .blank(7, definition: blankDef.uid)],
            serviceUIDs: [lab.cu.uid, lab.fe.uid], uids: lab.uids, now: t)
        let samples = try (0..<4).map { _ in try lab.sample([lab.cu, lab.fe]) }
        let worksheet = try lab.worksheet()
        return Setup(lab: lab, template: template, samples: samples, blank: blank, control: control, worksheet: worksheet)
    }

    func containers(_ lab: LabFixture, _ ws: String) -> [Int: String] {
        var result: [Int: String] = [:]
        for row in lab.state.worksheets[ws]!.layout { result[row.position] = row.containerUID }
        return result
    }

    @Test func applyFillsRoutineDuplicateAndReferenceSlots() throws {
        var s = try setup()
        let ws = s.worksheet.uid
        let result = try s.lab.state.applyWorksheetTemplate(s.template.uid, to: ws, context: s.lab.ctx(s.lab.labman), now: s.lab.tick())
        #expect(result.assigned.count == 6)
        #expect(result.duplicates.count == 4)
        #expect(result.references.count == 4)
        let layout = s.lab.state.worksheets[ws]!
        #expect(layout.templateUID == s.template.uid)
        #expect(layout.occupiedPositions == [1, 2, 3, 4, 5, 6, 7])
        let c = containers(s.lab, ws)
        #expect(c[1] == s.samples[0].uid)
        #expect(c[2] == s.samples[1].uid)
        #expect(c[3] == s.samples[0].uid)
        #expect(c[4] == s.samples[2].uid)
        #expect(c[5] == s.samples[1].uid)
        #expect(c[6] == s.control.uid)
        #expect(c[7] == s.blank.uid)
        #expect(layout.slotType(at: 3) == .duplicate)
        #expect(layout.slotType(at: 6) == .control)
        #expect(layout.slotType(at: 7) == .blank)
        let ref = try #require(s.lab.state.referenceAnalyses[layout.rows(at: 7)[0].analysisUID])
        #expect(ref.groupID == "\(s.blank.id)-001")
        #expect(ref.path.hasPrefix("/senaite/bika_setup/referencesamples/\(s.blank.id)/"))
        // The fourth sample stays unassigned.
        #expect(s.lab.state.analyses(ofSample: s.samples[3].uid).allSatisfy { $0.reviewState == "unassigned" })
    }

    @Test func reapplicationFillsRemovedSlotsAndExtrasGoToNewSlots() throws {
        var s = try setup()
        let ws = s.worksheet.uid
        let ctx = s.lab.ctx(s.lab.labman)
        try s.lab.state.applyWorksheetTemplate(s.template.uid, to: ws, context: ctx, now: s.lab.tick())
        // Remove slot 2's analyses: their duplicates in slot 5 go too.
        for row in s.lab.state.worksheets[ws]!.rows(at: 2) {
            #expect(s.lab.state.removeAnalysis(row.analysisUID, context: ctx, now: s.lab.tick()).isDone)
        }
        #expect(s.lab.state.worksheets[ws]!.occupiedPositions == [1, 3, 4, 6, 7])
        let again = try s.lab.state.applyWorksheetTemplate(s.template.uid, to: ws, context: ctx, now: s.lab.tick())
        #expect(again.assigned.count == 2)
        #expect(again.duplicates.count == 2)
        #expect(again.references.isEmpty)
        #expect(s.lab.state.worksheets[ws]!.occupiedPositions == [1, 2, 3, 4, 5, 6, 7])
        #expect(containers(s.lab, ws)[2] == s.samples[1].uid)
        // Extra duplicate of slot 1 → slot 8; extra blank → slot 9.
        try s.lab.state.addDuplicate(sourceSlot: 1, to: ws, context: ctx, now: s.lab.tick())
        try s.lab.state.addReferenceAnalyses(referenceSampleUID: s.blank.uid, serviceUIDs: [s.lab.cu.uid], to: ws, context: ctx, now: s.lab.tick())
        let layout = s.lab.state.worksheets[ws]!
        #expect(layout.occupiedPositions == Array(1...9))
        #expect(layout.slotType(at: 8) == .duplicate)
        #expect(layout.slotType(at: 9) == .blank)
        #expect(s.lab.state.referenceAnalyses[layout.rows(at: 9)[0].analysisUID]?.groupID == "\(s.blank.id)-002")
    }

    @Test func selectionIsByPriorityThenSlotsInSampleIDOrder() throws {
        var lab = try LabFixture()
        let template = try lab.state.createWorksheetTemplate(
            title: "Two", layout: [.routine(1), .routine(2)], serviceUIDs: [lab.cu.uid], uids: lab.uids, now: lab.now)
        let a = try lab.sample(priority: 3)
        let b = try lab.sample(priority: 3)
        let c = try lab.sample(priority: 1)
        let ws = try lab.worksheet()
        let selection = try lab.state.templateRoutineSelection(template.uid, for: ws.uid)
        #expect(selection == [
            SlotAssignment(analysisUID: lab.analysis("Cu", of: a).uid, slot: 1),
            SlotAssignment(analysisUID: lab.analysis("Cu", of: c).uid, slot: 2),
        ])
        // Selection does not assign anything.
        #expect(lab.state.worksheets[ws.uid]!.layout.isEmpty)
        // Queued analyses are left out, reserved slots are not offered.
        let queued: Set<String> = [lab.analysis("Cu", of: c).uid]
        let next = try lab.state.templateRoutineSelection(template.uid, for: ws.uid, excluding: queued, reservedSlots: [1])
        #expect(next == [SlotAssignment(analysisUID: lab.analysis("Cu", of: a).uid, slot: 2)])
        _ = b
    }

    @Test func instrumentRestrictionSkipsAnalysesThatCannotUseIt() throws {
        var lab = try LabFixture()
        let instrument = lab.state.createInstrument(title: "AAS", uids: lab.uids, now: lab.now)
        var cu = lab.state.analysisServices[lab.cu.uid]!
        cu.instrumentUIDs = [instrument.uid]
        try lab.state.update(cu)
        let template = try lab.state.createWorksheetTemplate(
            title: "AAS", layout: [.routine(1), .routine(2)], serviceUIDs: [lab.cu.uid, lab.fe.uid],
            instrumentUID: instrument.uid, uids: lab.uids, now: lab.now)
        let s = try lab.sample([lab.cu, lab.fe])
        let ws = try lab.worksheet()
        let result = try lab.state.applyWorksheetTemplate(template.uid, to: ws.uid, context: lab.ctx(lab.labman), now: lab.tick())
        #expect(result.assigned == [lab.analysis("Cu", of: s).uid])
        #expect(lab.state.worksheets[ws.uid]?.instrumentUID == instrument.uid)
        #expect(lab.state.analyses[lab.analysis("Cu", of: s).uid]?.instrumentUID == instrument.uid)
    }

    @Test func duplicatesAreAddedOnceAQueuedAssignmentFillsTheSourceSlot() throws {
        var s = try setup()
        let ws = s.worksheet.uid
        let ctx = s.lab.ctx(s.lab.labman)
        // What the queue does: store the template, select, enqueue (not assign), then the synchronous part.
        try s.lab.state.setWorksheetTemplate(s.template.uid, on: ws, context: ctx)
        let selection = try s.lab.state.templateRoutineSelection(s.template.uid, for: ws)
        #expect(Set(selection.map(\.slot)) == [1, 2, 4])
        let first = try s.lab.state.addTemplateDuplicatesAndReferences(to: ws, context: ctx, now: s.lab.tick())
        #expect(first.duplicates.isEmpty)
        #expect(first.references.count == 4)
        #expect(s.lab.state.worksheets[ws]!.occupiedPositions == [6, 7])
        // The consumer processes the assignment task (inside a queued task).
        let consumer = s.lab.ctx(s.lab.labman, inside: true)
        for assignment in selection {
            try s.lab.state.addAnalysis(assignment.analysisUID, to: ws, slot: assignment.slot, context: consumer, now: s.lab.tick())
        }
        let second = try s.lab.state.addTemplateDuplicatesAndReferences(to: ws, context: consumer, now: s.lab.tick())
        #expect(second.duplicates.count == 4)
        #expect(second.references.isEmpty)
        #expect(s.lab.state.worksheets[ws]!.occupiedPositions == [1, 2, 3, 4, 5, 6, 7])
        // Idempotent.
        let third = try s.lab.state.addTemplateDuplicatesAndReferences(to: ws, context: consumer, now: s.lab.tick())
        #expect(third.duplicates.isEmpty && third.references.isEmpty)
    }

    @Test func applyLeavesQueuedAnalysesOut() throws {
        var s = try setup()
        let queued = Set(s.lab.state.analyses(ofSample: s.samples[0].uid).map(\.uid))
        let result = try s.lab.state.applyWorksheetTemplate(
            s.template.uid, to: s.worksheet.uid, context: s.lab.ctx(s.lab.labman, queued: queued), now: s.lab.tick())
        #expect(result.assigned.allSatisfy { !queued.contains($0) })
        #expect(containers(s.lab, s.worksheet.uid)[1] == s.samples[1].uid)
    }

    @Test func referenceSampleMustBeValid() throws {
        var s = try setup()
        let expired = s.lab.state.referenceSamples.values.first { $0.title == "Old blank" }!
        do {
            try s.lab.state.addReferenceAnalyses(referenceSampleUID: expired.uid, serviceUIDs: [s.lab.cu.uid],
                                                 to: s.worksheet.uid, context: s.lab.ctx(s.lab.labman), now: s.lab.tick())
            Issue.record("expired reference sample accepted")
        } catch let error as LabError {
            #expect(error.guardID == GuardID.referenceSample)
        }
    }
}

import LIMSCore
import Testing

@Suite("Worksheet workflow and layout (reference 3.2-3.3, bugs 5.7-5.8)")
struct WorksheetWorkflowTests {
    /// Three samples with Cu on one worksheet, as in WorkflowWorksheetAutotransitions.rst.
    func threeOnAWorksheet() throws -> (LabFixture, Worksheet, [String]) {
        var lab = try LabFixture()
        let samples = try (0..<3).map { _ in try lab.sample() }
        let ws = try lab.worksheet()
        let cus = samples.map { lab.analysis("Cu", of: $0).uid }
        try lab.state.addAnalyses(cus, to: ws.uid, context: lab.ctx(lab.labman), now: lab.tick())
        return (lab, ws, cus)
    }

    @Test func autoTransitionsDoctest() throws {
        var (lab, ws, cus) = try threeOnAWorksheet()
        #expect(lab.state.worksheets[ws.uid]?.layout.map(\.position) == [1, 2, 3])
        #expect(lab.state.analyses[cus[0]]?.analyst == "analyst1")
        // Submitting all but one: the worksheet stays open.
        try lab.submit(cus[0])
        try lab.submit(cus[1])
        #expect(lab.reviewState(ws.uid) == "open")
        // Removing the last unsubmitted one: to_be_verified.
        #expect(lab.state.removeAnalysis(cus[2], context: lab.ctx(lab.labman), now: lab.tick()).isDone)
        #expect(lab.reviewState(cus[2]) == "unassigned")
        #expect(lab.reviewState(ws.uid) == "to_be_verified")
        // Adding it back: open again (bug 5.7: a to_be_verified worksheet accepts analyses).
        try lab.state.addAnalysis(cus[2], to: ws.uid, context: lab.ctx(lab.labman), now: lab.tick())
        #expect(lab.reviewState(ws.uid) == "open")
        try lab.submit(cus[2])
        #expect(lab.reviewState(ws.uid) == "to_be_verified")
        // Verifying all: verified.
        for uid in cus { #expect(lab.transition("verify", uid, as: lab.labman).isDone) }
        #expect(lab.reviewState(ws.uid) == "verified")
        // A verified worksheet accepts no analyses, with a message (bug 5.7).
        let extra = try lab.sample()
        let before = lab.state
        do {
            try lab.state.addAnalysis(lab.analysis("Cu", of: extra).uid, to: ws.uid, context: lab.ctx(lab.labman), now: lab.tick())
            Issue.record("a verified worksheet accepted an analysis")
        } catch let error as LabError {
            #expect(error.code == .refused)
            #expect(error.guardID == GuardID.worksheetAcceptsAnalyses)
            #expect(error.message.contains("WS-0001 is verified"))
        }
        #expect(lab.state == before)
    }

    @Test func retractCreatesRetestOnSameWorksheetAndReopensIt() throws {
        var (lab, ws, cus) = try threeOnAWorksheet()
        for uid in cus { try lab.submit(uid) }
        #expect(lab.reviewState(ws.uid) == "to_be_verified")
        let sample0 = try #require(lab.state.sample(of: cus[0]))
        #expect(sample0.reviewState == "to_be_verified")
        let outcome = lab.transition("retract", cus[0], as: lab.labman)
        #expect(outcome.isDone)
        #expect(lab.reviewState(cus[0]) == "retracted")
        let retest = try #require(lab.state.analyses.values.first { $0.retestOfUID == cus[0] })
        #expect(retest.id == "Cu-1")
        #expect(retest.path == "\(sample0.path)/Cu-1")
        #expect(retest.result == nil)
        #expect(retest.worksheetUID == ws.uid)
        #expect(retest.reviewState == "assigned")
        #expect(retest.analyst == "analyst1")
        #expect(lab.state.worksheets[ws.uid]?.position(of: retest.uid) == 1)
        #expect(lab.reviewState(ws.uid) == "open")
        #expect(lab.reviewState(sample0.uid) == "sample_received")
        #expect(outcome.events.contains(.created(uid: retest.uid, portalType: .analysis)))
        // Retracted analyses are ignored by the derived worksheet state (bug 5.8).
        try lab.submit(retest.uid)
        #expect(lab.reviewState(ws.uid) == "to_be_verified")
        for uid in [retest.uid, cus[1], cus[2]] { #expect(lab.transition("verify", uid, as: lab.labman).isDone) }
        #expect(lab.reviewState(ws.uid) == "verified")
        #expect(lab.reviewState(sample0.uid) == "verified")
        // Retracting a retest gives Cu-2.
        var lab2 = try LabFixture()
        let s = try lab2.sample()
        let cu = lab2.analysis("Cu", of: s).uid
        try lab2.submit(cu)
        lab2.transition("retract", cu, as: lab2.labman)
        let r1 = lab2.state.analyses.values.first { $0.retestOfUID == cu }!
        try lab2.submit(r1.uid)
        lab2.transition("retract", r1.uid, as: lab2.labman)
        #expect(lab2.state.analyses(ofSample: s.uid).map(\.id).sorted() == ["Cu", "Cu-1", "Cu-2"])
    }

    @Test func emptiedWorksheetRollsBackToOpen() throws {
        var lab = try LabFixture()
        let s = try lab.sample()
        let ws = try lab.worksheet()
        let cu = lab.analysis("Cu", of: s).uid
        try lab.state.addAnalysis(cu, to: ws.uid, context: lab.ctx(lab.labman), now: lab.tick())
        try lab.submit(cu)
        #expect(lab.reviewState(ws.uid) == "to_be_verified")
        #expect(lab.transition("reject", cu, as: lab.labman).isDone)
        #expect(lab.state.worksheets[ws.uid]?.layout.isEmpty == true)
        #expect(lab.reviewState(ws.uid) == "open")
        // An empty open worksheet can be removed (and is deleted).
        #expect(lab.transition("remove", ws.uid, as: lab.labman).isDone)
        #expect(lab.state.worksheets[ws.uid] == nil)
    }

    @Test func addAnalysisSlotRules() throws {
        var lab = try LabFixture()
        let s1 = try lab.sample([lab.cu, lab.fe])
        let s2 = try lab.sample()
        let ws = try lab.worksheet()
        let ctx = lab.ctx(lab.labman)
        try lab.state.addAnalysis(lab.analysis("Cu", of: s1).uid, to: ws.uid, slot: 4, context: ctx, now: lab.tick())
        // The sample's slot wins over the requested slot.
        try lab.state.addAnalysis(lab.analysis("Fe", of: s1).uid, to: ws.uid, slot: 2, context: ctx, now: lab.tick())
        // No slot: the smallest free position.
        try lab.state.addAnalysis(lab.analysis("Cu", of: s2).uid, to: ws.uid, context: ctx, now: lab.tick())
        let layout = try #require(lab.state.worksheets[ws.uid]?.layout)
        #expect(layout.map(\.position) == [1, 4, 4])
        #expect(layout.first?.containerUID == s2.uid)
        // Already on a worksheet.
        let ws2 = try lab.worksheet()
        #expect(throws: LabError.self) {
            try lab.state.addAnalysis(lab.analysis("Cu", of: s2).uid, to: ws2.uid, context: ctx, now: lab.tick())
        }
    }

    @Test func instrumentAndMethodComeFromTheWorksheet() throws {
        var lab = try LabFixture()
        let method = lab.state.createMethod(title: "ICP", uids: lab.uids, now: lab.now)
        let instrument = lab.state.createInstrument(title: "ICP-MS", methodUIDs: [method.uid], uids: lab.uids, now: lab.now)
        var service = lab.state.analysisServices[lab.cu.uid]!
        service.instrumentUIDs = [instrument.uid]
        service.methodUIDs = [method.uid]
        try lab.state.update(service)
        let s = try lab.sample([lab.cu, lab.fe])
        let ws = try lab.state.createWorksheet(analyst: "analyst2", instrumentUID: instrument.uid, uids: lab.uids, now: lab.now)
        let cu = lab.analysis("Cu", of: s).uid, fe = lab.analysis("Fe", of: s).uid
        try lab.state.addAnalyses([cu, fe], to: ws.uid, context: lab.ctx(lab.labman), now: lab.tick())
        #expect(lab.state.analyses[cu]?.instrumentUID == instrument.uid)
        #expect(lab.state.analyses[cu]?.methodUID == method.uid)
        #expect(lab.state.analyses[fe]?.instrumentUID == nil)
        #expect(lab.state.analyses[fe]?.analyst == "analyst2")
    }

    @Test func duplicatesAreUnassignedWithTheirSource() throws {
        var lab = try LabFixture()
        let s = try lab.sample([lab.cu, lab.fe])
        let ws = try lab.worksheet()
        let ctx = lab.ctx(lab.labman)
        let cu = lab.analysis("Cu", of: s).uid, fe = lab.analysis("Fe", of: s).uid
        try lab.state.addAnalyses([cu, fe], to: ws.uid, context: ctx, now: lab.tick())
        let dups = try lab.state.addDuplicate(sourceSlot: 1, to: ws.uid, context: ctx, now: lab.tick())
        #expect(dups.count == 2)
        let d = try #require(lab.state.duplicateAnalyses[dups[0]])
        #expect(d.groupID == "H2O-0001-D01")
        #expect(d.id == "H2O-0001-D01-Cu")
        #expect(d.path == "/senaite/worksheets/WS-0001/H2O-0001-D01-Cu")
        #expect(d.reviewState == "assigned")
        #expect(lab.state.worksheets[ws.uid]?.position(of: d.uid) == 2)
        #expect(lab.state.worksheets[ws.uid]?.slotType(at: 2) == .duplicate)
        let second = try lab.state.addDuplicate(sourceSlot: 1, to: ws.uid, context: ctx, now: lab.tick())
        #expect(lab.state.duplicateAnalyses[second[0]]?.groupID == "H2O-0001-D02")
        #expect(lab.state.worksheets[ws.uid]?.position(of: second[0]) == 3)
        lab.state.clearChanges()
        #expect(lab.state.removeAnalysis(cu, context: ctx, now: lab.tick()).isDone)
        #expect(lab.state.duplicateAnalyses.values.filter { $0.analysisUID == cu }.isEmpty)
        #expect(lab.state.changes.deleted.isSuperset(of: [dups[0], second[0]]))
        #expect(lab.state.duplicateAnalyses.values.filter { $0.analysisUID == fe }.count == 2)
        // Empty source slot → refused with the slot guard.
        do {
            try lab.state.addDuplicate(sourceSlot: 7, to: ws.uid, context: ctx, now: lab.tick())
            Issue.record("expected refusal")
        } catch let error as LabError {
            #expect(error.guardID == GuardID.worksheetSlot)
        }
    }

    @Test func duplicateRetractCreatesDuplicateRetest() throws {
        var lab = try LabFixture()
        let s = try lab.sample()
        let ws = try lab.worksheet()
        let ctx = lab.ctx(lab.labman)
        try lab.state.addAnalysis(lab.analysis("Cu", of: s).uid, to: ws.uid, context: ctx, now: lab.tick())
        let dup = try lab.state.addDuplicate(sourceSlot: 1, to: ws.uid, context: ctx, now: lab.tick())[0]
        try lab.submit(dup)
        #expect(lab.transition("retract", dup, as: lab.labman).isDone)
        let retest = try #require(lab.state.duplicateAnalyses.values.first { $0.retestOfUID == dup })
        #expect(retest.id == "H2O-0001-D01-Cu-1")
        #expect(lab.state.worksheets[ws.uid]?.position(of: retest.uid) == 2)
    }
}

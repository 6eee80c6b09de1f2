import LIMSCore
import Testing

@Suite("senaite.queue pre-guards (reference 1.11, bug 5.1)")
struct QueueGuardTests {
    @Test func sampleWithAQueuedAnalysisHasNoAllowedTransition() throws {
        var lab = try LabFixture()
        let sample = try lab.sample(receive: false)
        let cu = lab.analysis("Cu", of: sample).uid
        let allowed = { (queued: Set<String>, inside: Bool) in
            WorkflowEngine.allowedTransitions(for: sample.uid, context: lab.ctx(lab.clerk, queued: queued, inside: inside),
                                              state: lab.state)
        }
        #expect(allowed([], false) == ["receive"])
        #expect(allowed([sample.uid], false) == [])
        #expect(allowed([cu], false) == [])
        // Inside a queued task the sample guard is bypassed.
        #expect(allowed([cu], true) == ["receive"])
        let refused = lab.transition("receive", sample.uid, as: lab.clerk, queued: [cu])
        #expect(refused.refusingGuard == GuardID.queueSample)
        if case .refused(_, let reason) = refused { #expect(reason.contains("queued")) }
    }

    @Test func sampleAutoSubmitIsVetoedWhileQueuedUnlessInsideTheTask() throws {
        for inside in [false, true] {
            var lab = try LabFixture()
            let sample = try lab.sample()
            let cu = lab.analysis("Cu", of: sample).uid
            try lab.submit(cu, queued: [cu], inside: inside)
            #expect(lab.reviewState(cu) == "to_be_verified")
            #expect(lab.reviewState(sample.uid) == (inside ? "to_be_verified" : "sample_received"))
        }
    }

    @Test func worksheetGuardIsNeverBypassed() throws {
        var lab = try LabFixture()
        let s1 = try lab.sample(), s2 = try lab.sample()
        let ws = try lab.worksheet()
        let a = lab.analysis("Cu", of: s1).uid, b = lab.analysis("Cu", of: s2).uid
        try lab.state.addAnalyses([a, b], to: ws.uid, context: lab.ctx(lab.labman), now: lab.tick())
        // A consumer processes a submit chunk while another task for the worksheet is still queued.
        try lab.submit(a, queued: [ws.uid], inside: true)
        try lab.submit(b, queued: [ws.uid], inside: true)
        #expect(lab.reviewState(ws.uid) == "open")
        #expect(lab.reviewState(s1.uid) == "to_be_verified")
        let refused = lab.transition("submit", ws.uid, as: lab.labman, queued: [ws.uid], inside: true)
        #expect(refused.refusingGuard == GuardID.queueWorksheet)
        // A queued analysis of the worksheet blocks it too.
        #expect(WorkflowEngine.allowedTransitions(for: ws.uid, context: lab.ctx(lab.labman, queued: [b], inside: true),
                                                  state: lab.state) == [])
        // The last chunk: nothing queued any more → the auto-transition can happen.
        #expect(WorkflowEngine.allowedTransitions(for: ws.uid, context: lab.ctx(lab.labman), state: lab.state) == ["submit"])
        #expect(lab.transition("submit", ws.uid, as: lab.labman).isDone)
        #expect(lab.reviewState(ws.uid) == "to_be_verified")
    }

    @Test func derivedGuardStillAppliesWithoutQueue() throws {
        var lab = try LabFixture()
        let sample = try lab.sample()
        let outcome = lab.transition("submit", sample.uid, as: lab.labman)
        #expect(outcome.refusingGuard == GuardID.sampleSubmit)
    }

    @Test func worksheetQueuedRefusesDuplicates() throws {
        var lab = try LabFixture()
        let s = try lab.sample()
        let ws = try lab.worksheet()
        try lab.state.addAnalysis(lab.analysis("Cu", of: s).uid, to: ws.uid, context: lab.ctx(lab.labman), now: lab.tick())
        #expect(throws: LabError(.refused, "queued: worksheet WS-0001 is being processed in background", guardID: GuardID.queueWorksheet)) {
            try lab.state.addDuplicate(sourceSlot: 1, to: ws.uid, context: lab.ctx(lab.labman, queued: [ws.uid]), now: lab.tick())
        }
    }
}

import LIMSCore
import Testing

@Suite("Analysis workflow (reference 3.1)")
struct AnalysisWorkflowTests {
    @Test func receivingTheSampleInitializesItsAnalyses() throws {
        var lab = try LabFixture()
        let sample = try lab.sample([lab.cu, lab.fe], receive: false)
        #expect(sample.reviewState == "sample_due")
        #expect(lab.state.analyses(ofSample: sample.uid).map(\.reviewState) == ["registered", "registered"])
        #expect(lab.transition("receive", sample.uid, as: lab.clerk).isDone)
        #expect(lab.state.samples[sample.uid]?.dateReceived != nil)
        #expect(lab.state.analyses(ofSample: sample.uid).map(\.reviewState) == ["unassigned", "unassigned"])
    }

    @Test func fullLifeCycleAssignSubmitVerify() throws {
        var lab = try LabFixture()
        let sample = try lab.sample()
        let cu = lab.analysis("Cu", of: sample)
        let ws = try lab.worksheet()
        #expect(WorkflowEngine.allowedTransitions(for: cu.uid, context: lab.ctx(lab.labman, ws: ws.uid), state: lab.state)
                    .contains("assign"))
        #expect(lab.transition("assign", cu.uid, as: lab.labman, ws: ws.uid).isDone)
        #expect(lab.reviewState(cu.uid) == "assigned")
        #expect(try lab.submit(cu.uid).isDone)
        #expect(lab.reviewState(cu.uid) == "to_be_verified")
        #expect(lab.state.analyses[cu.uid]?.submittedBy == "analyst1")
        #expect(lab.reviewState(sample.uid) == "to_be_verified")
        #expect(lab.transition("verify", cu.uid, as: lab.labman).isDone)
        #expect(lab.reviewState(cu.uid) == "verified")
        #expect(lab.state.analyses[cu.uid]?.verifiedBy == ["labman"])
        #expect(lab.reviewState(sample.uid) == "verified")
    }

    struct Refusal: CustomTestStringConvertible, Sendable {
        let name: String
        let expectedGuard: String
        let run: @Sendable (inout LabFixture) throws -> TransitionOutcome
        var testDescription: String { name }
    }

    static let refusals: [Refusal] = [
        Refusal(name: "assign without a worksheet context", expectedGuard: "analysis.assign") { lab in
            let s = try lab.sample()
            return lab.transition("assign", lab.analysis("Cu", of: s).uid, as: lab.labman)
        },
        Refusal(name: "assign before the sample is received", expectedGuard: "state") { lab in
            let s = try lab.sample(receive: false)
            let ws = try lab.worksheet()
            return lab.transition("assign", lab.analysis("Cu", of: s).uid, as: lab.labman, ws: ws.uid)
        },
        Refusal(name: "assign by an analyst while worksheet management is restricted", expectedGuard: "analysis.assign") { lab in
            let s = try lab.sample()
            let ws = try lab.worksheet()
            return lab.transition("assign", lab.analysis("Cu", of: s).uid, as: lab.analyst1, ws: ws.uid)
        },
        Refusal(name: "assign by a lab clerk (no permission)", expectedGuard: "permission") { lab in
            let s = try lab.sample()
            let ws = try lab.worksheet()
            return lab.transition("assign", lab.analysis("Cu", of: s).uid, as: lab.clerk, ws: ws.uid)
        },
        Refusal(name: "unassign without a worksheet context", expectedGuard: "analysis.unassign") { lab in
            let s = try lab.sample()
            let ws = try lab.worksheet()
            let cu = lab.analysis("Cu", of: s).uid
            try lab.state.addAnalysis(cu, to: ws.uid, context: lab.ctx(lab.labman), now: lab.tick())
            return lab.transition("unassign", cu, as: lab.labman)
        },
        Refusal(name: "unassign an analysis that is not assigned", expectedGuard: "state") { lab in
            let s = try lab.sample()
            let ws = try lab.worksheet()
            return lab.transition("unassign", lab.analysis("Cu", of: s).uid, as: lab.labman, ws: ws.uid)
        },
        Refusal(name: "submit without a result", expectedGuard: "analysis.submit") { lab in
            let s = try lab.sample()
            return lab.transition("submit", lab.analysis("Cu", of: s).uid, as: lab.analyst1)
        },
        Refusal(name: "submit by a lab clerk", expectedGuard: "permission") { lab in
            let s = try lab.sample()
            let cu = lab.analysis("Cu", of: s).uid
            try lab.setResult(cu)
            return lab.transition("submit", cu, as: lab.clerk)
        },
        Refusal(name: "verify by an analyst (no permission)", expectedGuard: "permission") { lab in
            let s = try lab.sample()
            let cu = lab.analysis("Cu", of: s).uid
            try lab.submit(cu, as: lab.analyst1)
            return lab.transition("verify", cu, as: lab.analyst2)
        },
        Refusal(name: "verify own result with self-verification off", expectedGuard: "analysis.verify") { lab in
            let s = try lab.sample()
            let cu = lab.analysis("Cu", of: s).uid
            try lab.submit(cu, as: lab.labman)
            return lab.transition("verify", cu, as: lab.labman)
        },
        Refusal(name: "verify an analysis that is not submitted", expectedGuard: "state") { lab in
            let s = try lab.sample()
            return lab.transition("verify", lab.analysis("Cu", of: s).uid, as: lab.labman)
        },
        Refusal(name: "retract by an analyst", expectedGuard: "permission") { lab in
            let s = try lab.sample()
            let cu = lab.analysis("Cu", of: s).uid
            try lab.submit(cu)
            return lab.transition("retract", cu, as: lab.analyst1)
        },
        Refusal(name: "reject by an analyst", expectedGuard: "permission") { lab in
            let s = try lab.sample()
            return lab.transition("reject", lab.analysis("Cu", of: s).uid, as: lab.analyst1)
        },
        Refusal(name: "multi_verify when one verification is required", expectedGuard: "analysis.multi_verify") { lab in
            let s = try lab.sample()
            let cu = lab.analysis("Cu", of: s).uid
            try lab.submit(cu)
            return lab.transition("multi_verify", cu, as: lab.labman)
        },
        Refusal(name: "unknown transition", expectedGuard: "state") { lab in
            let s = try lab.sample()
            return lab.transition("publish", lab.analysis("Cu", of: s).uid, as: lab.labman)
        },
        Refusal(name: "unknown object", expectedGuard: "exists") { lab in
            lab.transition("submit", String(repeating: "f", count: 32), as: lab.labman)
        },
    ]

    @Test(arguments: refusals)
    func guardRefusalNamesTheGuard(_ refusal: Refusal) throws {
        var lab = try LabFixture()
        let before = lab.state
        let outcome = try refusal.run(&lab)
        guard case .refused(let guardID, let reason) = outcome else {
            Issue.record("expected a refusal, got \(outcome)")
            return
        }
        #expect(guardID == refusal.expectedGuard, "\(reason)")
        #expect(!reason.isEmpty)
        _ = before
    }

    @Test func refusedTransitionChangesNothing() throws {
        var lab = try LabFixture()
        let s = try lab.sample()
        let cu = lab.analysis("Cu", of: s).uid
        try lab.submit(cu, as: lab.labman)
        lab.state.clearChanges()
        let before = lab.state
        let outcome = lab.transition("verify", cu, as: lab.labman)
        #expect(outcome.refusingGuard == "analysis.verify")
        if case .refused(_, let reason) = outcome { #expect(reason.contains("self-verification")) }
        #expect(lab.state == before)
        #expect(lab.state.changes.isEmpty)
    }

    @Test(arguments: [false, true])
    func selfVerification(enabled: Bool) throws {
        var lab = try LabFixture(settings: LabSettings(selfVerificationEnabled: enabled))
        let s = try lab.sample()
        let cu = lab.analysis("Cu", of: s).uid
        try lab.submit(cu, as: lab.labman)
        let outcome = lab.transition("verify", cu, as: lab.labman)
        #expect(outcome.isDone == enabled)
        #expect(lab.reviewState(cu) == (enabled ? "verified" : "to_be_verified"))
    }

    @Test func submitNotAssignedRestriction() throws {
        var lab = try LabFixture(settings: LabSettings(allowToSubmitNotAssigned: false))
        let s = try lab.sample()
        let ws = try lab.worksheet(analyst: "analyst1")
        let cu = lab.analysis("Cu", of: s).uid
        try lab.state.addAnalysis(cu, to: ws.uid, context: lab.ctx(lab.labman), now: lab.tick())
        try lab.setResult(cu)
        #expect(lab.transition("submit", cu, as: lab.analyst2).refusingGuard == "analysis.submit")
        #expect(lab.transition("submit", cu, as: lab.analyst1).isDone)
    }

    @Test func multiVerificationNeedsTwoDifferentVerifiers() throws {
        var lab = try LabFixture(settings: LabSettings(numberOfRequiredVerifications: 2))
        let verifier = try lab.state.createUser(userid: "verifier", roles: [.verifier], uids: lab.uids, now: lab.now)
        let s = try lab.sample()
        let cu = lab.analysis("Cu", of: s).uid
        try lab.submit(cu)
        #expect(lab.transition("verify", cu, as: lab.labman).refusingGuard == "analysis.verify")
        #expect(lab.transition("multi_verify", cu, as: lab.labman).isDone)
        #expect(lab.reviewState(cu) == "to_be_verified")
        #expect(lab.transition("verify", cu, as: lab.labman).refusingGuard == "analysis.verify")
        #expect(lab.transition("verify", cu, as: verifier).isDone)
        #expect(lab.state.analyses[cu]?.verifiedBy == ["labman", "verifier"])
    }

    @Test func rejectRemovesFromWorksheetAndSampleFollows() throws {
        var lab = try LabFixture()
        let s = try lab.sample([lab.cu, lab.fe])
        let ws = try lab.worksheet()
        let cu = lab.analysis("Cu", of: s).uid, fe = lab.analysis("Fe", of: s).uid
        try lab.state.addAnalyses([cu, fe], to: ws.uid, context: lab.ctx(lab.labman), now: lab.tick())
        try lab.submit(cu)
        #expect(lab.reviewState(s.uid) == "sample_received")
        #expect(lab.transition("reject", fe, as: lab.labman).isDone)
        #expect(lab.reviewState(fe) == "rejected")
        #expect(lab.state.worksheets[ws.uid]?.analysisUIDs == [cu])
        #expect(lab.state.analyses[fe]?.worksheetUID == nil)
        #expect(lab.reviewState(ws.uid) == "to_be_verified")
        #expect(lab.reviewState(s.uid) == "to_be_verified")
    }

    @Test func cancelAndReinstate() throws {
        var lab = try LabFixture()
        let s = try lab.sample()
        let cu = lab.analysis("Cu", of: s).uid
        #expect(lab.transition("cancel", cu, as: lab.analyst1).refusingGuard == "permission")
        #expect(lab.transition("cancel", cu, as: lab.clerk).isDone)
        #expect(lab.reviewState(cu) == "cancelled")
        #expect(WorkflowEngine.allowedTransitions(for: cu, context: lab.ctx(lab.labman), state: lab.state) == ["reinstate"])
        #expect(lab.transition("reinstate", cu, as: lab.labman).isDone)
        #expect(lab.reviewState(cu) == "unassigned")
    }

    @Test func retestTransitionVerifiesOriginalAndCreatesRetest() throws {
        var lab = try LabFixture()
        let s = try lab.sample()
        let cu = lab.analysis("Cu", of: s).uid
        try lab.submit(cu)
        #expect(lab.transition("retest", cu, as: lab.labman).isDone)
        #expect(lab.reviewState(cu) == "verified")
        let retest = try #require(lab.state.analyses(ofSample: s.uid).first { $0.retestOfUID == cu })
        #expect(retest.id == "Cu-1")
        #expect(retest.reviewState == "unassigned")
        #expect(lab.reviewState(s.uid) == "sample_received")
    }

    @Test("a result is stored stripped, as senaite.core's setResult does; a blank one clears the result")
    func resultsStripped() throws {
        var lab = try LabFixture()
        let s = try lab.sample()
        let cu = lab.analysis("Cu", of: s).uid
        try lab.setResult(cu, " 14.5\n")
        #expect(lab.state.analysisRecord(cu)?.result == "14.5")
        try lab.setResult(cu, " \t ")
        #expect(lab.state.analysisRecord(cu)?.result == nil)
    }

    @Test func setResultAfterSubmitIsRefused() throws {
        var lab = try LabFixture()
        let s = try lab.sample()
        let cu = lab.analysis("Cu", of: s).uid
        try lab.submit(cu)
        #expect(throws: LabError.self) { try lab.setResult(cu, "14") }
        do {
            try lab.state.setResult("1", on: cu, context: lab.ctx(lab.clerk))
        } catch let error as LabError {
            #expect(error.guardID == "permission")
        }
    }
}

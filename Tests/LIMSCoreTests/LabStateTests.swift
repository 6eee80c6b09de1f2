import Foundation
import LIMSCore
import Testing

@Suite("Ids, paths, change tracking and persistence")
struct LabStateTests {
    @Test func idsAndPaths() throws {
        var lab = try LabFixture()
        let s1 = try lab.sample()
        let s2 = try lab.sample()
        let ws1 = try lab.worksheet()
        let ws2 = try lab.worksheet()
        #expect(s1.id == "H2O-0001")
        #expect(s2.id == "H2O-0002")
        #expect(s1.path == "/senaite/clients/client-1/H2O-0001")
        #expect(lab.analysis("Cu", of: s1).path == "/senaite/clients/client-1/H2O-0001/Cu")
        #expect(lab.contact.path == "/senaite/clients/client-1/contact-1")
        #expect(ws1.id == "WS-0001" && ws2.id == "WS-0002")
        #expect(ws1.path == "/senaite/worksheets/WS-0001")
        #expect(lab.cu.path == "/senaite/bika_setup/bika_analysisservices/analysisservice-1")
        let soil = try lab.state.createSampleType(title: "Soil", prefix: "SOIL", uids: lab.uids, now: lab.now)
        let s3 = try lab.state.createSample(clientUID: lab.client.uid, contactUID: lab.contact.uid, sampleTypeUID: soil.uid,
                                            serviceUIDs: [lab.cu.uid], uids: lab.uids, now: lab.now)
        #expect(s3.id == "SOIL-0001")
        let ref = try lab.state.createReferenceSample(title: "Blank", blank: true, uids: lab.uids, now: lab.now)
        #expect(ref.id == "SA-0001")
        let uidPattern = /^[0-9a-f]{32}$/
        for object in lab.state.allObjects { #expect(object.uid.wholeMatch(of: uidPattern) != nil) }
        #expect(RandomUIDGenerator().makeUID().wholeMatch(of: uidPattern) != nil)
    }

    @Test("a sample's analyses come from the table's parent index, equal to a filter of every analysis, after creates, deletes and a decode")
    func analysesOfSampleByParentIndex() throws {
        var lab = try LabFixture()
        var samples: [Sample] = []
        for _ in 0..<4 { samples.append(try lab.sample([lab.cu, lab.fe])) }
        func bruteForce(_ state: LabState, _ sampleUID: String) -> [String] {
            state.analyses.loaded.filter { $0.sampleUID == sampleUID }.sorted { ($0.created, $0.id) < ($1.created, $1.id) }.map(\.uid)
        }
        #expect(samples.allSatisfy { lab.state.analyses(ofSample: $0.uid).count == 2 })
        let removed = lab.analysis("Cu", of: samples[1]).uid
        let fe = lab.analysis("Fe", of: samples[2]).uid
        let deleted = [lab.state.delete(removed), lab.state.delete(fe)]
        #expect(deleted == [true, true])
        let decoded = try JSONDecoder().decode(LabState.self, from: JSONEncoder().encode(lab.state))
        for state in [lab.state, decoded] {
            for sample in samples {
                #expect(state.analyses(ofSample: sample.uid).map(\.uid) == bruteForce(state, sample.uid))
            }
            #expect(state.analyses(ofSample: samples[1].uid).map(\.uid).contains(removed) == false)
            #expect(state.analyses(ofSample: samples[3].uid).count == 2)
        }
    }

    @Test func inputsAreValidated() throws {
        var lab = try LabFixture()
        #expect(throws: LabError.self) { try lab.state.createWorksheet(analyst: "", uids: lab.uids, now: lab.now) }
        #expect(throws: LabError.self) {
            try lab.state.createSampleType(title: "Dup", prefix: "H2O", uids: lab.uids, now: lab.now)
        }
        #expect(throws: LabError.self) {
            try lab.state.createWorksheetTemplate(title: "Bad", layout: [.duplicate(1, of: 2)], serviceUIDs: [],
                                                  uids: lab.uids, now: lab.now)
        }
    }

    @Test func changesTrackWhatAnOperationTouched() throws {
        var lab = try LabFixture()
        let s = try lab.sample()
        let ws = try lab.worksheet()
        let cu = lab.analysis("Cu", of: s).uid
        lab.state.clearChanges()
        try lab.state.addAnalysis(cu, to: ws.uid, context: lab.ctx(lab.labman), now: lab.tick())
        #expect(lab.state.changes.changed == [cu, ws.uid])
        #expect(lab.state.changes.created.isEmpty && lab.state.changes.deleted.isEmpty)
        lab.state.clearChanges()
        try lab.submit(cu)
        lab.transition("retract", cu, as: lab.labman)
        let retest = lab.state.analyses.values.first { $0.retestOfUID == cu }!
        #expect(lab.state.changes.created == [retest.uid])
        #expect(lab.state.changes.changed.isSuperset(of: [cu, ws.uid, s.uid]))
        // A duplicate created and removed before saving is never written.
        lab.state.clearChanges()
        let dup = try lab.state.addDuplicate(sourceSlot: 1, to: ws.uid, context: lab.ctx(lab.labman), now: lab.tick())[0]
        lab.transition("unassign", dup, as: lab.labman, ws: ws.uid)
        #expect(lab.state.duplicateAnalyses[dup] == nil)
        #expect(!lab.state.changes.created.contains(dup) && !lab.state.changes.deleted.contains(dup))
    }

    @Test func stateAndObjectsRoundTripThroughJSON() throws {
        var lab = try LabFixture()
        let s = try lab.sample([lab.cu, lab.fe])
        let ws = try lab.worksheet()
        try lab.state.addAnalyses(lab.state.analyses(ofSample: s.uid).map(\.uid), to: ws.uid, context: lab.ctx(lab.labman), now: lab.tick())
        try lab.state.addDuplicate(sourceSlot: 1, to: ws.uid, context: lab.ctx(lab.labman), now: lab.tick())
        let data = try JSONEncoder().encode(lab.state)
        var decoded = try JSONDecoder().decode(LabState.self, from: data)
        var expected = lab.state
        expected.clearChanges()
        decoded.clearChanges()
        #expect(decoded == expected)
        // Layout rows use SENAITE's field names.
        let row = try JSONEncoder().encode(lab.state.worksheets[ws.uid]!.layout[0])
        let json = try #require(String(data: row, encoding: .utf8))
        #expect(json.contains("\"analysis_uid\"") && json.contains("\"container_uid\""))
        // The storage layer can rebuild a state object by object without recording changes.
        var rebuilt = LabState()
        for object in lab.state.allObjects { rebuilt.load(object) }
        #expect(rebuilt.changes.isEmpty)
        #expect(rebuilt.object(ws.uid) as? Worksheet == lab.state.worksheets[ws.uid])
    }

    @Test func workflowsAreConsistentData() {
        for workflow in [LabWorkflows.analysis, LabWorkflows.duplicateAnalysis, LabWorkflows.referenceAnalysis,
                         LabWorkflows.worksheet, LabWorkflows.sample] {
            let states = Set(workflow.states)
            #expect(states.contains(workflow.initialState))
            #expect(Set(workflow.transitions.map(\.id)).count == workflow.transitions.count)
            for transition in workflow.transitions {
                #expect(transition.from.isSubset(of: states), "\(workflow.id).\(transition.id)")
                #expect(states.contains(transition.to), "\(workflow.id).\(transition.id)")
            }
        }
    }
}

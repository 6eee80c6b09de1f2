import LIMSCore
import Testing

/// A partial lab (a unit of work's working set) refuses reads it was not given, and the step-by-step security
/// walk gives the same order as the whole-lab walk.
@Suite("Working sets: partial labs and their read scope")
struct WorkingSetTests {
    /// A partial lab holding the setup objects of `fixture` and the objects `uids`, with their declared sets.
    static func partial(_ fixture: LabFixture, loading uids: [String], complete: [String] = []) -> (LabState, ReadScope) {
        let scope = ReadScope()
        var state = LabState(scope: scope, settings: fixture.state.settings)
        let setup: [any LabObject] = Array(fixture.state.users.loaded) + Array(fixture.state.analysisServices.loaded)
            + Array(fixture.state.sampleTypes.loaded)
        for object in setup { state.load(object) }
        for type in [PortalType.user, .analysisService, .sampleType] { scope.declareComplete("type:\(type.rawValue)") }
        for uid in uids { if let object = fixture.state.peekObject(uid) { state.load(object) } }
        for key in complete { scope.declareComplete(key) }
        return (state, scope)
    }

    @Test("a working set started from prepared objects is the one loaded object by object, scope included")
    func startingWithLoadedObjects() throws {
        var fixture = try LabFixture()
        let sample = try fixture.sample([fixture.cu, fixture.fe])
        let other = try fixture.sample()
        var whole = fixture.state
        whole.clearChanges()
        let first = ReadScope(), second = ReadScope()
        var oneByOne = LabState(scope: first, settings: whole.settings, rolePermissions: whole.rolePermissions)
        for object in whole.loadedObjects { oneByOne.load(object) }
        var atOnce = LabState(scope: second, startingWith: LoadedObjects(whole))
        #expect(atOnce == oneByOne && atOnce.scope === second)
        for object in whole.loadedObjects {
            #expect(second.original(object.uid) != nil && first.original(object.uid) != nil)
        }
        // The parent index came along: a sample's analyses, once declared complete, without a violation.
        second.declareComplete("children:\(sample.uid)")
        #expect(Set(atOnce.analyses(ofSample: sample.uid).map(\.uid)) == Set(whole.analyses(ofSample: sample.uid).map(\.uid)))
        // Reads outside what it holds are still violations; a change is recorded against the scope's original.
        #expect(atOnce.samples["0123456789abcdef0123456789abcdef"] == nil && second.violations.count == 1)
        try atOnce.modify(Sample.self, other.uid) { $0.priority = 1 }
        #expect(atOnce.changes.changed.contains(other.uid) && second.original(other.uid)?.version == other.version)
        #expect((second.original(other.uid) as? Sample)?.priority == other.priority && other.priority != 1)
        // The prepared objects are not changed by a working set's changes.
        #expect(whole.samples[other.uid]?.priority == other.priority)
    }

    @Test func readsOfLoadedObjectsAndOfSetupTypesAreFine() throws {
        var fixture = try LabFixture()
        let sample = try fixture.sample([fixture.cu, fixture.fe])
        let analyses = fixture.state.analyses(ofSample: sample.uid).map(\.uid)
        let (state, scope) = Self.partial(fixture, loading: [sample.uid, fixture.client.uid] + analyses,
                                          complete: ["children:\(sample.uid)"])
        #expect(state.samples[sample.uid] != nil)
        #expect(state.analyses(ofSample: sample.uid).count == 2)
        #expect(state.user(named: "analyst1") != nil)
        #expect(state.analysisServices.values.count == 3)
        #expect(scope.violations.isEmpty)
    }

    @Test func aReadOfAnObjectNotLoadedIsAViolationNotAMissingObject() throws {
        var fixture = try LabFixture()
        let sample = try fixture.sample()
        let other = try fixture.sample()
        let (state, scope) = Self.partial(fixture, loading: [sample.uid])
        #expect(state.samples[other.uid] == nil)
        #expect(scope.violations.count == 1)
        #expect(scope.violations.first?.contains(other.uid) == true)
    }

    @Test func aUidLookedUpAndNotFoundIsKnownToBeMissing() throws {
        let fixture = try LabFixture()
        let (state, scope) = Self.partial(fixture, loading: [])
        scope.declare(["0123456789abcdef0123456789abcdef"])
        #expect(state.object("0123456789abcdef0123456789abcdef") == nil)
        #expect(scope.violations.isEmpty)
    }

    @Test func aSampleRuleWithoutItsAnalysesLoadedIsAViolation() throws {
        var fixture = try LabFixture()
        let sample = try fixture.sample([fixture.cu, fixture.fe])
        let (state, scope) = Self.partial(fixture, loading: [sample.uid, fixture.client.uid])
        _ = state.analyses(ofSample: sample.uid)
        #expect(scope.violations.contains { $0.contains("children:\(sample.uid)") })
    }

    @Test func aScanOfAWholeTypeNotLoadedWholeIsAViolation() throws {
        var fixture = try LabFixture()
        _ = try fixture.sample()
        let (state, scope) = Self.partial(fixture, loading: [])
        _ = state.samples.values.count
        #expect(scope.violations.contains { $0.contains("AnalysisRequest") })
    }

    @Test func anIdCounterOutsideTheReservationIsRecordedAsANeed() throws {
        let fixture = try LabFixture()
        let (base, scope) = Self.partial(fixture, loading: [fixture.client.uid, fixture.contact.uid])
        var state = base
        _ = try state.createSample(clientUID: fixture.client.uid, contactUID: fixture.contact.uid, sampleTypeUID: fixture.h2o.uid,
                                   serviceUIDs: [fixture.cu.uid], uids: fixture.uids, now: fixture.now)
        #expect(scope.counterNeeds == ["AnalysisRequest:H2O": 1])

        let (base2, reserved) = Self.partial(fixture, loading: [fixture.client.uid, fixture.contact.uid])
        var given = base2
        given.loadCounter("AnalysisRequest:H2O", value: 41)
        reserved.reserve("AnalysisRequest:H2O", upTo: 42)
        let sample = try given.createSample(clientUID: fixture.client.uid, contactUID: fixture.contact.uid, sampleTypeUID: fixture.h2o.uid,
                                            serviceUIDs: [fixture.cu.uid], uids: fixture.uids, now: fixture.now)
        #expect(sample.id == "H2O-0042")
        #expect(reserved.counterNeeds.isEmpty)
        #expect(reserved.violations.isEmpty)
    }

    /// A ``SecurityTree`` over a whole lab, as the storage layer answers it.
    struct StateTree: SecurityTree {
        let state: LabState

        func children(_ uid: String) -> [any LabObject] {
            state.loadedObjects.filter { $0.parentUID == uid }.sorted { ($0.created, $0.id, $0.uid) < ($1.created, $1.id, $1.uid) }
        }
        func firstChild(of uid: String) async throws -> String? { children(uid).first?.uid }
        func nextSibling(of uid: String, under parent: String) async throws -> String? {
            let siblings = children(parent)
            guard let index = siblings.firstIndex(where: { $0.uid == uid }), index + 1 < siblings.count else { return nil }
            return siblings[index + 1].uid
        }
        func parent(of uid: String) async throws -> String? { state.peekObject(uid)?.parentUID }
        func exists(_ uid: String) async throws -> Bool { state.peekObject(uid) != nil }
    }

    @Test(arguments: [1, 3, 7, 100])
    func theStepByStepWalkGivesTheWholeLabOrder(size: Int) async throws {
        var fixture = try LabFixture()
        for index in 0..<6 { _ = try fixture.sample(index % 2 == 0 ? [fixture.cu, fixture.fe] : [fixture.zn]) }
        let expected = SecurityWalk.order(from: fixture.client.uid, in: fixture.state)
        var walked: [String] = []
        var cursor: SecurityWalkCursor?
        repeat {
            let chunk = try await SecurityWalk.chunk(from: fixture.client.uid, cursor: cursor, size: size, tree: StateTree(state: fixture.state))
            #expect(!chunk.uids.isEmpty)
            walked += chunk.uids
            cursor = chunk.cursor
        } while cursor != nil && walked.count <= expected.count
        #expect(walked == expected)
        #expect(walked.last == fixture.client.uid)
    }
}

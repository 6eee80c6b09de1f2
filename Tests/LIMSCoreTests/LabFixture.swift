import LIMSCore

/// A small lab: one client with one contact, sample type H2O, services Cu/Fe/Zn, users labman (LabManager),
/// analyst1 and analyst2 (Analyst), clerk (LabClerk). Deterministic uids, a manual clock.
struct LabFixture {
    var state: LabState
    let uids = SequentialUIDGenerator()
    var now: Double = 1_700_000_000
    let client: Client
    let contact: Contact
    let h2o: SampleType
    let cu: AnalysisService
    let fe: AnalysisService
    let zn: AnalysisService
    let labman: User
    let analyst1: User
    let analyst2: User
    let clerk: User

    init(settings: LabSettings = LabSettings()) throws {
        var state = LabState(settings: settings)
        let uids = self.uids
        let t: Double = 1_700_000_000
        client = state.createClient(name: "Happy Hills", clientID: "HH", email: "lab@happyhills.example", uids: uids, now: t)
        contact = try state.createContact(in: client.uid, firstname: "Rita", surname: "Mohale", email: "rita@happyhills.example", uids: uids, now: t)
        h2o = try state.createSampleType(title: "Water", prefix: "H2O", uids: uids, now: t)
        cu = try state.createAnalysisService(title: "Copper", keyword: "Cu", unit: "mg/L", sortKey: 1, uids: uids, now: t)
        fe = try state.createAnalysisService(title: "Iron", keyword: "Fe", unit: "mg/L", sortKey: 2, uids: uids, now: t)
        zn = try state.createAnalysisService(title: "Zinc", keyword: "Zn", unit: "mg/L", sortKey: 3, uids: uids, now: t)
        labman = try state.createUser(userid: "labman", fullname: "Lab Manager", roles: [.labManager], uids: uids, now: t)
        analyst1 = try state.createUser(userid: "analyst1", roles: [.analyst], uids: uids, now: t)
        analyst2 = try state.createUser(userid: "analyst2", roles: [.analyst], uids: uids, now: t)
        clerk = try state.createUser(userid: "clerk", roles: [.labClerk], uids: uids, now: t)
        self.state = state
    }

    func ctx(
        _ user: User, ws: String? = nil, queued: Set<String> = [], inside: Bool = false
    ) -> TransitionContext {
        TransitionContext(user: user, worksheetUID: ws, queuedUIDs: queued, insideQueuedTask: inside, uids: uids)
    }

    mutating func tick() -> Double {
        now += 60
        return now
    }

    /// A new sample (default services Cu), received by the clerk unless `receive` is false.
    @discardableResult
    mutating func sample(_ services: [AnalysisService]? = nil, priority: Int = 3, receive: Bool = true) throws -> Sample {
        let services = services ?? [cu]
        let sample = try state.createSample(clientUID: client.uid, contactUID: contact.uid, sampleTypeUID: h2o.uid,
                                            serviceUIDs: services.map(\.uid), priority: priority, uids: uids, now: tick())
        if receive {
            let outcome = WorkflowEngine.doTransition("receive", on: sample.uid, context: ctx(clerk), state: &state, now: tick())
            precondition(outcome.isDone, "receive failed: \(outcome)")
        }
        return state.samples[sample.uid]!
    }

    mutating func worksheet(analyst: String = "analyst1") throws -> Worksheet {
        try state.createWorksheet(analyst: analyst, uids: uids, now: tick())
    }

    /// The routine analysis `keyword` (original, not a retest) of `sample`.
    func analysis(_ keyword: String, of sample: Sample) -> Analysis {
        state.analyses(ofSample: sample.uid).first { $0.id == keyword }!
    }

    @discardableResult
    mutating func transition(
        _ id: String, _ uid: String, as user: User, ws: String? = nil, queued: Set<String> = [], inside: Bool = false
    ) -> TransitionOutcome {
        WorkflowEngine.doTransition(id, on: uid, context: ctx(user, ws: ws, queued: queued, inside: inside),
                                    state: &state, now: tick())
    }

    mutating func setResult(_ uid: String, _ value: String = "13", as user: User? = nil) throws {
        try state.setResult(value, on: uid, context: ctx(user ?? analyst1))
    }

    /// Result + submit by `user` (default analyst1); returns the outcome.
    @discardableResult
    mutating func submit(_ uid: String, as user: User? = nil, queued: Set<String> = [], inside: Bool = false) throws -> TransitionOutcome {
        try setResult(uid, as: user)
        return transition("submit", uid, as: user ?? analyst1, queued: queued, inside: inside)
    }

    func reviewState(_ uid: String) -> String? { state.object(uid)?.workflowState }
}

import HummingbirdBcrypt
import LIMSCore
import QueueCore
import Storage

/// The small lab the LIMS API, security, observability and web page tests share: two clients (Happy Hills with
/// Rita, Klaymore with Ken), Water, Cu and Fe, a two-slot routine template, users `labman`/`labpass` (LabManager),
/// `analyst1`/`anpass` and `rita`/`ritapass` (a client user), 3 + 1 samples, the first received.
package struct SeededLab: Sendable {
    package let happy: Client
    package let klaymore: Client
    package let rita: Contact
    package let ken: Contact
    package let water: SampleType
    package let cu: AnalysisService
    package let fe: AnalysisService
    package let template: WorksheetTemplate
    /// Samples of Happy Hills (3, the first received) and of Klaymore (1).
    package let happySamples: [Sample]
    package let klaymoreSample: Sample

    package init(happy: Client, klaymore: Client, rita: Contact, ken: Contact, water: SampleType, cu: AnalysisService, fe: AnalysisService, template: WorksheetTemplate, happySamples: [Sample], klaymoreSample: Sample) {
        self.happy = happy
        self.klaymore = klaymore
        self.rita = rita
        self.ken = ken
        self.water = water
        self.cu = cu
        self.fe = fe
        self.template = template
        self.happySamples = happySamples
        self.klaymoreSample = klaymoreSample
    }

    /// When the lab was created, epoch seconds (2026-01-01T00:00:00Z).
    package static let now: Double = 1_767_225_600

    /// Seeds a small lab: two clients with a contact each, Water, Cu and Fe, a two-slot routine template, a lab
    /// manager, an analyst and a client user (bcrypt cost 4), 3 + 1 samples.
    package static func seed(_ repository: any LabRepository) async throws -> SeededLab {
        let uids = RandomUIDGenerator(), now = Self.now
        let hashes = (Bcrypt.hash("labpass", cost: 4), Bcrypt.hash("anpass", cost: 4), Bcrypt.hash("ritapass", cost: 4))
        let lab = try await repository.perform { state, _ -> SeededLab in
            let happy = state.createClient(name: "Happy Hills", clientID: "HH", uids: uids, now: now)
            let klaymore = state.createClient(name: "Klaymore", clientID: "KL", uids: uids, now: now)
            let rita = try state.createContact(in: happy.uid, firstname: "Rita", surname: "Mohale", uids: uids, now: now)
            let ken = try state.createContact(in: klaymore.uid, firstname: "Ken", surname: "Lay", uids: uids, now: now)
            let water = try state.createSampleType(title: "Water", prefix: "H2O", uids: uids, now: now)
            let cu = try state.createAnalysisService(title: "Copper", keyword: "Cu", sortKey: 1, uids: uids, now: now)
            let fe = try state.createAnalysisService(title: "Iron", keyword: "Fe", sortKey: 2, uids: uids, now: now)
            let template = try state.createWorksheetTemplate(
                title: "Two routine", layout: [.init(pos: 1, type: .routine), .init(pos: 2, type: .routine)],
                serviceUIDs: [cu.uid, fe.uid], uids: uids, now: now)
            let manager = try state.createUser(userid: "labman", passwordHash: hashes.0, roles: [.labManager], uids: uids, now: now)
            _ = try state.createUser(userid: "analyst1", passwordHash: hashes.1, roles: [.analyst], uids: uids, now: now)
            _ = try state.createUser(userid: "rita", passwordHash: hashes.2, roles: [.client], uids: uids, now: now)
            try state.linkUser("rita", toContact: rita.uid)
            var happySamples: [Sample] = []
            for index in 0..<3 {
                happySamples.append(try state.createSample(clientUID: happy.uid, contactUID: rita.uid, sampleTypeUID: water.uid,
                                                           serviceUIDs: [cu.uid, fe.uid], uids: uids, now: now + Double(index)))
            }
            let klaymoreSample = try state.createSample(clientUID: klaymore.uid, contactUID: ken.uid, sampleTypeUID: water.uid,
                                                        serviceUIDs: [cu.uid], uids: uids, now: now + 10)
            let context = TransitionContext(user: manager, uids: uids)
            let received = WorkflowEngine.doTransition("receive", on: happySamples[0].uid, context: context, state: &state, now: now)
            guard received.isDone else { throw LabError(.refused, "receive refused: \(received)") }
            return SeededLab(happy: happy, klaymore: klaymore, rita: rita, ken: ken, water: water, cu: cu, fe: fe,
                       template: template, happySamples: happySamples, klaymoreSample: klaymoreSample)
        }
        try await repository.reindexSecurity(try await repository.load().allObjects.map(\.uid))
        return lab
    }
}

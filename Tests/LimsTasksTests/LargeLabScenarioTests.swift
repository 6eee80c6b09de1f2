import Foundation
import LIMSCore
import QueueCore
import Storage
import TestSupport
import Testing
@testable import LimsQueueCLI

/// A lab around the scenarios: many received samples of another client, built in bulk (units of work of 1,000
/// samples with reserved ids and multi-row inserts).
enum LargeLab {
    /// Adds `count` received samples (Zn, sample type Soil) of a new client "Background Lab".
    static func addBackground(_ count: Int, to lab: SQLLabStore, now: Double) async throws {
        let (contactUID, soilUID, znUID) = try await lab.perform { state, _ -> (String, String, String) in
            let uids = RandomUIDGenerator()
            let client = state.createClient(name: "Background Lab", clientID: "BG", uids: uids, now: now)
            let contact = try state.createContact(in: client.uid, firstname: "Bea", surname: "Ground", uids: uids, now: now)
            let soil = try state.createSampleType(title: "Soil", prefix: "SOI", uids: uids, now: now)
            let zn = try state.createAnalysisService(title: "Zinc", keyword: "Zn", sortKey: 9, uids: uids, now: now)
            return (contact.uid, soil.uid, zn.uid)
        }
        var done = 0
        while done < count {
            let batch = min(1_000, count - done)
            try await lab.perform { state, reader in
                try await reader.load([contactUID], into: &state)
                try await reader.reserve(LabState.counterKey(.sample, sampleTypePrefix: "SOI"), count: batch, into: &state)
                let uids = RandomUIDGenerator()
                guard let contact = state.contacts.peek(contactUID),
                      let manager = state.users.values.first(where: \.isLabManager) else { throw LabError(.notFound, "no contact or manager") }
                let context = TransitionContext(user: manager, uids: uids)
                for index in 0..<batch {
                    let sample = try state.createSample(clientUID: contact.clientUID, contactUID: contactUID, sampleTypeUID: soilUID,
                                                        serviceUIDs: [znUID], uids: uids, now: now - 1_000 + Double(index))
                    _ = WorkflowEngine.doTransition("receive", on: sample.uid, context: context, state: &state, now: now)
                }
            }
            done += batch
        }
    }
}

/// The reference scenarios on a lab of 20,000 samples: the actions read only their working sets, so they behave
/// (and answer) as on the small lab.
@Suite("Reference scenarios on a 20,000-sample lab")
struct LargeLabScenarioTests {
    @Test("template assignment, worksheet actions in rounds, guards and the contact link walk on 20,000 samples")
    func scenariosOnALargeLab() async throws {
        try await QueueScenarioTests.withSystem(background: 20_000) { system in
            let manager = try #require(try await system.repository.user(named: "labman"))
            #expect(try await system.repository.catalog(CatalogQuery(portalType: .sample, limit: 1, countWindow: .max), visibleTo: manager).total == 20_015)
            // A worksheet from the template: its routine part queued, 5/10/15 per round, the scenario's samples only.
            let created = try await system.api.manager("worksheet/create", body: .object([
                "analyst": .string("analyst1"), "template": .string(system.lab.template.uid),
            ]))
            #expect(created.json["queued"] == .bool(true), "\(created.json)")
            let worksheetUID = try #require(created.items.first?["uid"]?.stringValue)
            let taskUID = try #require(created.json["task_uid"]?.stringValue)
            #expect(Set(try #require(try await system.store.task(taskUID)).uids) == Set(system.lab.analyses))
            for expected in [5, 10, 15] {
                try await system.round()
                #expect(try await system.count("assigned") == expected)
                #expect(try await system.queued(worksheetUID) == (expected < 15))
            }
            // Submit in rounds of 5; meanwhile the queued analyses' samples are guarded.
            try await system.results()
            let submit = try await system.action("submit", on: worksheetUID)
            #expect(submit.json["queued"] == .bool(true), "\(submit.json)")
            let guarded = try await system.api.manager("workflow_action", body: .object([
                "action": .string("submit"), "uids": .array([.string(system.lab.samples[0].uid)]),
            ]))
            #expect(guarded.json["items"]?.arrayValue?.first?.objectValue?["guard"] == .string(GuardID.queueSample), "\(guarded.json)")
            for expected in [5, 10, 15] {
                try await system.round()
                #expect(try await system.count("to_be_verified") == expected)
            }
            // Verify in rounds of 5 (self-verification is on in the scenario lab).
            _ = try await system.action("verify", on: worksheetUID)
            for expected in [5, 10, 15] {
                try await system.round()
                #expect(try await system.count("verified") == expected)
            }
            // A contact linked to a new user: the walk covers its client's subtree only.
            let linked = try await system.api.manager("contact/link_user", body: .object([
                "contact_uid": .string(system.lab.contact.uid), "username": .string("rita2"), "password": .string("rita2-password"),
            ]))
            #expect(linked.json["queued"] == .bool(true), "\(linked.json)")
            try await system.drain()
            let rita2 = try #require(try await system.repository.user(named: "rita2"))
            let visible = try await system.repository.catalog(CatalogQuery(portalType: .sample, limit: 100), visibleTo: rita2)
            #expect(visible.total == 15 && Set(visible.uids) == Set(system.lab.samples.map(\.uid)))
        }
    }
}

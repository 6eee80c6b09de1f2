import LIMSCore
import Testing

@Suite("Permissions, user linking and the security walk (reference 3.6, 4, bugs 5.2-5.3)")
struct SecurityTests {
    /// The fixture client gets 2 samples × (Cu, Fe) and a second contact; another client gets one sample.
    func populated() throws -> (LabFixture, Client) {
        var lab = try LabFixture()
        try lab.sample([lab.cu, lab.fe])
        try lab.sample([lab.cu, lab.fe])
        _ = try lab.state.createContact(in: lab.client.uid, firstname: "Sam", surname: "Dube", uids: lab.uids, now: lab.tick())
        let other = lab.state.createClient(name: "Other", clientID: "OT", uids: lab.uids, now: lab.tick())
        let otherContact = try lab.state.createContact(in: other.uid, firstname: "O", surname: "T", uids: lab.uids, now: lab.tick())
        _ = try lab.state.createSample(clientUID: other.uid, contactUID: otherContact.uid, sampleTypeUID: lab.h2o.uid,
                                       serviceUIDs: [lab.cu.uid], uids: lab.uids, now: lab.tick())
        return (lab, other)
    }

    func subtree(_ root: String, _ state: LabState) -> Set<String> {
        var result: Set<String> = [root]
        var changed = true
        while changed {
            changed = false
            for object in state.allObjects where !result.contains(object.uid) {
                if let parent = object.parentUID, result.contains(parent) {
                    result.insert(object.uid)
                    changed = true
                }
            }
        }
        return result
    }

    @Test func walkIsPostOrderEndsWithTheClientAndStaysInTheSubtree() throws {
        let (lab, _) = try populated()
        let order = securityReindexOrder(lab.client.uid, lab.state)
        #expect(order.last == lab.client.uid)
        #expect(Set(order) == subtree(lab.client.uid, lab.state))
        #expect(order.count == Set(order).count)
        #expect(order.count == 1 + 2 + 2 + 4)  // client, 2 contacts, 2 samples, 4 analyses
        // Post-order: every node comes after all of its children.
        let index = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($1, $0) })
        for uid in order {
            if let parent = lab.state.object(uid)?.parentUID, let p = index[parent] { #expect(index[uid]! < p) }
        }
        // Children oldest first: the first contact, then the first sample's analyses, then the sample.
        let ids = order.map { lab.state.object($0)!.id }
        #expect(ids == ["contact-1", "Cu", "Fe", "H2O-0001", "Cu", "Fe", "H2O-0002", "contact-2", "client-1"])
    }

    @Test(arguments: [1, 2, 3, 4, 10])
    func chunkingCoversEveryNodeExactlyOnce(size: Int) throws {
        let (lab, _) = try populated()
        let full = securityReindexOrder(lab.client.uid, lab.state)
        var seen: [String] = []
        var cursor: SecurityWalkCursor?
        var rounds = 0
        repeat {
            let chunk = SecurityWalk.chunk(from: lab.client.uid, cursor: cursor, size: size, in: lab.state)
            #expect(chunk.uids.count <= size)
            seen += chunk.uids
            cursor = chunk.cursor
            rounds += 1
        } while cursor != nil && rounds < 100
        #expect(seen == full)
        #expect(seen.last == lab.client.uid)
        #expect(rounds == (full.count + size - 1) / size)
    }

    @Test func chunkResumesWhenTheCursorObjectWasDeleted() throws {
        var (lab, _) = try populated()
        let first = SecurityWalk.chunk(from: lab.client.uid, cursor: nil, size: 3, in: lab.state)
        let cursor = try #require(first.cursor)
        lab.state.delete(cursor.lastUID)
        let rest = SecurityWalk.chunk(from: lab.client.uid, cursor: cursor, size: 100, in: lab.state)
        #expect(rest.cursor == nil)
        #expect(Set(first.uids + rest.uids).isSuperset(of: securityReindexOrder(lab.client.uid, lab.state)))
    }

    @Test func walkOfAChildlessClientIsJustTheClient() throws {
        var lab = try LabFixture()
        let lone = lab.state.createClient(name: "Lone", clientID: "LO", uids: lab.uids, now: lab.now)
        #expect(securityReindexOrder(lone.uid, lab.state) == [lone.uid])
        #expect(securityReindexOrder("unknown", lab.state) == [])
    }

    @Test func linkingAUserGrantsOwnerAndAddsItToAllowedRolesAndUsers() throws {
        var (lab, other) = try populated()
        let jdoe = try lab.state.createUser(userid: "jdoe", roles: [.client], uids: lab.uids, now: lab.now)
        let sample = lab.state.samples.values.first { $0.clientUID == lab.client.uid }!
        let otherSample = lab.state.samples.values.first { $0.clientUID == other.uid }!
        let before = lab.state.allowedRolesAndUsers(of: sample.uid)
        #expect(before == ["Manager", "LabManager", "LabClerk", "Analyst", "Verifier", "Sampler", "Owner"])
        #expect(!lab.state.hasPermission(.view, on: sample.uid, user: jdoe))

        let order = try lab.state.linkUser("jdoe", toContact: lab.contact.uid)
        #expect(order == securityReindexOrder(lab.client.uid, lab.state))
        #expect(lab.state.clients[lab.client.uid]?.localRoles["jdoe"] == [.owner])
        let linked = lab.state.user(named: "jdoe")!
        #expect(linked.groups.contains("Clients"))
        #expect(linked.linkedContactUID == lab.contact.uid)
        #expect(lab.state.contacts[lab.contact.uid]?.username == "jdoe")
        #expect(linked.email == lab.contact.email)
        for uid in order { #expect(lab.state.allowedRolesAndUsers(of: uid).contains("user:jdoe")) }
        #expect(!lab.state.allowedRolesAndUsers(of: otherSample.uid).contains("user:jdoe"))
        #expect(lab.state.hasPermission(.view, on: sample.uid, user: linked))
        #expect(!lab.state.hasPermission(.view, on: otherSample.uid, user: linked))
        #expect(lab.state.hasPermission(.addSample, on: lab.client.uid, user: linked))
        #expect(!lab.state.canPerform("verify", on: lab.analysis("Cu", of: sample).uid, user: linked))

        try lab.state.unlinkUser(fromContact: lab.contact.uid)
        #expect(lab.state.allowedRolesAndUsers(of: sample.uid) == before)
        #expect(lab.state.user(named: "jdoe")?.groups.contains("Clients") == false)
    }

    @Test func linkingTwiceToDifferentUsersIsRefused() throws {
        var lab = try LabFixture()
        _ = try lab.state.createUser(userid: "a", roles: [.client], uids: lab.uids, now: lab.now)
        _ = try lab.state.createUser(userid: "b", roles: [.client], uids: lab.uids, now: lab.now)
        try lab.state.linkUser("a", toContact: lab.contact.uid)
        #expect(throws: LabError.self) { try lab.state.linkUser("b", toContact: lab.contact.uid) }
    }

    @Test(arguments: [
        ("labman", "verify", true), ("analyst1", "verify", false), ("analyst1", "submit", true),
        ("clerk", "submit", false), ("clerk", "cancel", true), ("analyst1", "assign", true),
    ])
    func canPerformFollowsTheRoleMap(userid: String, transition: String, expected: Bool) throws {
        var lab = try LabFixture()
        let s = try lab.sample()
        let user = lab.state.user(named: userid)!
        #expect(lab.state.canPerform(transition, on: lab.analysis("Cu", of: s).uid, user: user) == expected)
    }
}

import Foundation
import LIMSCore
import SetupImport
import SetupWorkbook
import Testing

/// Imports SENAITE's demo setup workbook (`SETUP_XLSX`).
@Suite("Demo setup workbook")
struct DemoWorkbookTests {
    @Test func reportCountsEveryTypeInImportOrder() throws {
        var state = LabState()
        let report = try TestSupport.importDemo(into: &state)
        #expect(report.lines == [
            "LabContact: 8", "User: 15", "Client: 5", "Contact: 7", "SampleType: 12", "Method: 11",
            "Instrument: 21", "AnalysisCategory: 3", "AnalysisService: 25", "ReferenceDefinition: 3",
            "ReferenceSample: 0", "WorksheetTemplate: 1",
        ])
        #expect(report.totalUpdated == 0)
        #expect(report.count(.client).created == 5)
        #expect(report.detailedLines.contains("Client: 5 (5 created, 0 updated)"))

        #expect(state.clients.count == 5)
        #expect(state.contacts.count == 7)
        #expect(state.labContacts.count == 8)
        #expect(state.users.count == 15)
        #expect(state.sampleTypes.count == 12)
        #expect(state.methods.count == 11)
        #expect(state.instruments.count == 21)
        #expect(state.analysisCategories.count == 3)
        #expect(state.analysisServices.count == 25)
        #expect(state.referenceDefinitions.count == 3)
        #expect(state.referenceSamples.isEmpty)
        #expect(state.worksheetTemplates.count == 1)
        #expect(state.changes.created.count == state.allObjects.count)
    }

    @Test func notesNameSkippedSheetsAndFields() throws {
        var state = LabState()
        let report = try TestSupport.importDemo(into: &state)
        #expect(report.notes.contains("Sheet 'Lab Departments': 5 rows skipped: LIMSCore has no lab department type"))
        #expect(report.notes.contains { $0.hasPrefix("Sheet 'Analysis Services': columns not imported") && $0.contains("Department_title") })
        #expect(report.notes.contains { $0.contains("group 'Preservers' grants no LIMSCore role") })
        #expect(!report.notes.contains { $0.contains("'Clients': columns not imported") && $0.contains("Name,") })
    }

    @Test func clientsAndSetupObjectsCarryWorkbookValues() throws {
        var state = LabState()
        try TestSupport.importDemo(into: &state)
        let happy = try #require(state.clients.values.first { $0.name == "Happy Hills" })
        #expect(happy.clientID == "HH")
        #expect(happy.email == "happyhills@example.com")
        #expect(happy.phone == "021 555 4220")
        #expect(state.clients.values.contains { $0.name == "Ŝunnyside" && $0.clientID == "SS" })

        let water = try #require(state.sampleTypes.values.first { $0.title == "Water" })
        #expect(water.prefix == "H2O")

        let metals = try #require(state.analysisCategories.values.first { $0.title == "Metals" })
        let calcium = try #require(state.analysisServices.values.first { $0.keyword == "Ca" })
        #expect(calcium.title == "Calcium")
        #expect(calcium.unit == "mg/l")
        #expect(calcium.categoryUID == metals.uid)
        let temp = try #require(state.analysisServices.values.first { $0.keyword == "Temp" })
        #expect(temp.unit == "Deg. C")
        #expect(Set(state.analysisServices.values.map(\.keyword)).count == 25)
    }

    @Test func labContactsGetUsersWithMappedRolesAndHashedPasswords() throws {
        var state = LabState()
        try TestSupport.importDemo(into: &state)
        let expected: [String: Set<Role>] = [
            "labman1": [.labManager], "labman2": [.labManager], "labclerk1": [.labClerk], "labclerk2": [.labClerk],
            "analyst1": [.analyst], "analyst2": [.analyst], "sampler1": [.sampler], "preserver1": [],
        ]
        for (userid, roles) in expected {
            let user = try #require(state.user(named: userid))
            #expect(user.roles == roles, "\(userid)")
            #expect(user.passwordHash == TestSupport.hash(userid))
            #expect(user.passwordHash != userid)
            #expect(user.linkedContactUID == nil)
            #expect(state.labContacts.values.contains { $0.username == userid }, "\(userid)")
        }
        let labman1 = try #require(state.user(named: "labman1"))
        #expect(labman1.groups == ["LabManagers"])
        #expect(labman1.fullname == "Lab Manager 1")
        #expect(labman1.email == "labmanager1@example.com")
        #expect(state.user(named: "preserver1")?.groups == ["Preservers"])
        let contact = try #require(state.labContacts.values.first { $0.username == "analyst2" })
        #expect(contact.firstname == "Lab")
        #expect(contact.surname == "Analyst 2")
        #expect(contact.path.hasPrefix(LabPaths.labContacts + "/labcontact-"))
    }

    @Test func clientContactsGetClientUsersLinkedToTheirClients() throws {
        var state = LabState()
        try TestSupport.importDemo(into: &state)
        let expected = [
            ("Happy Hills", "Rita", "Mohale", "ritamo"), ("Happy Hills", "Ŝarel", "Seemonster", "sarelse"),
            ("Happy Hills", "Neil", "Ŝtandard", "neilst"), ("Klaymore", "Johanna", "Smith", "johannasm"),
            ("Myrtle", "Fred", "Turner", "fredtu"), ("Ruff", "Chris", "Ruffian", "chrisru"),
            ("Ŝunnyside", "Andre", "Corbin", "andreco"),
        ]
        for (clientName, firstname, surname, userid) in expected {
            let client = try #require(state.clients.values.first { $0.name == clientName })
            let contact = try #require(state.contacts.values.first { $0.firstname == firstname && $0.surname == surname })
            let user = try #require(state.user(named: userid))
            #expect(contact.clientUID == client.uid)
            #expect(contact.path.hasPrefix(client.path + "/contact-"))
            #expect(contact.username == userid)
            #expect(user.linkedContactUID == contact.uid)
            #expect(user.roles == [.client])
            #expect(user.groups.contains("Clients"))
            #expect(user.fullname == "\(firstname) \(surname)")
            #expect(user.passwordHash == TestSupport.hash(userid))
            #expect(client.localRoles[userid] == [.owner])
        }
        let rita = try #require(state.user(named: "ritamo"))
        #expect(rita.email == "mohale@example.com")
        #expect(state.clients.values.first { $0.name == "Happy Hills" }?.localRoles.count == 3)
    }

    @Test func instrumentsAndTemplateInstrument() throws {
        var state = LabState()
        try TestSupport.importDemo(into: &state)
        #expect(state.instruments.values.contains { $0.title == "CropScan" })
        let fiastar = try #require(state.instruments.values.first { $0.title == "Fiastar" })
        let template = try #require(state.worksheetTemplates.values.first { $0.title == "Hardness" })
        #expect(template.instrumentUID == fiastar.uid)
        let ca = try #require(state.analysisServices.values.first { $0.keyword == "Ca" })
        let mg = try #require(state.analysisServices.values.first { $0.keyword == "Mg" })
        #expect(template.serviceUIDs == [ca.uid, mg.uid])
    }

    @Test func templateLayoutReferencesTheRightDefinitions() throws {
        var state = LabState()
        try TestSupport.importDemo(into: &state)
        let template = try #require(state.worksheetTemplates.values.first { $0.title == "Hardness" })
        let water = try #require(state.referenceDefinitions.values.first { $0.title == "Distilled Water" })
        let metals10 = try #require(state.referenceDefinitions.values.first { $0.title == "Trace Metals 10" })
        #expect(template.layout.count == 20)
        #expect(template.size == 20)
        #expect(template.layout.map(\.pos) == Array(1...20))
        #expect(template.layout[0] == .blank(1, definition: water.uid))
        #expect(template.layout[1] == .control(2, definition: metals10.uid))
        #expect(template.layout[2..<17].allSatisfy { $0.type == .routine && $0.blankRef == nil && $0.controlRef == nil })
        #expect(template.layout[17] == .duplicate(18, of: 3))
        #expect(template.layout[18] == .control(19, definition: metals10.uid))
        #expect(template.layout[19] == .blank(20, definition: water.uid))
    }

    @Test func referenceDefinitionsCarryTheirResults() throws {
        var state = LabState()
        try TestSupport.importDemo(into: &state)
        let byTitle = Dictionary(uniqueKeysWithValues: state.referenceDefinitions.values.map { ($0.title, $0) })
        let keyword = { (uid: String) in state.analysisServices[uid]?.keyword ?? "?" }
        let water = try #require(byTitle["Distilled Water"])
        #expect(water.blank)
        #expect(Set(water.expected.keys.map(keyword)) == ["Ca", "Cu", "Fe", "Mg", "Mn", "Na", "Zn"])
        #expect(water.expected.values.allSatisfy { $0 == ReferenceValue(result: "0", min: "0", max: "1") })
        let nine = try #require(byTitle["Trace Metals 9"])
        #expect(!nine.blank)
        #expect(Set(nine.expected.keys.map(keyword)) == ["Cu", "Fe", "Mg", "Mn", "Na", "Zn"])
        let ten = try #require(byTitle["Trace Metals 10"])
        #expect(ten.expected.count == 7)
        let ca = try #require(state.analysisServices.values.first { $0.keyword == "Ca" })
        #expect(ten.expected[ca.uid] == ReferenceValue(result: "10", min: "9", max: "11"))
    }

    @Test func progressReportsEverySheetInImportOrder() throws {
        var state = LabState()
        let workbook = try XLSXWorkbook(contentsOf: TestSupport.demoURL)
        var calls: [(String, Int, Int)] = []
        try SetupImporter.importWorkbook(workbook, into: &state, uids: SequentialUIDGenerator(),
                                         now: TestSupport.now, passwordHasher: TestSupport.hash) { sheet, done, total in
            calls.append((sheet, done, total))
        }
        var order: [String] = []
        for call in calls where order.last != call.0 { order.append(call.0) }
        #expect(order == SetupSheetName.all)
        var last: [String: (Int, Int)] = [:]
        for call in calls {
            #expect(call.1 >= 0 && call.1 <= call.2)
            if let previous = last[call.0] { #expect(call.1 >= previous.0) }
            last[call.0] = (call.1, call.2)
        }
        #expect(last["Analysis Services"]! == (25, 25))
        #expect(last["Worksheet Template Layouts"]! == (20, 20))
        #expect(last["Reference Samples"]! == (0, 0))
        #expect(last.values.allSatisfy { $0.0 == $0.1 })
    }

    @Test func importingTwiceCreatesNoDuplicatesAndRecordsNoChange() throws {
        var state = LabState()
        let uids = SequentialUIDGenerator()
        let first = try TestSupport.importDemo(into: &state, uids: uids)
        let countsAfterFirst = TestSupport.counts(state)
        let snapshot = state
        state.clearChanges()

        let second = try TestSupport.importDemo(into: &state, uids: uids)
        #expect(TestSupport.counts(state) == countsAfterFirst)
        #expect(second.totalCreated == 0)
        #expect(second.lines == first.lines)
        for count in second.counts {
            #expect(count.updated == first.count(count.portalType).created, "\(count.portalType)")
        }
        #expect(state.changes.isEmpty)
        #expect(state.counters == snapshot.counters)
        #expect(state.clients == snapshot.clients)
        #expect(state.users == snapshot.users)
        #expect(state.worksheetTemplates == snapshot.worksheetTemplates)
        #expect(state.referenceDefinitions == snapshot.referenceDefinitions)
        #expect(second.notes.contains("Passwords of 15 existing users were left unchanged"))
    }

    @Test func existingObjectsAreMatchedByNaturalKeyAndUpdated() throws {
        var state = LabState()
        let uids = SequentialUIDGenerator()
        let client = state.createClient(name: "Happy Hills", clientID: "OLD", email: "old@example.com",
                                        uids: uids, now: 1)
        let service = try state.createAnalysisService(title: "Old copper", keyword: "Cu", unit: "ppm",
                                                      uids: uids, now: 1)
        let user = try state.createUser(userid: "labman1", passwordHash: "keep-me", roles: [.verifier],
                                        uids: uids, now: 1)
        state.clearChanges()

        let report = try TestSupport.importDemo(into: &state, uids: uids)
        #expect(report.count(.client).created == 4)
        #expect(report.count(.client).updated == 1)
        #expect(report.count(.analysisService).updated == 1)
        #expect(report.count(.user).updated == 1)
        #expect(state.clients.count == 5)
        let updated = try #require(state.clients[client.uid])
        #expect(updated.clientID == "HH")
        #expect(updated.email == "happyhills@example.com")
        let copper = try #require(state.analysisServices[service.uid])
        #expect(copper.title == "Copper")
        #expect(copper.unit == "mg/l")
        let labman = try #require(state.users[user.uid])
        #expect(labman.passwordHash == "keep-me")
        #expect(labman.roles == [.verifier, .labManager])
        #expect(state.changes.changed.isSuperset(of: [client.uid, service.uid, user.uid]))
    }
}

import LIMSCore

/// Applies a validated ``ImportPlan`` to a working copy of the state, sheet by sheet in dependency order.
/// Matches existing objects by natural key and updates them; writes an object only when a field differs.
struct ImportApplier {
    var state: LabState
    let uids: any UIDGenerator
    let now: Double
    let hashPassword: (String) -> String
    let progress: (String, Int, Int) -> Void
    var report = ImportReport()
    /// Where the applier is, for an error message should LIMSCore refuse something.
    private(set) var position: (sheet: String, row: Int?) = ("", nil)
    private var passwordsKept = 0

    init(state: LabState, uids: any UIDGenerator, now: Double, hashPassword: @escaping (String) -> String,
         progress: @escaping (String, Int, Int) -> Void) {
        self.state = state
        self.uids = uids
        self.now = now
        self.hashPassword = hashPassword
        self.progress = progress
    }

    mutating func apply(_ plan: ImportPlan) throws {
        self.plan = plan
        skipped(SetupSheetName.labDepartments)
        try each(SetupSheetName.labContacts, plan.labContacts, \.row) { try $0.labContact($1) }
        try each(SetupSheetName.clients, plan.clients, \.row) { try $0.client($1) }
        try each(SetupSheetName.clientContacts, plan.contacts, \.row) { try $0.contact($1) }
        try sampleTypes(plan.sampleTypes)
        try each(SetupSheetName.methods, plan.methods, \.row) { try $0.method($1) }
        try each(SetupSheetName.instruments, plan.instruments, \.row) { try $0.instrument($1) }
        try each(SetupSheetName.analysisCategories, plan.categories, \.row) { try $0.category($1) }
        try each(SetupSheetName.analysisServices, plan.services, \.row) { try $0.service($1) }
        try each(SetupSheetName.serviceMethods, plan.serviceMethods, \.row) { try $0.serviceMethod($1) }
        try each(SetupSheetName.serviceInstruments, plan.serviceInstruments, \.row) { try $0.serviceInstrument($1) }
        try each(SetupSheetName.referenceDefinitions, plan.referenceDefinitions, \.row) { try $0.definition($1) }
        try each(SetupSheetName.referenceDefinitionResults, plan.definitionResults, \.row) {
            try $0.definitionResult($1)
        }
        try each(SetupSheetName.referenceSamples, plan.referenceSamples, \.row) { try $0.referenceSample($1) }
        try each(SetupSheetName.referenceSampleResults, plan.sampleResults, \.row) { try $0.sampleResult($1) }
        try each(SetupSheetName.worksheetTemplates, plan.templates, \.row) { try $0.template($1) }
        try templatesNamedOnlyBySubSheets()
        finished(SetupSheetName.worksheetTemplateServices)
        finished(SetupSheetName.worksheetTemplateLayouts)
        if passwordsKept > 0 {
            report.note("Passwords of \(passwordsKept) existing users were left unchanged")
        }
    }

    private var plan = ImportPlan()

    // MARK: - Sheets

    private mutating func labContact(_ row: ImportPlan.LabContactRow) throws {
        var contact: LabContact
        if let existing = state.importMatchLabContact(firstname: row.firstname, surname: row.surname,
                                                      username: row.user?.username) {
            contact = existing
            contact.firstname = row.firstname
            contact.surname = row.surname
            contact.email = row.email
            try save(contact, existing)
            report.record(.labContact, created: false)
        } else {
            contact = state.createLabContact(firstname: row.firstname, surname: row.surname, email: row.email,
                                             uids: uids, now: now)
            report.record(.labContact, created: true)
        }
        guard let user = row.user else { return }
        let fullname = [row.firstname, row.surname].filter { !$0.isEmpty }.joined(separator: " ")
        try upsertUser(user, fullname: fullname, email: row.email, baseRoles: [])
        if contact.username != user.username {
            try state.modify(LabContact.self, contact.uid) { $0.username = user.username }
        }
    }

    private mutating func client(_ row: ImportPlan.ClientRow) throws {
        if let existing = state.importClient(named: row.name) {
            var client = existing
            client.clientID = row.clientID
            client.email = row.email
            client.phone = row.phone
            try save(client, existing)
            report.record(.client, created: false)
        } else {
            var client = state.createClient(name: row.name, clientID: row.clientID, email: row.email,
                                            uids: uids, now: now)
            if !row.phone.isEmpty {
                let created = client
                client.phone = row.phone
                try save(client, created)
            }
            report.record(.client, created: true)
        }
    }

    private mutating func contact(_ row: ImportPlan.ContactRow) throws {
        guard let client = state.importClient(named: row.clientName) else {
            throw LabError(.notFound, "No client named \(row.clientName)")
        }
        var contact: Contact
        if let existing = state.importMatchContact(clientUID: client.uid, firstname: row.firstname,
                                                   surname: row.surname) {
            contact = existing
            contact.email = row.email
            try save(contact, existing)
            report.record(.contact, created: false)
        } else {
            contact = try state.createContact(in: client.uid, firstname: row.firstname, surname: row.surname,
                                              email: row.email, uids: uids, now: now)
            report.record(.contact, created: true)
        }
        guard let userRow = row.user else { return }
        let user = try upsertUser(userRow, fullname: contact.fullname, email: row.email, baseRoles: [.client])
        let linked = contact.username == user.userid && user.linkedContactUID == contact.uid
            && user.groups.contains("Clients")
            && state.clients[client.uid]?.localRoles[user.userid]?.contains(.owner) == true
        if !linked {
            try state.linkUser(user.userid, toContact: contact.uid, walk: false) // the caller re-indexes changed clients
        }
    }

    /// Existing sample types first, so that a prefix freed by one of them can be taken by a new one.
    private mutating func sampleTypes(_ rows: [ImportPlan.SampleTypeRow]) throws {
        let sheet = SetupSheetName.sampleTypes
        let total = plan.rowCounts[sheet] ?? rows.count
        progress(sheet, 0, total)
        var done = 0
        var created: [ImportPlan.SampleTypeRow] = []
        for row in rows {
            position = (sheet, row.row)
            guard let existing = state.importSampleType(titled: row.title) else {
                created.append(row)
                continue
            }
            var value = existing
            value.prefix = row.prefix
            try save(value, existing)
            report.record(.sampleType, created: false)
            done += 1
            progress(sheet, done, total)
        }
        for row in created {
            position = (sheet, row.row)
            _ = try state.createSampleType(title: row.title, prefix: row.prefix, uids: uids, now: now)
            report.record(.sampleType, created: true)
            done += 1
            progress(sheet, done, total)
        }
        finished(sheet)
    }

    private mutating func method(_ row: ImportPlan.TitleRow) throws {
        if state.importMethod(titled: row.title) != nil {
            report.record(.method, created: false)
        } else {
            _ = state.createMethod(title: row.title, uids: uids, now: now)
            report.record(.method, created: true)
        }
    }

    private mutating func instrument(_ row: ImportPlan.InstrumentRow) throws {
        let method = try row.methodTitle.map { try methodUID($0) }
        if let existing = state.importInstrument(titled: row.title) {
            var value = existing
            if let method { value.methodUIDs = [method] + existing.methodUIDs.filter { $0 != method } }
            try save(value, existing)
            report.record(.instrument, created: false)
        } else {
            _ = state.createInstrument(title: row.title, methodUIDs: method.map { [$0] } ?? [], uids: uids, now: now)
            report.record(.instrument, created: true)
        }
    }

    private mutating func category(_ row: ImportPlan.TitleRow) throws {
        if state.importCategory(titled: row.title) != nil {
            report.record(.analysisCategory, created: false)
        } else {
            _ = state.createAnalysisCategory(title: row.title, uids: uids, now: now)
            report.record(.analysisCategory, created: true)
        }
    }

    private mutating func service(_ row: ImportPlan.ServiceRow) throws {
        guard let category = state.importCategory(titled: row.categoryTitle) else {
            throw LabError(.notFound, "No analysis category \(row.categoryTitle)")
        }
        let method = try row.defaultMethodTitle.map { try methodUID($0) }
        let instrument = try row.defaultInstrumentTitle.map { try instrumentUID($0) }
        if let existing = state.importService(keyword: row.keyword) {
            var value = existing
            value.title = row.title
            value.unit = row.unit
            value.categoryUID = category.uid
            if let method { value.methodUIDs = [method] + existing.methodUIDs.filter { $0 != method } }
            if let instrument {
                value.instrumentUIDs = [instrument] + existing.instrumentUIDs.filter { $0 != instrument }
            }
            try save(value, existing)
            report.record(.analysisService, created: false)
        } else {
            _ = try state.createAnalysisService(
                title: row.title, keyword: row.keyword, unit: row.unit, categoryUID: category.uid,
                methodUIDs: method.map { [$0] } ?? [], instrumentUIDs: instrument.map { [$0] } ?? [],
                uids: uids, now: now)
            report.record(.analysisService, created: true)
        }
    }

    private mutating func serviceMethod(_ link: ImportPlan.ServiceLink) throws {
        let uid = try methodUID(link.target)
        try updateService(link.keyword) { if !$0.methodUIDs.contains(uid) { $0.methodUIDs.append(uid) } }
    }

    private mutating func serviceInstrument(_ link: ImportPlan.ServiceLink) throws {
        let uid = try instrumentUID(link.target)
        try updateService(link.keyword) { if !$0.instrumentUIDs.contains(uid) { $0.instrumentUIDs.append(uid) } }
    }

    private mutating func definition(_ row: ImportPlan.ReferenceDefinitionRow) throws {
        if let existing = state.importDefinition(titled: row.title) {
            var value = existing
            value.blank = row.blank
            try save(value, existing)
            report.record(.referenceDefinition, created: false)
        } else {
            _ = state.createReferenceDefinition(title: row.title, blank: row.blank, uids: uids, now: now)
            report.record(.referenceDefinition, created: true)
        }
    }

    private mutating func definitionResult(_ row: ImportPlan.ResultRow) throws {
        guard let existing = state.importDefinition(titled: row.owner) else {
            throw LabError(.notFound, "No reference definition \(row.owner)")
        }
        let service = try serviceUID(row.keyword)
        var value = existing
        value.expected[service] = row.value
        try save(value, existing)
    }

    private mutating func referenceSample(_ row: ImportPlan.ReferenceSampleRow) throws {
        var definition: ReferenceDefinition?
        if let title = row.definitionTitle {
            guard let found = state.importDefinition(titled: title) else {
                throw LabError(.notFound, "No reference definition \(title)")
            }
            definition = found
        }
        if let existing = state.importReferenceSample(row.sampleID) {
            var value = existing
            value.blank = row.blank ?? definition?.blank ?? false
            value.definitionUID = definition?.uid
            value.expiryDate = row.expiryDate
            value.dateDisposed = row.dateDisposed
            try save(value, existing)
            report.record(.referenceSample, created: false)
        } else {
            var value = try state.createReferenceSample(
                title: row.sampleID, blank: row.blank, definitionUID: definition?.uid, expiryDate: row.expiryDate,
                uids: uids, now: now)
            if let disposed = row.dateDisposed {
                let created = value
                value.dateDisposed = disposed
                try save(value, created)
            }
            report.record(.referenceSample, created: true)
        }
    }

    private mutating func sampleResult(_ row: ImportPlan.ResultRow) throws {
        guard let existing = state.importReferenceSample(row.owner) else {
            throw LabError(.notFound, "No reference sample \(row.owner)")
        }
        let service = try serviceUID(row.keyword)
        var value = existing
        value.expected[service] = row.value
        try save(value, existing)
    }

    private mutating func template(_ row: ImportPlan.TemplateRow) throws {
        let instrument = try row.instrumentTitle.map { try instrumentUID($0) }
        let layout = try layout(of: row.title)
        let services = try templateServices(of: row.title)
        if let existing = state.importTemplate(titled: row.title) {
            var value = existing
            value.instrumentUID = instrument
            try merge(into: &value, layout: layout, services: services)
            try save(value, existing)
            report.record(.worksheetTemplate, created: false)
        } else {
            _ = try state.createWorksheetTemplate(title: row.title, layout: layout ?? [], serviceUIDs: services,
                                                  instrumentUID: instrument, uids: uids, now: now)
            report.record(.worksheetTemplate, created: true)
        }
    }

    /// Existing templates that the services or layouts sheets name without a row in `Worksheet Templates`.
    private mutating func templatesNamedOnlyBySubSheets() throws {
        let inSheet = Set(plan.templates.map(\.title))
        var titles: [String] = []
        for title in plan.templateServices.map(\.target) + plan.layouts.map(\.templateTitle)
        where !inSheet.contains(title) && !titles.contains(title) {
            titles.append(title)
        }
        for title in titles {
            position = (SetupSheetName.worksheetTemplateLayouts, nil)
            guard let existing = state.importTemplate(titled: title) else {
                throw LabError(.notFound, "No worksheet template \(title)")
            }
            var value = existing
            try merge(into: &value, layout: try layout(of: title), services: try templateServices(of: title))
            try save(value, existing)
        }
    }

    // MARK: - Helpers

    /// Runs `body` for each row of a sheet, reporting progress after each.
    private mutating func each<Row>(
        _ sheet: String, _ rows: [Row], _ rowNumber: (Row) -> Int, _ body: (inout Self, Row) throws -> Void
    ) throws {
        let total = plan.rowCounts[sheet] ?? rows.count
        progress(sheet, 0, total)
        for (index, row) in rows.enumerated() {
            position = (sheet, rowNumber(row))
            try body(&self, row)
            progress(sheet, index + 1, total)
        }
        if rows.count != total { finished(sheet) }
    }

    private func skipped(_ sheet: String) {
        finished(sheet)
    }

    private func finished(_ sheet: String) {
        let total = plan.rowCounts[sheet] ?? 0
        progress(sheet, total, total)
    }

    /// Creates the user or adds the workbook's roles and groups to the existing one (never removing any).
    /// A new user's password is hashed with the injected hasher; an existing user's hash is kept.
    @discardableResult
    private mutating func upsertUser(
        _ row: ImportPlan.UserRow, fullname: String, email: String, baseRoles: Set<Role>
    ) throws -> User {
        let roles = row.roles.union(baseRoles)
        if let existing = state.user(named: row.username) {
            var user = existing
            if !fullname.isEmpty { user.fullname = fullname }
            if !email.isEmpty { user.email = email }
            user.roles.formUnion(roles)
            user.groups.formUnion(row.groups)
            try save(user, existing)
            report.record(.user, created: false)
            if row.password != nil { passwordsKept += 1 }
            return user
        }
        guard let password = row.password else {
            throw LabError(.invalidInput, "A password is needed to create user \(row.username)")
        }
        let user = try state.createUser(userid: row.username, fullname: fullname, email: email,
                                        passwordHash: hashPassword(password), roles: roles,
                                        groups: Set(row.groups), uids: uids, now: now)
        report.record(.user, created: true)
        return user
    }

    /// Writes `new` over `old` only when they differ (so a re-import records no change).
    private mutating func save<T: LabObject>(_ new: T, _ old: T) throws {
        if new != old { try state.update(new) }
    }

    private mutating func updateService(_ keyword: String, _ body: (inout AnalysisService) -> Void) throws {
        guard let existing = state.importService(keyword: keyword) else {
            throw LabError(.notFound, "No analysis service with keyword \(keyword)")
        }
        var value = existing
        body(&value)
        try save(value, existing)
    }

    /// The workbook's layout of a template (nil when the layouts sheet has no row for it).
    private func layout(of title: String) throws -> [WorksheetTemplateRow]? {
        let rows = plan.layouts.filter { $0.templateTitle == title }
        guard !rows.isEmpty else { return nil }
        return try rows.map { row in
            WorksheetTemplateRow(pos: row.pos, type: row.type,
                                 blankRef: try row.blankRef.map { try definitionUID($0) },
                                 controlRef: try row.controlRef.map { try definitionUID($0) },
                                 dup: row.type == .duplicate ? row.dup : nil)
        }
    }

    private func templateServices(of title: String) throws -> [String] {
        var uids: [String] = []
        for link in plan.templateServices where link.target == title {
            let uid = try serviceUID(link.keyword)
            if !uids.contains(uid) { uids.append(uid) }
        }
        return uids
    }

    /// A workbook layout replaces the template's; services are the workbook's, then the template's others.
    private func merge(into value: inout WorksheetTemplate, layout: [WorksheetTemplateRow]?, services: [String]) throws {
        if let layout { value.layout = layout.sorted { $0.pos < $1.pos } }
        value.serviceUIDs = services + value.serviceUIDs.filter { !services.contains($0) }
    }

    private func methodUID(_ title: String) throws -> String {
        guard let found = state.importMethod(titled: title) else { throw LabError(.notFound, "No method \(title)") }
        return found.uid
    }

    private func instrumentUID(_ title: String) throws -> String {
        guard let found = state.importInstrument(titled: title) else {
            throw LabError(.notFound, "No instrument \(title)")
        }
        return found.uid
    }

    private func serviceUID(_ keyword: String) throws -> String {
        guard let found = state.importService(keyword: keyword) else {
            throw LabError(.notFound, "No analysis service with keyword \(keyword)")
        }
        return found.uid
    }

    private func definitionUID(_ title: String) throws -> String {
        guard let found = state.importDefinition(titled: title) else {
            throw LabError(.notFound, "No reference definition \(title)")
        }
        return found.uid
    }
}

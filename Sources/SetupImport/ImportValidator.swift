import Foundation
import LIMSCore
import SetupWorkbook

/// Reads every sheet, checks every row against the workbook itself and the existing state, and builds an
/// ``ImportPlan``. It never changes the state. References are checked against what the lab will hold *after*
/// the import (existing objects overlaid with the workbook's rows, matched by natural key), so a row may
/// name an object created by an earlier sheet or one that already exists.
struct ImportValidator {
    let workbook: XLSXWorkbook
    let state: LabState

    private(set) var problems: [ImportProblem] = []
    private(set) var notes: [String] = []
    private(set) var plan = ImportPlan()

    // What the lab will hold after the import, by natural key.
    private var clientNames: Set<String> = []
    private var methodTitles: Set<String> = []
    private var instrumentTitles: Set<String> = []
    private var categoryTitles: Set<String> = []
    /// keyword → title.
    private var services: [String: String] = [:]
    /// title → blank.
    private var definitions: [String: Bool] = [:]
    private var referenceSampleIDs: Set<String> = []
    private var templateTitles: Set<String> = []
    /// username → where the workbook first uses it ("sheet 'Lab Contacts', row 4").
    private var usernames: [String: String] = [:]

    init(workbook: XLSXWorkbook, state: LabState) {
        self.workbook = workbook
        self.state = state
    }

    mutating func run() {
        labDepartments()
        labContacts()
        clients()
        clientContacts()
        sampleTypes()
        methods()
        instruments()
        analysisCategories()
        analysisServices()
        serviceLinks(SetupSheetName.serviceMethods, targetKey: "Method_title", what: "method",
                     known: methodTitles) { $0.serviceMethods.append($1) }
        serviceLinks(SetupSheetName.serviceInstruments, targetKey: "Instrument_title", what: "instrument",
                     known: instrumentTitles) { $0.serviceInstruments.append($1) }
        referenceDefinitions()
        referenceSamples()
        worksheetTemplates()
    }

    // MARK: - Sheets

    private mutating func labDepartments() {
        guard let sheet = read(SetupSheetName.labDepartments, used: []) else { return }
        if !sheet.records.isEmpty {
            note("Sheet '\(sheet.name)': \(sheet.records.count) rows skipped: LIMSCore has no lab department type")
        }
    }

    private mutating func labContacts() {
        guard let sheet = read(SetupSheetName.labContacts, used: [
            "Firstname", "Surname", "EmailAddress", "Username", "Password", "Groups", "Roles",
        ]) else { return }
        var seen: [String: Int] = [:]
        for r in sheet.records {
            let firstname = required(r, "Firstname")
            let surname = required(r, "Surname")
            let username = r.string("Username")
            if let firstname, let surname {
                if let first = seen[firstname + "\u{0}" + surname] {
                    problem(r, "Surname", "lab contact '\(firstname) \(surname)' is already on row \(first)")
                } else {
                    seen[firstname + "\u{0}" + surname] = r.row
                }
            }
            let matched: LabContact? = {
                guard let firstname, let surname else { return nil }
                return state.importMatchLabContact(firstname: firstname, surname: surname, username: username)
            }()
            var user: ImportPlan.UserRow?
            if let username {
                user = userRow(r, username: username, baseRoles: [])
                if let existing = state.user(named: username), let linked = existing.linkedContactUID {
                    let who = state.contacts[linked]?.fullname ?? linked
                    problem(r, "Username", "user '\(username)' is linked to client contact '\(who)'; "
                        + "a lab contact cannot use it")
                }
                if let other = state.labContacts.values.first(where: {
                    $0.username == username && $0.uid != matched?.uid
                }) {
                    problem(r, "Username", "user '\(username)' belongs to lab contact "
                        + "'\(other.firstname) \(other.surname)'")
                }
            }
            guard let firstname, let surname else { continue }
            plan.labContacts.append(.init(row: r.row, firstname: firstname, surname: surname,
                                          email: r.string("EmailAddress") ?? "", user: user))
        }
    }

    private mutating func clients() {
        clientNames = Set(state.clients.values.map(\.name))
        guard let sheet = read(SetupSheetName.clients, used: ["Name", "ClientID", "EmailAddress", "Phone"]) else {
            return
        }
        var seen: [String: Int] = [:]
        for r in sheet.records {
            guard let name = required(r, "Name") else { continue }
            if let first = seen[name] {
                problem(r, "Name", "client '\(name)' is already on row \(first)")
                continue
            }
            seen[name] = r.row
            clientNames.insert(name)
            plan.clients.append(.init(row: r.row, name: name, clientID: r.string("ClientID") ?? "",
                                      email: r.string("EmailAddress") ?? "", phone: r.string("Phone") ?? ""))
        }
        // Client IDs must stay unique across the lab once imported.
        var owners: [String: String] = [:]
        for client in state.clients.values.sorted(by: { ($0.created, $0.id) < ($1.created, $1.id) })
        where !client.clientID.isEmpty && seen[client.name] == nil {
            owners[client.clientID] = owners[client.clientID] ?? client.name
        }
        for row in plan.clients where !row.clientID.isEmpty {
            if let owner = owners[row.clientID], owner != row.name {
                problems.append(ImportProblem(sheet: sheet.name, row: row.row, field: "ClientID",
                                              reason: "client ID '\(row.clientID)' is already used by client '\(owner)'"))
            } else {
                owners[row.clientID] = row.name
            }
        }
    }

    private mutating func clientContacts() {
        guard let sheet = read(SetupSheetName.clientContacts, used: [
            "Client_title", "Firstname", "Surname", "EmailAddress", "Username", "Password",
        ]) else { return }
        var seen: [String: Int] = [:]
        for r in sheet.records {
            let clientName = required(r, "Client_title")
            let firstname = required(r, "Firstname")
            let surname = required(r, "Surname")
            if let clientName, !clientNames.contains(clientName) {
                problem(r, "Client_title", "unknown client '\(clientName)' (no client has this Name)")
            }
            if let clientName, let firstname, let surname {
                let key = [clientName, firstname, surname].joined(separator: "\u{0}")
                if let first = seen[key] {
                    problem(r, "Surname", "contact '\(firstname) \(surname)' of client '\(clientName)' "
                        + "is already on row \(first)")
                } else {
                    seen[key] = r.row
                }
            }
            let matched: Contact? = {
                guard let clientName, let firstname, let surname,
                      let client = state.importClient(named: clientName) else { return nil }
                return state.importMatchContact(clientUID: client.uid, firstname: firstname, surname: surname)
            }()
            var user: ImportPlan.UserRow?
            if let username = r.string("Username") {
                user = userRow(r, username: username, baseRoles: [.client])
                if let existing = state.user(named: username), let linked = existing.linkedContactUID,
                   linked != matched?.uid {
                    let who = state.contacts[linked]?.fullname ?? linked
                    problem(r, "Username", "user '\(username)' is already linked to contact '\(who)'")
                }
                if let other = state.labContacts.values.first(where: { $0.username == username }) {
                    problem(r, "Username", "user '\(username)' belongs to lab contact "
                        + "'\(other.firstname) \(other.surname)'")
                }
                if let linked = matched?.username, linked != username {
                    problem(r, "Username", "this contact is already linked to user '\(linked)'")
                }
            }
            guard let clientName, let firstname, let surname else { continue }
            plan.contacts.append(.init(row: r.row, clientName: clientName, firstname: firstname,
                                       surname: surname, email: r.string("EmailAddress") ?? "", user: user))
        }
    }

    private mutating func sampleTypes() {
        guard let sheet = read(SetupSheetName.sampleTypes, used: ["title", "Prefix"]) else { return }
        var seen: [String: Int] = [:]
        for r in sheet.records {
            let title = required(r, "title")
            let prefix = required(r, "Prefix")
            if let prefix, prefix.contains(where: { $0.isWhitespace }) {
                problem(r, "Prefix", "prefix '\(prefix)' contains spaces")
            }
            guard let title else { continue }
            if let first = seen[title] {
                problem(r, "title", "sample type '\(title)' is already on row \(first)")
                continue
            }
            seen[title] = r.row
            guard let prefix else { continue }
            plan.sampleTypes.append(.init(row: r.row, title: title, prefix: prefix))
        }
        // Prefixes must stay unique once imported: existing types keep theirs unless the workbook names them.
        var owners: [String: String] = [:]
        for type in state.sampleTypes.values where seen[type.title] == nil {
            owners[type.prefix] = type.title
        }
        for row in plan.sampleTypes {
            if let owner = owners[row.prefix], owner != row.title {
                problems.append(ImportProblem(sheet: sheet.name, row: row.row, field: "Prefix",
                                              reason: "prefix '\(row.prefix)' is already used by sample type '\(owner)'"))
            } else {
                owners[row.prefix] = row.title
            }
        }
    }

    private mutating func methods() {
        plan.methods = titleRows(SetupSheetName.methods, what: "method")
        methodTitles = Set(state.methods.values.map(\.title)).union(plan.methods.map(\.title))
    }

    private mutating func instruments() {
        instrumentTitles = Set(state.instruments.values.map(\.title))
        guard let sheet = read(SetupSheetName.instruments, used: ["title", "Method"]) else { return }
        var seen: [String: Int] = [:]
        for r in sheet.records {
            let method = r.string("Method")
            if let method, !methodTitles.contains(method) {
                problem(r, "Method", "unknown method '\(method)'")
            }
            guard let title = required(r, "title") else { continue }
            if let first = seen[title] {
                problem(r, "title", "instrument '\(title)' is already on row \(first)")
                continue
            }
            seen[title] = r.row
            instrumentTitles.insert(title)
            plan.instruments.append(.init(row: r.row, title: title, methodTitle: method))
        }
    }

    private mutating func analysisCategories() {
        plan.categories = titleRows(SetupSheetName.analysisCategories, what: "analysis category")
        categoryTitles = Set(state.analysisCategories.values.map(\.title)).union(plan.categories.map(\.title))
    }

    private mutating func analysisServices() {
        for service in state.analysisServices.values { services[service.keyword] = service.title }
        guard let sheet = read(SetupSheetName.analysisServices, used: [
            "title", "Keyword", "Unit", "AnalysisCategory_title", "DefaultMethod_title", "DefaultInstrument_title",
        ]) else { return }
        var seen: [String: Int] = [:]
        for r in sheet.records {
            let title = required(r, "title")
            let keyword = required(r, "Keyword")
            let category = required(r, "AnalysisCategory_title")
            let method = r.string("DefaultMethod_title")
            let instrument = r.string("DefaultInstrument_title")
            if let keyword, !Self.isValidKeyword(keyword) {
                problem(r, "Keyword", "keyword '\(keyword)' may hold only letters, digits, '_' and '-'")
            }
            if let category, !categoryTitles.contains(category) {
                problem(r, "AnalysisCategory_title", "unknown analysis category '\(category)'")
            }
            if let method, !methodTitles.contains(method) {
                problem(r, "DefaultMethod_title", "unknown method '\(method)'")
            }
            if let instrument, !instrumentTitles.contains(instrument) {
                problem(r, "DefaultInstrument_title", "unknown instrument '\(instrument)'")
            }
            guard let keyword else { continue }
            if let first = seen[keyword] {
                problem(r, "Keyword", "duplicate keyword '\(keyword)': already used on row \(first)")
                continue
            }
            seen[keyword] = r.row
            guard let title else { continue }
            services[keyword] = title
            guard let category else { continue }
            plan.services.append(.init(row: r.row, title: title, keyword: keyword, unit: r.string("Unit") ?? "",
                                       categoryTitle: category, defaultMethodTitle: method,
                                       defaultInstrumentTitle: instrument))
        }
    }

    private mutating func serviceLinks(
        _ name: String, targetKey: String, what: String, known: Set<String>,
        _ add: (inout ImportPlan, ImportPlan.ServiceLink) -> Void
    ) {
        guard let sheet = read(name, used: ["Service_title", targetKey]) else { return }
        for r in sheet.records {
            let keyword = requiredService(r, "Service_title")
            let target = required(r, targetKey)
            if let target, !known.contains(target) {
                problem(r, targetKey, "unknown \(what) '\(target)'")
            }
            guard let keyword, let target else { continue }
            add(&plan, .init(row: r.row, keyword: keyword, target: target))
        }
    }

    private mutating func referenceDefinitions() {
        for definition in state.referenceDefinitions.values { definitions[definition.title] = definition.blank }
        if let sheet = read(SetupSheetName.referenceDefinitions, used: ["title", "Blank"]) {
            var seen: [String: Int] = [:]
            for r in sheet.records {
                let blank = bool(r, "Blank") ?? false
                guard let title = required(r, "title") else { continue }
                if let first = seen[title] {
                    problem(r, "title", "reference definition '\(title)' is already on row \(first)")
                    continue
                }
                seen[title] = r.row
                definitions[title] = blank
                plan.referenceDefinitions.append(.init(row: r.row, title: title, blank: blank))
            }
        }
        plan.definitionResults = resultRows(
            SetupSheetName.referenceDefinitionResults, ownerKey: "ReferenceDefinition_title",
            serviceKey: "service", ownerName: "reference definition", known: Set(definitions.keys))
    }

    private mutating func referenceSamples() {
        for sample in state.referenceSamples.values {
            referenceSampleIDs.insert(sample.title)
            referenceSampleIDs.insert(sample.id)
        }
        if let sheet = read(SetupSheetName.referenceSamples, used: [
            "id", "ReferenceDefinition_title", "Blank", "ExpiryDate", "DateExpired", "DateDisposed",
        ]) {
            var seen: [String: Int] = [:]
            for r in sheet.records {
                let definition = r.string("ReferenceDefinition_title")
                if let definition, definitions[definition] == nil {
                    problem(r, "ReferenceDefinition_title", "unknown reference definition '\(definition)'")
                }
                let blank = bool(r, "Blank")
                let expiry = date(r, "ExpiryDate")
                let expired = date(r, "DateExpired")
                let disposed = date(r, "DateDisposed")
                guard let sampleID = required(r, "id") else { continue }
                if let first = seen[sampleID] {
                    problem(r, "id", "reference sample '\(sampleID)' is already on row \(first)")
                    continue
                }
                seen[sampleID] = r.row
                referenceSampleIDs.insert(sampleID)
                plan.referenceSamples.append(.init(row: r.row, sampleID: sampleID, definitionTitle: definition,
                                                   blank: blank, expiryDate: expiry ?? expired,
                                                   dateDisposed: disposed))
            }
        }
        plan.sampleResults = resultRows(
            SetupSheetName.referenceSampleResults, ownerKey: "ReferenceSample_id",
            serviceKey: "AnalysisService_title", ownerName: "reference sample", known: referenceSampleIDs)
    }

    private mutating func worksheetTemplates() {
        templateTitles = Set(state.worksheetTemplates.values.map(\.title))
        if let sheet = read(SetupSheetName.worksheetTemplates, used: ["title", "Instrument_title"]) {
            var seen: [String: Int] = [:]
            for r in sheet.records {
                let instrument = r.string("Instrument_title")
                if let instrument, !instrumentTitles.contains(instrument) {
                    problem(r, "Instrument_title", "unknown instrument '\(instrument)'")
                }
                guard let title = required(r, "title") else { continue }
                if let first = seen[title] {
                    problem(r, "title", "worksheet template '\(title)' is already on row \(first)")
                    continue
                }
                seen[title] = r.row
                templateTitles.insert(title)
                plan.templates.append(.init(row: r.row, title: title, instrumentTitle: instrument))
            }
        }
        if let sheet = read(SetupSheetName.worksheetTemplateServices, used: ["WorksheetTemplate_title", "service"]) {
            for r in sheet.records {
                let template = required(r, "WorksheetTemplate_title")
                if let template, !templateTitles.contains(template) {
                    problem(r, "WorksheetTemplate_title", "unknown worksheet template '\(template)'")
                }
                let keyword = requiredService(r, "service")
                guard let template, let keyword else { continue }
                plan.templateServices.append(.init(row: r.row, keyword: keyword, target: template))
            }
        }
        templateLayouts()
    }

    private mutating func templateLayouts() {
        guard let sheet = read(SetupSheetName.worksheetTemplateLayouts, used: [
            "WorksheetTemplate_title", "pos", "type", "blank_ref", "control_ref", "dup",
        ]) else { return }
        var positions: [String: [Int: Int]] = [:]   // template → pos → row
        var rows: [ImportPlan.LayoutRow] = []
        for r in sheet.records {
            let template = required(r, "WorksheetTemplate_title")
            if let template, !templateTitles.contains(template) {
                problem(r, "WorksheetTemplate_title", "unknown worksheet template '\(template)'")
            }
            var pos = requiredInt(r, "pos")
            if let value = pos, value < 1 {
                problem(r, "pos", "position must be 1 or more, found \(value)")
                pos = nil
            }
            if let template, let value = pos {
                if let first = positions[template]?[value] {
                    problem(r, "pos", "position \(value) of template '\(template)' is already on row \(first)")
                    pos = nil
                } else {
                    positions[template, default: [:]][value] = r.row
                }
            }
            var type: SlotType?
            if let text = required(r, "type") {
                type = Self.slotType(text)
                if type == nil {
                    problem(r, "type", "bad layout type '\(text)': expected Analysis, Blank, Control or Duplicate "
                        + "(or a, b, c, d)")
                }
            }
            var blankRef: String?
            var controlRef: String?
            var dup: Int?
            switch type {
            case .blank?: blankRef = reference(r, "blank_ref", wantBlank: true)
            case .control?: controlRef = reference(r, "control_ref", wantBlank: false)
            case .duplicate?: dup = requiredInt(r, "dup")
            default: break
            }
            guard let template, let pos, let type else { continue }
            rows.append(.init(row: r.row, templateTitle: template, pos: pos, type: type, blankRef: blankRef,
                              controlRef: controlRef, dup: dup))
        }
        // A duplicate row copies a routine row of the same template.
        for row in rows where row.type == .duplicate {
            guard let source = row.dup else { continue }
            let routine = rows.contains { $0.templateTitle == row.templateTitle && $0.pos == source && $0.type == .routine }
            if !routine {
                problems.append(ImportProblem(
                    sheet: sheet.name, row: row.row, field: "dup",
                    reason: "position \(source) is not an Analysis row of template '\(row.templateTitle)'"))
            }
        }
        plan.layouts = rows
    }

    // MARK: - Shared row readers

    /// Reads a sheet; nil (with a note) when the workbook has none, nil (with a problem) when unreadable.
    /// Notes the columns that hold values but are not imported.
    private mutating func read(_ name: String, used: Set<String>) -> SetupSheet? {
        guard workbook.sheetNames.contains(name) else {
            note("Sheet '\(name)' is not in the workbook; skipped")
            plan.rowCounts[name] = 0
            return nil
        }
        let sheet: SetupSheet
        do {
            sheet = try workbook.setupSheet(named: name)
        } catch {
            problems.append(ImportProblem(error, sheet: name))
            return nil
        }
        plan.rowCounts[name] = sheet.records.count
        if !used.isEmpty {
            let unused = sheet.keys.filter { key in
                !used.contains(key) && sheet.records.contains { $0.string(key) != nil }
            }
            if !unused.isEmpty {
                note("Sheet '\(name)': columns not imported (no LIMSCore field): "
                    + unused.joined(separator: ", "))
            }
        }
        return sheet
    }

    /// Rows of one title column (methods, categories), checked for empties and repeats.
    private mutating func titleRows(_ name: String, what: String) -> [ImportPlan.TitleRow] {
        guard let sheet = read(name, used: ["title"]) else { return [] }
        var seen: [String: Int] = [:]
        var rows: [ImportPlan.TitleRow] = []
        for r in sheet.records {
            guard let title = required(r, "title") else { continue }
            if let first = seen[title] {
                problem(r, "title", "\(what) '\(title)' is already on row \(first)")
                continue
            }
            seen[title] = r.row
            rows.append(.init(row: r.row, title: title))
        }
        return rows
    }

    /// Expected-result rows (reference definitions or samples): owner, service, result, min, max.
    private mutating func resultRows(
        _ name: String, ownerKey: String, serviceKey: String, ownerName: String, known: Set<String>
    ) -> [ImportPlan.ResultRow] {
        guard let sheet = read(name, used: [ownerKey, serviceKey, "result", "min", "max"]) else { return [] }
        var seen: [String: Int] = [:]
        var rows: [ImportPlan.ResultRow] = []
        for r in sheet.records {
            let owner = required(r, ownerKey)
            if let owner, !known.contains(owner) {
                problem(r, ownerKey, "unknown \(ownerName) '\(owner)'")
            }
            let keyword = requiredService(r, serviceKey)
            let result = number(r, "result", required: true)
            let min = number(r, "min", required: false)
            let max = number(r, "max", required: false)
            if let min, let max, let low = Double(min), let high = Double(max), low > high {
                problem(r, "max", "max \(max) is below min \(min)")
            }
            guard let owner, let keyword, let result else { continue }
            let key = owner + "\u{0}" + keyword
            if let first = seen[key] {
                problem(r, serviceKey, "\(ownerName) '\(owner)' already has a result for this service on row \(first)")
                continue
            }
            seen[key] = r.row
            rows.append(.init(row: r.row, owner: owner, keyword: keyword,
                              value: ReferenceValue(result: result, min: min ?? "", max: max ?? "")))
        }
        return rows
    }

    /// The user part of a contact row: roles from `Groups`/`Roles`, the password, unique user name.
    private mutating func userRow(_ r: SetupRecord, username: String, baseRoles: Set<Role>) -> ImportPlan.UserRow {
        if username.contains(where: { $0.isWhitespace }) {
            problem(r, "Username", "user name '\(username)' contains spaces")
        }
        let here = "sheet '\(r.sheetName)', row \(r.row)"
        if let first = usernames[username] {
            problem(r, "Username", "user name '\(username)' is already used on \(first)")
        } else {
            usernames[username] = here
        }
        let password = r.string("Password")
        if password == nil, state.user(named: username) == nil {
            problem(r, "Password", "is empty (needed to create user '\(username)')")
        }
        var roles = baseRoles
        let groups = RoleMapping.names(in: r.string("Groups"))
        for group in groups {
            if let role = RoleMapping.role(for: group) {
                roles.insert(role)
            } else {
                note("Sheet '\(r.sheetName)', row \(r.row): group '\(group)' grants no LIMSCore role; "
                    + "kept as a group of user '\(username)'")
            }
        }
        for name in RoleMapping.names(in: r.string("Roles")) {
            if let role = Role.allCases.first(where: { $0.rawValue.lowercased() == name.lowercased() })
                ?? RoleMapping.role(for: name), role != .owner {
                roles.insert(role)
            } else {
                note("Sheet '\(r.sheetName)', row \(r.row): role '\(name)' is not a LIMSCore role; ignored")
            }
        }
        return .init(username: username, password: password, roles: roles, groups: groups)
    }

    /// A required service reference, by title (first) or keyword; the keyword it resolves to.
    private mutating func requiredService(_ r: SetupRecord, _ key: String) -> String? {
        guard let text = required(r, key) else { return nil }
        let byTitle = services.filter { $0.value == text }.map(\.key)
        if byTitle.count == 1 { return byTitle[0] }
        if byTitle.count > 1 {
            problem(r, key, "'\(text)' is the title of several services (\(byTitle.sorted().joined(separator: ", "))); "
                + "give the keyword")
            return nil
        }
        if services[text] != nil { return text }
        problem(r, key, "unknown analysis service '\(text)' (no service has this title or keyword)")
        return nil
    }

    /// A required reference-definition title of a blank or control layout row.
    private mutating func reference(_ r: SetupRecord, _ key: String, wantBlank: Bool) -> String? {
        guard let title = required(r, key) else { return nil }
        guard let blank = definitions[title] else {
            problem(r, key, "unknown reference definition '\(title)'")
            return nil
        }
        if blank != wantBlank {
            problem(r, key, "reference definition '\(title)' is \(blank ? "a blank" : "a control"), "
                + "not \(wantBlank ? "a blank" : "a control")")
            return nil
        }
        return title
    }

    private mutating func required(_ r: SetupRecord, _ key: String) -> String? {
        catching(r) { try r.requiredString(key) }
    }

    private mutating func requiredInt(_ r: SetupRecord, _ key: String) -> Int? {
        catching(r) { try r.requiredInt(key) }
    }

    private mutating func bool(_ r: SetupRecord, _ key: String) -> Bool? {
        catching(r) { try r.bool(key) } ?? nil
    }

    /// A date as Unix epoch seconds.
    private mutating func date(_ r: SetupRecord, _ key: String) -> Double? {
        catching(r) { try r.date(key)?.timeIntervalSince1970 } ?? nil
    }

    /// A number field kept as its text (how SENAITE stores reference values).
    private mutating func number(_ r: SetupRecord, _ key: String, required: Bool) -> String? {
        let value: Double?? = catching(r) { required ? try r.requiredDouble(key) : try r.double(key) }
        guard case .some(.some) = value else { return nil }
        return r.string(key)
    }

    private mutating func catching<T>(_ r: SetupRecord, _ body: () throws -> T) -> T? {
        do {
            return try body()
        } catch {
            problems.append(ImportProblem(error, sheet: r.sheetName))
            return nil
        }
    }

    private mutating func problem(_ r: SetupRecord, _ field: String?, _ reason: String) {
        problems.append(ImportProblem(sheet: r.sheetName, row: r.row, field: field, reason: reason))
    }

    private mutating func note(_ text: String) {
        if !notes.contains(text) { notes.append(text) }
    }

    // MARK: - Value rules

    /// SENAITE's keyword rule: letters, digits, `_` and `-` only (`AnalysisService` keyword validator).
    static func isValidKeyword(_ keyword: String) -> Bool {
        !keyword.isEmpty && keyword.unicodeScalars.allSatisfy {
            ($0.isASCII && (CharacterSet.alphanumerics.contains($0))) || $0 == "_" || $0 == "-"
        }
    }

    /// `Analysis`/`a`, `Blank`/`b`, `Control`/`c`, `Duplicate`/`d` (case-insensitive).
    static func slotType(_ text: String) -> SlotType? {
        switch text.lowercased() {
        case "a", "analysis", "routine": return .routine
        case "b", "blank": return .blank
        case "c", "control": return .control
        case "d", "duplicate": return .duplicate
        default: return nil
        }
    }
}

import Foundation

/// Creating objects with SENAITE ids and paths. Each function takes the uid generator and the creation
/// instant (Unix epoch seconds) and records the new object in ``LabState/changes``.
///
/// Id formats (source: SENAITE ID server defaults and setup folder names, reference 3):
/// clients `client-<n>`, contacts `contact-<n>`, setup objects `<type>-<n>` (e.g. `analysisservice-1`),
/// samples `<prefix>-<nnnn>` per prefix, worksheets `WS-<nnnn>`, reference samples `SA-<nnnn>`,
/// routine analyses = service keyword.
extension LabState {
    /// Creates a client `/senaite/clients/client-<n>`.
    public mutating func createClient(
        name: String, clientID: String, email: String = "", uids: any UIDGenerator, now: Double
    ) -> Client {
        let id = "client-\(nextCounter("Client"))"
        let client = Client(uid: uids.makeUID(), id: id, path: "\(LabPaths.clients)/\(id)", created: now,
                            name: name, clientID: clientID, email: email)
        try? insert(client)
        return client
    }

    /// Creates a contact inside its client: `/senaite/clients/client-1/contact-<n>` (counter per lab).
    /// - Throws: ``LabError/Code/notFound`` if the client does not exist.
    public mutating func createContact(
        in clientUID: String, firstname: String, surname: String, email: String = "",
        uids: any UIDGenerator, now: Double
    ) throws -> Contact {
        guard let client = clients[clientUID] else { throw LabError.notFound("client", clientUID) }
        let id = "contact-\(nextCounter("Contact"))"
        let contact = Contact(uid: uids.makeUID(), id: id, path: "\(client.path)/\(id)", created: now,
                              clientUID: clientUID, firstname: firstname, surname: surname, email: email)
        try insert(contact)
        return contact
    }

    /// Creates a lab contact `/senaite/bika_setup/bika_labcontacts/labcontact-<n>`.
    public mutating func createLabContact(
        firstname: String, surname: String, email: String = "", uids: any UIDGenerator, now: Double
    ) -> LabContact {
        let id = "labcontact-\(nextCounter("LabContact"))"
        let contact = LabContact(uid: uids.makeUID(), id: id, path: "\(LabPaths.labContacts)/\(id)", created: now,
                                 firstname: firstname, surname: surname, email: email)
        try? insert(contact)
        return contact
    }

    /// Creates a user `/senaite/acl_users/<userid>`.
    /// - Throws: ``LabError/Code/invalidInput`` for an empty userid, ``LabError/Code/duplicate`` if taken.
    public mutating func createUser(
        userid: String, fullname: String = "", email: String = "", passwordHash: String = "",
        roles: Set<Role>, groups: Set<String> = [], uids: any UIDGenerator, now: Double
    ) throws -> User {
        guard !userid.isEmpty else { throw LabError(.invalidInput, "A user id is required") }
        guard user(named: userid) == nil else { throw LabError(.duplicate, "User \(userid) already exists") }
        let user = User(uid: uids.makeUID(), id: userid, path: "\(LabPaths.users)/\(userid)", created: now,
                        userid: userid, fullname: fullname, email: email, passwordHash: passwordHash,
                        roles: roles, groups: groups)
        try insert(user)
        return user
    }

    /// Creates a sample type whose samples get ids `<prefix>-<nnnn>`.
    /// - Throws: ``LabError/Code/invalidInput`` for an empty prefix, ``LabError/Code/duplicate`` if the prefix is taken.
    public mutating func createSampleType(
        title: String, prefix: String, uids: any UIDGenerator, now: Double
    ) throws -> SampleType {
        guard !prefix.isEmpty else { throw LabError(.invalidInput, "A sample type needs a prefix") }
        guard !sampleTypes.values.contains(where: { $0.prefix == prefix }) else {
            throw LabError(.duplicate, "Prefix \(prefix) is already used by another sample type")
        }
        let id = "sampletype-\(nextCounter("SampleType"))"
        let value = SampleType(uid: uids.makeUID(), id: id, path: "\(LabPaths.sampleTypes)/\(id)", created: now,
                               title: title, prefix: prefix)
        try insert(value)
        return value
    }

    /// Creates an analysis category.
    public mutating func createAnalysisCategory(title: String, uids: any UIDGenerator, now: Double) -> AnalysisCategory {
        let id = "analysiscategory-\(nextCounter("AnalysisCategory"))"
        let value = AnalysisCategory(uid: uids.makeUID(), id: id, path: "\(LabPaths.analysisCategories)/\(id)",
                                     created: now, title: title)
        try? insert(value)
        return value
    }

    /// Creates an analysis service.
    /// - Throws: ``LabError/Code/invalidInput`` for an empty keyword, ``LabError/Code/duplicate`` if taken.
    public mutating func createAnalysisService(
        title: String, keyword: String, unit: String = "", categoryUID: String? = nil, methodUIDs: [String] = [],
        instrumentUIDs: [String] = [], sortKey: Int = 0, uids: any UIDGenerator, now: Double
    ) throws -> AnalysisService {
        guard !keyword.isEmpty else { throw LabError(.invalidInput, "A service needs a keyword") }
        guard !analysisServices.values.contains(where: { $0.keyword == keyword }) else {
            throw LabError(.duplicate, "Keyword \(keyword) is already used by another service")
        }
        let id = "analysisservice-\(nextCounter("AnalysisService"))"
        let value = AnalysisService(uid: uids.makeUID(), id: id, path: "\(LabPaths.analysisServices)/\(id)",
                                    created: now, title: title, keyword: keyword, unit: unit,
                                    categoryUID: categoryUID, methodUIDs: methodUIDs,
                                    instrumentUIDs: instrumentUIDs, sortKey: sortKey)
        try insert(value)
        return value
    }

    /// Creates a method.
    public mutating func createMethod(title: String, uids: any UIDGenerator, now: Double) -> Method {
        let id = "method-\(nextCounter("Method"))"
        let value = Method(uid: uids.makeUID(), id: id, path: "\(LabPaths.methods)/\(id)", created: now, title: title)
        try? insert(value)
        return value
    }

    /// Creates an instrument supporting `methodUIDs` (first = default method).
    public mutating func createInstrument(
        title: String, methodUIDs: [String] = [], uids: any UIDGenerator, now: Double
    ) -> Instrument {
        let id = "instrument-\(nextCounter("Instrument"))"
        let value = Instrument(uid: uids.makeUID(), id: id, path: "\(LabPaths.instruments)/\(id)", created: now,
                               title: title, methodUIDs: methodUIDs)
        try? insert(value)
        return value
    }

    /// Creates a reference definition (blank or control recipe).
    public mutating func createReferenceDefinition(
        title: String, blank: Bool, expected: [String: ReferenceValue] = [:], uids: any UIDGenerator, now: Double
    ) -> ReferenceDefinition {
        let id = "referencedefinition-\(nextCounter("ReferenceDefinition"))"
        let value = ReferenceDefinition(uid: uids.makeUID(), id: id,
                                        path: "\(LabPaths.referenceDefinitions)/\(id)", created: now,
                                        title: title, blank: blank, expected: expected)
        try? insert(value)
        return value
    }

    /// Creates a reference sample `SA-<nnnn>`. With a definition and no `expected`, the definition's expected
    /// values and blank flag are copied.
    /// - Parameter expiryDate: Unix epoch seconds; nil = never expires. Default: nil.
    /// - Throws: ``LabError/Code/notFound`` if `definitionUID` is given and unknown.
    public mutating func createReferenceSample(
        title: String, blank: Bool? = nil, definitionUID: String? = nil, expiryDate: Double? = nil,
        expected: [String: ReferenceValue]? = nil, uids: any UIDGenerator, now: Double
    ) throws -> ReferenceSample {
        var definition: ReferenceDefinition?
        if let definitionUID {
            guard let found = referenceDefinitions[definitionUID] else {
                throw LabError.notFound("reference definition", definitionUID)
            }
            definition = found
        }
        let id = "SA-\(LabPaths.padded(nextCounter("ReferenceSample"), 4))"
        let value = ReferenceSample(
            uid: uids.makeUID(), id: id, path: "\(LabPaths.referenceSamples)/\(id)", created: now, title: title,
            blank: blank ?? definition?.blank ?? false, definitionUID: definitionUID, expiryDate: expiryDate,
            expected: expected ?? definition?.expected ?? [:])
        try insert(value)
        return value
    }

    /// Creates a sample `<prefix>-<nnnn>` in `sample_due` with one `registered` routine analysis per service
    /// (id = keyword). Receive it with the `receive` transition.
    /// - Parameter priority: 1 (highest) … 5 (lowest). Default: 3.
    /// - Parameter clientSampleID: the client's own id of the sample (``Sample/clientSampleID``). Default: nil.
    /// - Throws: ``LabError/Code/notFound`` for an unknown client, contact, sample type or service;
    ///   ``LabError/Code/invalidInput`` if the contact is not of that client or a service repeats.
    public mutating func createSample(
        clientUID: String, contactUID: String, sampleTypeUID: String, serviceUIDs: [String], priority: Int = 3,
        clientSampleID: String? = nil, uids: any UIDGenerator, now: Double
    ) throws -> Sample {
        guard let client = clients[clientUID] else { throw LabError.notFound("client", clientUID) }
        guard let contact = contacts[contactUID] else { throw LabError.notFound("contact", contactUID) }
        guard contact.clientUID == clientUID else {
            throw LabError(.invalidInput, "Contact \(contact.fullname) does not belong to client \(client.name)")
        }
        guard let sampleType = sampleTypes[sampleTypeUID] else { throw LabError.notFound("sample type", sampleTypeUID) }
        let services = try serviceUIDs.map { uid in
            guard let service = analysisServices[uid] else { throw LabError.notFound("analysis service", uid) }
            return service
        }
        guard Set(serviceUIDs).count == serviceUIDs.count else {
            throw LabError(.invalidInput, "A service may be requested only once per sample")
        }
        let number = nextCounter("AnalysisRequest:\(sampleType.prefix)")
        let id = "\(sampleType.prefix)-\(LabPaths.padded(number, 4))"
        let sample = Sample(uid: uids.makeUID(), id: id, path: "\(client.path)/\(id)", created: now,
                            clientUID: clientUID, contactUID: contactUID, sampleTypeUID: sampleTypeUID,
                            priority: min(5, max(1, priority)), clientSampleID: clientSampleID)
        try insert(sample)
        for service in services {
            let analysis = Analysis(uid: uids.makeUID(), id: service.keyword, path: "\(sample.path)/\(service.keyword)",
                                    created: now, sampleUID: sample.uid, serviceUID: service.uid,
                                    keyword: service.keyword)
            try insert(analysis)
        }
        return sample
    }

    /// Creates an empty open worksheet `WS-<nnnn>` for `analyst`.
    /// - Throws: ``LabError/Code/invalidInput`` "Analyst must be specified." (reference 1.12).
    public mutating func createWorksheet(
        analyst: String, instrumentUID: String? = nil, methodUID: String? = nil, uids: any UIDGenerator, now: Double
    ) throws -> Worksheet {
        guard !analyst.isEmpty else { throw LabError(.invalidInput, "Analyst must be specified.") }
        let id = "WS-\(LabPaths.padded(nextCounter("Worksheet"), 4))"
        let worksheet = Worksheet(uid: uids.makeUID(), id: id, path: "\(LabPaths.worksheets)/\(id)", created: now,
                                  analyst: analyst, instrumentUID: instrumentUID, methodUID: methodUID)
        try insert(worksheet)
        return worksheet
    }

    /// Creates a worksheet template.
    /// - Throws: ``LabError/Code/invalidInput`` for positions < 1, repeated positions, or a `d` row whose
    ///   source is not an `a` row.
    public mutating func createWorksheetTemplate(
        title: String, layout: [WorksheetTemplateRow], serviceUIDs: [String], instrumentUID: String? = nil,
        restrictToMethodUID: String? = nil, uids: any UIDGenerator, now: Double
    ) throws -> WorksheetTemplate {
        let positions = layout.map(\.pos)
        guard positions.allSatisfy({ $0 >= 1 }), Set(positions).count == positions.count else {
            throw LabError(.invalidInput, "Template positions must be distinct and start at 1")
        }
        let routine = Set(layout.filter { $0.type == .routine }.map(\.pos))
        for row in layout where row.type == .duplicate {
            guard let source = row.dup, routine.contains(source) else {
                throw LabError(.invalidInput, "Duplicate slot \(row.pos) must name a routine slot as its source")
            }
        }
        let id = "worksheettemplate-\(nextCounter("WorksheetTemplate"))"
        let value = WorksheetTemplate(uid: uids.makeUID(), id: id, path: "\(LabPaths.worksheetTemplates)/\(id)",
                                      created: now, title: title, layout: layout, serviceUIDs: serviceUIDs,
                                      instrumentUID: instrumentUID, restrictToMethodUID: restrictToMethodUID)
        try insert(value)
        return value
    }
}

extension LabState {
    /// The id counter that numbers new objects of `type`: samples per sample type (`AnalysisRequest:H2O`), the
    /// others per portal type (`Worksheet`, `Contact`, ...). A working set reserves numbers of it
    /// (``LabReader/reserve(_:count:into:)``).
    public static func counterKey(_ type: PortalType, sampleTypePrefix: String? = nil) -> String {
        if type == .sample, let prefix = sampleTypePrefix { return "AnalysisRequest:\(prefix)" }
        return type.rawValue
    }
}

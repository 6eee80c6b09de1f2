/// The whole lab as one value: every object by uid per type, the id counters, the lab settings and the
/// role→permission map. Operations mutate it `inout`; ``changes`` records what they touched.
///
/// The storage layer loads objects with ``load(_:)`` (not recorded as changes), runs an operation, then writes
/// the uids in ``changes`` (``object(_:)`` gives each one back as `any LabObject`) and calls ``clearChanges()``.
///
/// ```swift
/// var lab = LabState()
/// let client = lab.createClient(name: "Happy Hills", clientID: "HH", uids: generator, now: 0)
/// ```
public struct LabState: Sendable, Equatable, Codable {
    public internal(set) var clients: [String: Client] = [:]
    public internal(set) var contacts: [String: Contact] = [:]
    public internal(set) var labContacts: [String: LabContact] = [:]
    public internal(set) var users: [String: User] = [:]
    public internal(set) var sampleTypes: [String: SampleType] = [:]
    public internal(set) var analysisCategories: [String: AnalysisCategory] = [:]
    public internal(set) var analysisServices: [String: AnalysisService] = [:]
    public internal(set) var methods: [String: Method] = [:]
    public internal(set) var instruments: [String: Instrument] = [:]
    public internal(set) var referenceDefinitions: [String: ReferenceDefinition] = [:]
    public internal(set) var referenceSamples: [String: ReferenceSample] = [:]
    public internal(set) var samples: [String: Sample] = [:]
    public internal(set) var analyses: [String: Analysis] = [:]
    public internal(set) var duplicateAnalyses: [String: DuplicateAnalysis] = [:]
    public internal(set) var referenceAnalyses: [String: ReferenceAnalysis] = [:]
    public internal(set) var worksheets: [String: Worksheet] = [:]
    public internal(set) var worksheetTemplates: [String: WorksheetTemplate] = [:]
    /// Id counters by key (`Client`, `Worksheet`, `AnalysisRequest:H2O`, ...): the last number used.
    public internal(set) var counters: [String: Int] = [:]
    /// Lab settings (SENAITE bika_setup). Changing them is not recorded in ``changes``.
    public var settings: LabSettings
    /// Which roles hold which permission. Default: ``RolePermissionMap/senaiteDefault``.
    public var rolePermissions: RolePermissionMap
    /// What changed since load or the last ``clearChanges()``. Not encoded.
    public internal(set) var changes = LabChanges()

    public init(settings: LabSettings = LabSettings(), rolePermissions: RolePermissionMap = .senaiteDefault) {
        self.settings = settings
        self.rolePermissions = rolePermissions
    }

    enum CodingKeys: String, CodingKey {
        case clients, contacts, labContacts, users, sampleTypes, analysisCategories, analysisServices, methods
        case instruments, referenceDefinitions, referenceSamples, samples, analyses, duplicateAnalyses
        case referenceAnalyses, worksheets, worksheetTemplates, counters, settings, rolePermissions
    }

    /// Forgets the recorded changes (call after the storage layer saved them).
    public mutating func clearChanges() { changes = LabChanges() }

    // MARK: - Generic access

    /// The object with `uid`, of any type.
    public func object(_ uid: String) -> (any LabObject)? {
        if let o = analyses[uid] { return o }
        if let o = samples[uid] { return o }
        if let o = worksheets[uid] { return o }
        if let o = duplicateAnalyses[uid] { return o }
        if let o = referenceAnalyses[uid] { return o }
        if let o = clients[uid] { return o }
        if let o = contacts[uid] { return o }
        if let o = users[uid] { return o }
        if let o = labContacts[uid] { return o }
        if let o = sampleTypes[uid] { return o }
        if let o = analysisCategories[uid] { return o }
        if let o = analysisServices[uid] { return o }
        if let o = methods[uid] { return o }
        if let o = instruments[uid] { return o }
        if let o = referenceDefinitions[uid] { return o }
        if let o = referenceSamples[uid] { return o }
        if let o = worksheetTemplates[uid] { return o }
        return nil
    }

    /// All objects, of every type (unordered).
    public var allObjects: [any LabObject] {
        var result: [any LabObject] = []
        result += clients.values.map { $0 as any LabObject }
        result += contacts.values.map { $0 as any LabObject }
        result += labContacts.values.map { $0 as any LabObject }
        result += users.values.map { $0 as any LabObject }
        result += sampleTypes.values.map { $0 as any LabObject }
        result += analysisCategories.values.map { $0 as any LabObject }
        result += analysisServices.values.map { $0 as any LabObject }
        result += methods.values.map { $0 as any LabObject }
        result += instruments.values.map { $0 as any LabObject }
        result += referenceDefinitions.values.map { $0 as any LabObject }
        result += referenceSamples.values.map { $0 as any LabObject }
        result += samples.values.map { $0 as any LabObject }
        result += analyses.values.map { $0 as any LabObject }
        result += duplicateAnalyses.values.map { $0 as any LabObject }
        result += referenceAnalyses.values.map { $0 as any LabObject }
        result += worksheets.values.map { $0 as any LabObject }
        result += worksheetTemplates.values.map { $0 as any LabObject }
        return result
    }

    /// Adds or replaces an object as loaded from storage, without recording a change.
    public mutating func load(_ object: any LabObject) { put(object) }

    /// Sets an id counter as loaded from storage, without recording a change.
    public mutating func loadCounter(_ key: String, value: Int) { counters[key] = value }

    /// Adds a new object and records it as created.
    /// Ids are not re-checked here: the `create…` functions derive them from counters and siblings.
    /// - Throws: ``LabError/Code/duplicate`` if the uid exists.
    public mutating func insert(_ object: any LabObject) throws {
        if self.object(object.uid) != nil {
            throw LabError(.duplicate, "An object with uid \(object.uid) already exists")
        }
        put(object)
        changes.markCreated(object.uid)
    }

    /// Replaces an existing object (same uid) and records it as changed.
    /// - Throws: ``LabError/Code/notFound`` if no object has that uid.
    public mutating func update(_ object: any LabObject) throws {
        guard self.object(object.uid) != nil else { throw LabError.notFound("object", object.uid) }
        put(object)
        changes.markChanged(object.uid)
    }

    /// Deletes an object and records it as deleted. Returns false if it did not exist.
    @discardableResult
    public mutating func delete(_ uid: String) -> Bool {
        var found = true
        if analyses.removeValue(forKey: uid) != nil {
        } else if samples.removeValue(forKey: uid) != nil {
        } else if worksheets.removeValue(forKey: uid) != nil {
        } else if duplicateAnalyses.removeValue(forKey: uid) != nil {
        } else if referenceAnalyses.removeValue(forKey: uid) != nil {
        } else if clients.removeValue(forKey: uid) != nil {
        } else if contacts.removeValue(forKey: uid) != nil {
        } else if users.removeValue(forKey: uid) != nil {
        } else if labContacts.removeValue(forKey: uid) != nil {
        } else if sampleTypes.removeValue(forKey: uid) != nil {
        } else if analysisCategories.removeValue(forKey: uid) != nil {
        } else if analysisServices.removeValue(forKey: uid) != nil {
        } else if methods.removeValue(forKey: uid) != nil {
        } else if instruments.removeValue(forKey: uid) != nil {
        } else if referenceDefinitions.removeValue(forKey: uid) != nil {
        } else if referenceSamples.removeValue(forKey: uid) != nil {
        } else if worksheetTemplates.removeValue(forKey: uid) != nil {
        } else {
            found = false
        }
        if found { changes.markDeleted(uid) }
        return found
    }

    /// Mutates the object `uid` of type `T` in place and records it as changed.
    /// - Throws: ``LabError/Code/notFound`` if there is no `T` with that uid.
    public mutating func modify<T: LabObject>(_ type: T.Type, _ uid: String, _ body: (inout T) -> Void) throws {
        guard var value = object(uid) as? T else { throw LabError.notFound(T.portalType.rawValue, uid) }
        body(&value)
        put(value)
        changes.markChanged(uid)
    }

    /// Mutates a routine, duplicate or reference analysis in place and records it as changed.
    /// - Throws: ``LabError/Code/notFound`` if `uid` is not an analysis.
    public mutating func modifyAnalysis(_ uid: String, _ body: (inout any AnalysisRecord) -> Void) throws {
        guard var value = analysisRecord(uid) else { throw LabError.notFound("analysis", uid) }
        body(&value)
        put(value)
        changes.markChanged(uid)
    }

    /// Increments the id counter `key` and returns the new value (first call: 1).
    mutating func nextCounter(_ key: String) -> Int {
        let value = (counters[key] ?? 0) + 1
        counters[key] = value
        changes.counters.insert(key)
        return value
    }

    /// Sets the review state of a workflow-bound object. Returns false for objects without a workflow.
    mutating func setReviewState(_ uid: String, _ state: String) -> Bool {
        if var s = samples[uid] {
            s.reviewState = state
            samples[uid] = s
        } else if var w = worksheets[uid] {
            w.reviewState = state
            worksheets[uid] = w
        } else if var a = analysisRecord(uid) {
            a.reviewState = state
            put(a)
        } else {
            return false
        }
        changes.markChanged(uid)
        return true
    }

    private mutating func put(_ object: any LabObject) {
        switch object {
        case let o as Client: clients[o.uid] = o
        case let o as Contact: contacts[o.uid] = o
        case let o as LabContact: labContacts[o.uid] = o
        case let o as User: users[o.uid] = o
        case let o as SampleType: sampleTypes[o.uid] = o
        case let o as AnalysisCategory: analysisCategories[o.uid] = o
        case let o as AnalysisService: analysisServices[o.uid] = o
        case let o as Method: methods[o.uid] = o
        case let o as Instrument: instruments[o.uid] = o
        case let o as ReferenceDefinition: referenceDefinitions[o.uid] = o
        case let o as ReferenceSample: referenceSamples[o.uid] = o
        case let o as Sample: samples[o.uid] = o
        case let o as Analysis: analyses[o.uid] = o
        case let o as DuplicateAnalysis: duplicateAnalyses[o.uid] = o
        case let o as ReferenceAnalysis: referenceAnalyses[o.uid] = o
        case let o as Worksheet: worksheets[o.uid] = o
        case let o as WorksheetTemplate: worksheetTemplates[o.uid] = o
        default: preconditionFailure("Unknown LabObject type \(type(of: object))")
        }
    }
}

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
    public internal(set) var clients = ObjectTable<Client>()
    public internal(set) var contacts = ObjectTable<Contact>()
    public internal(set) var labContacts = ObjectTable<LabContact>()
    public internal(set) var users = ObjectTable<User>()
    public internal(set) var sampleTypes = ObjectTable<SampleType>()
    public internal(set) var analysisCategories = ObjectTable<AnalysisCategory>()
    public internal(set) var analysisServices = ObjectTable<AnalysisService>()
    public internal(set) var methods = ObjectTable<Method>()
    public internal(set) var instruments = ObjectTable<Instrument>()
    public internal(set) var referenceDefinitions = ObjectTable<ReferenceDefinition>()
    public internal(set) var referenceSamples = ObjectTable<ReferenceSample>()
    public internal(set) var samples = ObjectTable<Sample>()
    public internal(set) var analyses = ObjectTable<Analysis>()
    public internal(set) var duplicateAnalyses = ObjectTable<DuplicateAnalysis>()
    public internal(set) var referenceAnalyses = ObjectTable<ReferenceAnalysis>()
    public internal(set) var worksheets = ObjectTable<Worksheet>()
    public internal(set) var worksheetTemplates = ObjectTable<WorksheetTemplate>()
    /// Id counters by key (`Client`, `Worksheet`, `AnalysisRequest:H2O`, ...): the last number used.
    public internal(set) var counters: [String: Int] = [:]
    /// Lab settings (SENAITE bika_setup). Changing them is not recorded in ``changes``.
    public var settings: LabSettings
    /// Which roles hold which permission. Default: ``RolePermissionMap/senaiteDefault``.
    public var rolePermissions: RolePermissionMap
    /// What changed since load or the last ``clearChanges()``. Not encoded.
    public internal(set) var changes = LabChanges()

    /// The working set's scope in a partial lab; nil for a whole lab. Not encoded.
    public private(set) var scope: ReadScope?

    public init(settings: LabSettings = LabSettings(), rolePermissions: RolePermissionMap = .senaiteDefault) {
        self.settings = settings
        self.rolePermissions = rolePermissions
    }

    /// A partial lab: a unit of work's working set, empty until the storage layer loads into it. Every read
    /// outside what was loaded is recorded in `scope` (see ``ReadScope``).
    public init(scope: ReadScope, settings: LabSettings = LabSettings(), rolePermissions: RolePermissionMap = .senaiteDefault) {
        self.init(settings: settings, rolePermissions: rolePermissions)
        attach(scope)
    }

    /// A partial lab that starts with every object of `base` loaded, with `base`'s settings and permissions: the
    /// same lab as ``init(scope:settings:rolePermissions:)`` followed by ``load(_:)`` of each object, made without
    /// touching the objects (the tables are shared copy-on-write and the scope takes `base`'s uids and originals at
    /// once). The storage layer starts every unit of work from its cached setup objects this way: loaded one by
    /// one they cost each unit of work a cast, two dictionary writes and a lock per user, service, template ...
    /// (3-5 % of `limsqueue bench lims`), and more as a lab's users grow.
    public init(scope: ReadScope, startingWith base: LoadedObjects) {
        // The objects, settings and permissions of `base`; no counters (a partial lab never reads them) and no changes.
        self = base.state
        counters = [:]
        changes = LabChanges()
        attach(scope)
        scope.loaded(uids: base.uids, originals: base.originals)
    }

    /// Makes this a partial lab of `scope`: every table reports its reads outside the working set there.
    private mutating func attach(_ scope: ReadScope) {
        self.scope = scope
        clients.scope = scope; contacts.scope = scope; labContacts.scope = scope; users.scope = scope
        sampleTypes.scope = scope; analysisCategories.scope = scope; analysisServices.scope = scope
        methods.scope = scope; instruments.scope = scope; referenceDefinitions.scope = scope
        referenceSamples.scope = scope; samples.scope = scope; analyses.scope = scope
        duplicateAnalyses.scope = scope; referenceAnalyses.scope = scope; worksheets.scope = scope
        worksheetTemplates.scope = scope
    }

    /// True for a partial lab (a working set).
    public var isPartial: Bool { scope != nil }

    enum CodingKeys: String, CodingKey {
        case clients, contacts, labContacts, users, sampleTypes, analysisCategories, analysisServices, methods
        case instruments, referenceDefinitions, referenceSamples, samples, analyses, duplicateAnalyses
        case referenceAnalyses, worksheets, worksheetTemplates, counters, settings, rolePermissions
    }

    /// Equal labs hold the same objects, counters, settings, permissions and recorded changes (the scope is
    /// bookkeeping of a unit of work and does not count).
    public static func == (lhs: LabState, rhs: LabState) -> Bool {
        lhs.clients == rhs.clients && lhs.contacts == rhs.contacts && lhs.labContacts == rhs.labContacts
            && lhs.users == rhs.users && lhs.sampleTypes == rhs.sampleTypes && lhs.analysisCategories == rhs.analysisCategories
            && lhs.analysisServices == rhs.analysisServices && lhs.methods == rhs.methods && lhs.instruments == rhs.instruments
            && lhs.referenceDefinitions == rhs.referenceDefinitions && lhs.referenceSamples == rhs.referenceSamples
            && lhs.samples == rhs.samples && lhs.analyses == rhs.analyses && lhs.duplicateAnalyses == rhs.duplicateAnalyses
            && lhs.referenceAnalyses == rhs.referenceAnalyses && lhs.worksheets == rhs.worksheets
            && lhs.worksheetTemplates == rhs.worksheetTemplates && lhs.counters == rhs.counters && lhs.settings == rhs.settings
            && lhs.rolePermissions == rhs.rolePermissions && lhs.changes == rhs.changes
    }

    /// Forgets the recorded changes (call after the storage layer saved them).
    public mutating func clearChanges() { changes = LabChanges() }

    // MARK: - Generic access

    /// The object with `uid`, of any type.
    public func object(_ uid: String) -> (any LabObject)? {
        if let o = peekObject(uid) { return o }
        scope?.miss(uid, nil)
        return nil
    }

    /// The object with `uid` if this state holds it, without asking the scope.
    public func peekObject(_ uid: String) -> (any LabObject)? {
        if let o = analyses.peek(uid) { return o }
        if let o = samples.peek(uid) { return o }
        if let o = worksheets.peek(uid) { return o }
        if let o = duplicateAnalyses.peek(uid) { return o }
        if let o = referenceAnalyses.peek(uid) { return o }
        if let o = clients.peek(uid) { return o }
        if let o = contacts.peek(uid) { return o }
        if let o = users.peek(uid) { return o }
        if let o = labContacts.peek(uid) { return o }
        if let o = sampleTypes.peek(uid) { return o }
        if let o = analysisCategories.peek(uid) { return o }
        if let o = analysisServices.peek(uid) { return o }
        if let o = methods.peek(uid) { return o }
        if let o = instruments.peek(uid) { return o }
        if let o = referenceDefinitions.peek(uid) { return o }
        if let o = referenceSamples.peek(uid) { return o }
        if let o = worksheetTemplates.peek(uid) { return o }
        return nil
    }

    /// All objects, of every type (unordered).
    public var allObjects: [any LabObject] {
        if let scope { scope.requireComplete("lab", what: "a scan of the whole lab") }
        return loadedObjects
    }

    /// Every object this state holds, without the scan check (for callers that declared what they loaded).
    public var loadedObjects: [any LabObject] {
        var result: [any LabObject] = []
        result += clients.loaded.map { $0 as any LabObject }
        result += contacts.loaded.map { $0 as any LabObject }
        result += labContacts.loaded.map { $0 as any LabObject }
        result += users.loaded.map { $0 as any LabObject }
        result += sampleTypes.loaded.map { $0 as any LabObject }
        result += analysisCategories.loaded.map { $0 as any LabObject }
        result += analysisServices.loaded.map { $0 as any LabObject }
        result += methods.loaded.map { $0 as any LabObject }
        result += instruments.loaded.map { $0 as any LabObject }
        result += referenceDefinitions.loaded.map { $0 as any LabObject }
        result += referenceSamples.loaded.map { $0 as any LabObject }
        result += samples.loaded.map { $0 as any LabObject }
        result += analyses.loaded.map { $0 as any LabObject }
        result += duplicateAnalyses.loaded.map { $0 as any LabObject }
        result += referenceAnalyses.loaded.map { $0 as any LabObject }
        result += worksheets.loaded.map { $0 as any LabObject }
        result += worksheetTemplates.loaded.map { $0 as any LabObject }
        return result
    }

    /// Adds or replaces an object as loaded from storage, without recording a change.
    public mutating func load(_ object: any LabObject) {
        put(object)
        scope?.loaded(object)
    }

    /// Sets an id counter as loaded from storage, without recording a change.
    public mutating func loadCounter(_ key: String, value: Int) { counters[key] = value }

    /// Gives a working set the numbers `range` of the id counter `key`, reserved atomically by the storage layer
    /// (``LabReader/reserve(_:count:into:)``, or by a bulk creation for all its units of work at once): its new
    /// objects take them in order. A whole lab (no scope) is left as it is.
    public mutating func takeReserved(_ key: String, _ range: ClosedRange<Int>) {
        guard let scope else { return }
        loadCounter(key, value: range.lowerBound - 1)
        scope.reserve(key, upTo: range.upperBound)
    }

    /// Adds a new object and records it as created.
    /// Ids are not re-checked here: the `create…` functions derive them from counters and siblings.
    /// - Throws: ``LabError/Code/duplicate`` if the uid exists.
    public mutating func insert(_ object: any LabObject) throws {
        if peekObject(object.uid) != nil {
            throw LabError(.duplicate, "An object with uid \(object.uid) already exists")
        }
        put(object)
        changes.markCreated(object.uid)
        if let scope {
            // A new object's children, duplicates and subtree are all in this working set: none are stored yet.
            scope.declare(CollectionOfOne(object.uid))
            scope.declareComplete("children:\(object.uid)")
            scope.declareComplete("duplicates:\(object.uid)")
            scope.declareComplete("subtree:\(object.uid)")
        }
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

    /// Records that this unit of work relies on `uid` staying as it read it, without changing it: the save moves
    /// its version with compare-and-set, so two units of work that claim the same object (two queued
    /// assignments of one analysis to two worksheets) cannot both commit; the later one is run again on
    /// current data. Objects created, changed or deleted here are claimed already.
    /// - Throws: ``LabError/Code/notFound`` if no object has that uid.
    public mutating func claim(_ uid: String) throws {
        guard object(uid) != nil else { throw LabError.notFound("object", uid) }
        changes.claimed.insert(uid)
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
    ///
    /// In a partial lab the number must lie within the reservation the storage layer made for this unit of work
    /// (``ReadScope/reserve(_:upTo:)``); beyond it the need is recorded (the unit of work is run again with a
    /// larger reservation, its result discarded) and a number no real object gets is returned.
    mutating func nextCounter(_ key: String) -> Int {
        if let scope {
            let value = (counters[key] ?? 0) + 1
            guard let last = scope.reservation(key), counters[key] != nil, value <= last else {
                scope.need(key)
                counters[key] = (counters[key] ?? 0) + 1
                return 900_000_000 + (counters[key] ?? 0)
            }
            counters[key] = value
            changes.counters.insert(key)
            return value
        }
        let value = (counters[key] ?? 0) + 1
        counters[key] = value
        changes.counters.insert(key)
        return value
    }

    /// Sets the review state of a workflow-bound object. Returns false for objects without a workflow.
    mutating func setReviewState(_ uid: String, _ state: String) -> Bool {
        if var s = samples.peek(uid) {
            s.reviewState = state
            samples[uid] = s
        } else if var w = worksheets.peek(uid) {
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

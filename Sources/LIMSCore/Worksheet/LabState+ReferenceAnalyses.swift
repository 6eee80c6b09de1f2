/// Blanks and controls on a worksheet.
///
/// Source: senaite.core `Worksheet.addReferenceAnalyses`, `get_suitable_slot_for_references`,
/// `nextRefAnalysesGroupID`, reference 3.3.
extension LabState {
    /// Adds reference analyses of `referenceSampleUID` for the services it supports among `serviceUIDs`.
    ///
    /// The worksheet must be `open`; the reference sample must be valid at `now` (not expired, not disposed).
    /// Slot type is `b` for a blank reference sample, `c` for a control. Default slot: the template's first
    /// empty slot of that type, else a new slot after max(highest occupied position, template size). The
    /// analyses share the group id `<refsampleid>-<nnn>` and start `assigned`.
    ///
    /// - Parameters:
    ///   - slot: destination position (1-based), nil for the default; must be empty. Default: nil.
    ///   - now: Unix epoch seconds (validity check and creation time).
    /// - Returns: uids of the created reference analyses, in `serviceUIDs` order.
    /// - Throws: ``LabError`` `notFound`, or `refused` with ``GuardID/referenceSample`` (invalid, no supported
    ///   service) or ``GuardID/worksheetSlot``/``GuardID/queueWorksheet``/`permission`.
    @discardableResult
    public mutating func addReferenceAnalyses(
        referenceSampleUID: String, serviceUIDs: [String], slot: Int? = nil, to worksheetUID: String,
        context: TransitionContext, now: Double
    ) throws -> [String] {
        guard let worksheet = worksheets[worksheetUID] else { throw LabError.notFound("worksheet", worksheetUID) }
        guard let reference = referenceSamples[referenceSampleUID] else {
            throw LabError.notFound("reference sample", referenceSampleUID)
        }
        try checkWorksheetEditable(worksheet, context: context)
        guard reference.isValid(at: now) else {
            throw LabError.refused(GuardID.referenceSample,
                                   "Reference sample \(reference.id) is expired or disposed and cannot be used")
        }
        var seen: Set<String> = []
        let services = serviceUIDs.filter { reference.expected[$0] != nil && seen.insert($0).inserted }
            .compactMap { analysisServices[$0] }
        guard !services.isEmpty else {
            throw LabError.refused(GuardID.referenceSample,
                                   "Reference sample \(reference.id) has no expected values for the requested services")
        }
        let type: SlotType = reference.blank ? .blank : .control
        let template = worksheet.templateUID.flatMap { worksheetTemplates[$0] }
        let position: Int
        if let slot {
            guard slot > 0, worksheet.rows(at: slot).isEmpty else {
                throw LabError.refused(GuardID.worksheetSlot,
                                       "Slot \(slot) of worksheet \(worksheet.id) is not free for reference analyses")
            }
            position = slot
        } else if let templateSlot = template?.layout.first(where: {
            $0.type == type && worksheet.rows(at: $0.pos).isEmpty
        }) {
            position = templateSlot.pos
        } else {
            position = max(worksheet.occupiedPositions.last ?? 0, template?.size ?? 0) + 1
        }
        let groupID = nextReferenceGroupID(for: reference)
        var created: [String] = []
        var events: [LabEvent] = []
        for service in services {
            let id = "\(groupID)-\(service.keyword)"
            var analysis = ReferenceAnalysis(
                uid: context.uids.makeUID(), id: id, path: "\(reference.path)/\(id)", created: now,
                referenceSampleUID: reference.uid, serviceUID: service.uid, keyword: service.keyword,
                blank: reference.blank, groupID: groupID, expected: reference.expected[service.uid],
                analyst: worksheet.analyst, worksheetUID: worksheetUID)
            if let instrument = worksheet.instrumentUID, service.instrumentUIDs.contains(instrument) {
                analysis.instrumentUID = instrument
                analysis.methodUID = instruments[instrument]?.methodUIDs.first
            } else if let method = worksheet.methodUID, service.methodUIDs.contains(method) {
                analysis.methodUID = method
            }
            WorkflowEngine.place(analysis, slot: position, type: type, container: reference.uid,
                                 worksheetUID: worksheetUID, state: &self, events: &events)
            created.append(analysis.uid)
        }
        return created
    }

    /// The id counter of a reference sample's group numbers (partial labs; see ``nextReferenceGroupID(for:)``).
    public static func referenceGroupCounter(_ referenceSampleUID: String) -> String { "ReferenceGroup:\(referenceSampleUID)" }

    /// `<refsampleid>-<nnn>`: the next group number of `reference`.
    mutating func nextReferenceGroupID(for reference: ReferenceSample) -> String {
        let prefix = "\(reference.id)-"
        if isPartial {
            // A working set does not hold a reference sample's whole history: the group number comes from the
            // counter the storage layer keeps (and reserves) per reference sample.
            return prefix + LabPaths.padded(nextCounter(Self.referenceGroupCounter(reference.uid)), 3)
        }
        let used = referenceAnalyses.values.compactMap { r -> Int? in
            guard r.referenceSampleUID == reference.uid, r.groupID.hasPrefix(prefix) else { return nil }
            return Int(r.groupID.dropFirst(prefix.count))
        }
        return prefix + LabPaths.padded((used.max() ?? 0) + 1, 3)
    }
}

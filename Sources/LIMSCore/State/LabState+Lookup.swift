/// Read helpers over ``LabState``.
extension LabState {
    /// The routine, duplicate or reference analysis with `uid`.
    public func analysisRecord(_ uid: String) -> (any AnalysisRecord)? {
        if let a = analyses.peek(uid) { return a }
        if let d = duplicateAnalyses.peek(uid) { return d }
        if let r = referenceAnalyses.peek(uid) { return r }
        scope?.miss(uid, nil)
        return nil
    }

    /// The user with login name `userid`.
    public func user(named userid: String) -> User? {
        users.values.first { $0.userid == userid }
    }

    /// Routine analyses of a sample (retests and retracted ones included), ordered by creation then id.
    public func analyses(ofSample sampleUID: String) -> [Analysis] {
        scope?.requireComplete("children:\(sampleUID)", what: "the analyses of sample \(sampleUID)")
        return analyses.loadedChildren(of: sampleUID).sorted { ($0.created, $0.id) < ($1.created, $1.id) }
    }

    /// All analyses on a worksheet, in layout order.
    public func analyses(onWorksheet worksheetUID: String) -> [any AnalysisRecord] {
        worksheets[worksheetUID]?.layout.compactMap { analysisRecord($0.analysisUID) } ?? []
    }

    /// The sample an analysis belongs to (routine or duplicate), nil for reference analyses.
    public func sample(of analysisUID: String) -> Sample? {
        guard let sampleUID = analysisRecord(analysisUID)?.sampleUID else { return nil }
        return samples[sampleUID]
    }

    /// The client whose subtree contains `uid` (the client itself included), found by walking parents.
    public func client(containing uid: String) -> Client? {
        var current: String? = uid
        var seen: Set<String> = []
        while let node = current, seen.insert(node).inserted {
            if let client = clients[node] { return client }
            current = object(node)?.parentUID
        }
        return nil
    }

    /// A short human label for messages: "Cu of H2O-0001", "WS-0001", "H2O-0001".
    public func label(_ uid: String) -> String {
        if let a = analysisRecord(uid) {
            if let sample = a.sampleUID.flatMap({ samples[$0] }) {
                return a.kind == .duplicate ? "duplicate \(a.id)" : "\(a.id) of \(sample.id)"
            }
            return "reference analysis \(a.id)"
        }
        return object(uid)?.id ?? uid
    }
}

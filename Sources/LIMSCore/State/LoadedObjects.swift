/// Objects that many units of work start from (the storage layer's cached setup objects: users, services,
/// templates ...), prepared once for ``LabState/init(scope:startingWith:)``: the lab that holds them, and their uids
/// and values by uid, which each working set's ``ReadScope`` takes as loaded without a pass over the objects.
public struct LoadedObjects: Sendable {
    /// The objects, in a whole lab (no scope), with the settings and permissions the working sets take.
    public let state: LabState
    /// The uids of ``state``'s objects.
    let uids: Set<String>
    /// ``state``'s objects by uid: a working set's originals (the objects as loaded).
    let originals: [String: any LabObject]

    /// Prepares `state`'s objects (a whole lab: one without a scope).
    public init(_ state: LabState) {
        precondition(!state.isPartial, "LoadedObjects are made from a whole lab")
        self.state = state
        var originals: [String: any LabObject] = [:]
        for object in state.loadedObjects { originals[object.uid] = object }
        self.originals = originals
        self.uids = Set(originals.keys)
    }
}

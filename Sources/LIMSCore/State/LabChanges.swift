/// Which objects an operation created, changed or deleted since the state was loaded (or since
/// ``LabState/clearChanges()``), so the storage layer writes only those.
///
/// Invariants: the three sets are disjoint; an object created and then deleted before a save appears in none;
/// `counters` lists id-counter keys that moved.
public struct LabChanges: Sendable, Equatable, Codable {
    public internal(set) var created: Set<String> = []
    public internal(set) var changed: Set<String> = []
    public internal(set) var deleted: Set<String> = []
    public internal(set) var counters: Set<String> = []
    /// Objects read and left unchanged whose versions the save still moves with compare-and-set
    /// (``LabState/claim(_:)``): a unit of work that relied on them as read conflicts with any other that did.
    public internal(set) var claimed: Set<String> = []

    public init() {}

    /// True when nothing needs writing.
    public var isEmpty: Bool {
        created.isEmpty && changed.isEmpty && deleted.isEmpty && counters.isEmpty && claimed.isEmpty
    }

    mutating func markCreated(_ uid: String) {
        deleted.remove(uid)
        changed.remove(uid)
        created.insert(uid)
    }

    mutating func markChanged(_ uid: String) {
        if !created.contains(uid) { changed.insert(uid) }
    }

    mutating func markDeleted(_ uid: String) {
        changed.remove(uid)
        if created.remove(uid) == nil { deleted.insert(uid) }
    }
}

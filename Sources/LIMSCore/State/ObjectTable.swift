/// The objects of one type in a ``LabState``, by uid: a dictionary that, in a partial lab, reports reads outside
/// the unit of work's working set to its ``ReadScope``.
///
/// In a whole lab (no scope) it is a plain dictionary. In a partial lab a subscript miss on a uid the unit of work
/// never read, and a scan (``values``, iteration, ``count``) of a type that was not loaded whole, are violations.
/// ``loaded`` gives what was loaded without that check, for code that declared its own completeness key.
public struct ObjectTable<T: LabObject>: Sendable, Equatable, Codable, Sequence {
    private(set) var storage: [String: T] = [:]
    /// The uids of the held objects by parent uid, kept with `storage`: a sample's analyses without a scan of
    /// every analysis held (a batch of 500 demo samples scanned its 2,750 analyses once per sample).
    private var byParent: [String: Set<String>] = [:]
    var scope: ReadScope?

    /// An empty table.
    public init() {}

    public init(from decoder: any Decoder) throws {
        storage = try [String: T](from: decoder)
        for (uid, object) in storage { if let parent = object.parentUID { byParent[parent, default: []].insert(uid) } }
    }

    /// Moves `uid` from `old`'s parent to `new`'s in ``byParent``.
    private mutating func reindex(_ uid: String, from old: String?, to new: String?) {
        guard old != new else { return }
        if let old {
            byParent[old]?.remove(uid)
            if byParent[old]?.isEmpty == true { byParent[old] = nil }
        }
        if let new { byParent[new, default: []].insert(uid) }
    }

    /// The held objects whose parent is `parentUID`, in no order, without the scan check (for callers that declared
    /// the parent's children complete).
    public func loadedChildren(of parentUID: String) -> [T] {
        byParent[parentUID].map { $0.compactMap { storage[$0] } } ?? []
    }

    public func encode(to encoder: any Encoder) throws {
        try storage.encode(to: encoder)
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.storage == rhs.storage }

    /// The object with `uid`; nil when there is none (a violation in a partial lab when `uid` was never read).
    public subscript(uid: String) -> T? {
        get {
            if let value = storage[uid] { return value }
            scope?.miss(uid, T.portalType)
            return nil
        }
        set {
            let old: String?
            if let newValue {
                old = storage.updateValue(newValue, forKey: uid)?.parentUID
            } else {
                old = storage.removeValue(forKey: uid)?.parentUID
            }
            reindex(uid, from: old, to: newValue?.parentUID)
        }
    }

    /// The object with `uid` if loaded, without asking the scope (for lookups across several tables).
    public func peek(_ uid: String) -> T? { storage[uid] }

    /// Every object (a scan: a violation in a partial lab unless the type was loaded whole).
    public var values: Dictionary<String, T>.Values {
        scope?.scan(T.portalType)
        return storage.values
    }

    /// Every uid (a scan, as ``values``).
    public var keys: Dictionary<String, T>.Keys {
        scope?.scan(T.portalType)
        return storage.keys
    }

    /// The objects this state holds, without the scan check: for callers that declared what they loaded.
    public var loaded: Dictionary<String, T>.Values { storage.values }

    /// How many objects (a scan, as ``values``).
    public var count: Int {
        scope?.scan(T.portalType)
        return storage.count
    }

    /// True when there are none (a scan, as ``values``).
    public var isEmpty: Bool {
        scope?.scan(T.portalType)
        return storage.isEmpty
    }

    /// Removes and returns the object with `uid`.
    @discardableResult
    public mutating func removeValue(forKey uid: String) -> T? {
        let removed = storage.removeValue(forKey: uid)
        reindex(uid, from: removed?.parentUID, to: nil)
        return removed
    }

    public func makeIterator() -> Dictionary<String, T>.Iterator {
        scope?.scan(T.portalType)
        return storage.makeIterator()
    }
}

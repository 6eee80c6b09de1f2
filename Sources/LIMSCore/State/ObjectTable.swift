/// The objects of one type in a ``LabState``, by uid: a dictionary that, in a partial lab, reports reads outside
/// the unit of work's working set to its ``ReadScope``.
///
/// In a whole lab (no scope) it is a plain dictionary. In a partial lab a subscript miss on a uid the unit of work
/// never read, and a scan (``values``, iteration, ``count``) of a type that was not loaded whole, are violations.
/// ``loaded`` gives what was loaded without that check, for code that declared its own completeness key.
public struct ObjectTable<T: LabObject>: Sendable, Equatable, Codable, Sequence {
    var storage: [String: T] = [:]
    var scope: ReadScope?

    /// An empty table.
    public init() {}

    public init(from decoder: any Decoder) throws {
        storage = try [String: T](from: decoder)
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
        set { storage[uid] = newValue }
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
    public mutating func removeValue(forKey uid: String) -> T? { storage.removeValue(forKey: uid) }

    public func makeIterator() -> Dictionary<String, T>.Iterator {
        scope?.scan(T.portalType)
        return storage.makeIterator()
    }
}

import Synchronization

/// What a partial lab (a unit of work's working set) was given, and the reads it was not given.
///
/// A ``LabState`` made with ``LabState/init(scope:settings:rolePermissions:)`` holds only the objects the unit of
/// work loaded. Every object read goes through its ``ObjectTable``, which asks the scope: a uid that was loaded or
/// looked up (found or not) is known; a read of any other uid, a scan of a whole type that was not loaded whole, or
/// a query result (``isComplete(_:)``) that was not declared, is recorded as a violation instead of quietly looking
/// like "no such object". The storage layer refuses to save a unit of work with violations
/// (``LabError/Code/outsideWorkingSet``), so a missing read fails loudly in tests.
///
/// Completeness keys name what was loaded whole:
/// - `type:<PortalType>`: every object of that type (setup types: services, templates, users ...);
/// - `children:<uid>`: every child of an object (the analyses of a sample, of a reference sample);
/// - `duplicates:<sampleUID>`: every duplicate of a sample's analyses;
/// - `subtree:<uid>`: every object below an object (a client's, for the security walk);
/// - `candidates:<templateUID>`: the routine analyses a template may select (see ``LabReader``).
///
/// Id counters: a partial lab never reads counters; the storage layer reserves numbers atomically
/// (``reserve(_:upTo:)``), so two unrelated units of work never conflict over an id counter. A unit of work that
/// needs a counter it was not given records the need (``counterNeeds``) and is run again with a reservation.
///
/// Reference semantics: copies of a partial lab share their scope (one unit of work).
public final class ReadScope: Sendable {
    struct Contents {
        var known: Set<String> = []
        var complete: Set<String> = []
        var violations: [String] = []
        /// Counter key → the last number reserved for this unit of work.
        var reserved: [String: Int] = [:]
        /// Counter key → how many numbers the body asked for beyond its reservation.
        var needs: [String: Int] = [:]
        /// Every object as it was loaded (first load), for compare-and-set and change detection.
        var originals: [String: any LabObject] = [:]
    }

    let contents = Mutex(Contents())

    /// An empty scope: nothing is known yet.
    public init() {}

    /// Declares uids as read: loaded, or looked up and found missing.
    public func declare<S: Sequence>(_ uids: S) where S.Element == String {
        contents.withLock { $0.known.formUnion(uids) }
    }

    /// Records `object` as loaded (the first load of a uid is its original).
    func loaded(_ object: any LabObject) {
        contents.withLock { c in
            c.known.insert(object.uid)
            if c.originals[object.uid] == nil { c.originals[object.uid] = object }
        }
    }

    /// Records many objects as loaded at once (``LabState/init(scope:startingWith:)``): `uids` known, and
    /// `originals` the originals of those not loaded before.
    func loaded(uids: Set<String>, originals: [String: any LabObject]) {
        contents.withLock { c in
            if c.known.isEmpty { c.known = uids } else { c.known.formUnion(uids) }
            if c.originals.isEmpty { c.originals = originals } else { c.originals.merge(originals) { first, _ in first } }
        }
    }

    /// The object with `uid` as the unit of work loaded it; nil when it was not loaded (or created here).
    public func original(_ uid: String) -> (any LabObject)? {
        contents.withLock { $0.originals[uid] }
    }

    /// Declares a set as loaded whole (see the type's completeness keys).
    public func declareComplete(_ key: String) {
        contents.withLock { _ = $0.complete.insert(key) }
    }

    /// True when `key` was declared complete.
    public func isComplete(_ key: String) -> Bool {
        contents.withLock { $0.complete.contains(key) }
    }

    /// True when `uid` was read (loaded or looked up).
    public func knows(_ uid: String) -> Bool {
        contents.withLock { $0.known.contains(uid) }
    }

    /// Records a read outside the working set.
    public func violate(_ message: String) {
        contents.withLock { if $0.violations.count < 50 { $0.violations.append(message) } }
    }

    /// The reads outside the working set so far (at most 50).
    public var violations: [String] { contents.withLock { $0.violations } }

    /// A miss on `uid` in a table of `type`: fine when the uid is known or the type was loaded whole.
    func miss(_ uid: String, _ type: PortalType?) {
        contents.withLock { c in
            if c.known.contains(uid) { return }
            if let type, c.complete.contains("type:\(type.rawValue)") { return }
            if c.violations.count < 50 {
                c.violations.append("read of \(type?.rawValue ?? "object") \(uid) outside the working set")
            }
        }
    }

    /// A scan of every object of `type`: fine when the type was loaded whole.
    func scan(_ type: PortalType) {
        requireComplete("type:\(type.rawValue)", what: "scan of every \(type.rawValue)")
    }

    /// Records a violation unless `key` was declared complete.
    public func requireComplete(_ key: String, what: String) {
        contents.withLock { c in
            if !c.complete.contains(key), c.violations.count < 50 {
                c.violations.append("\(what) outside the working set (\(key) not loaded)")
            }
        }
    }

    /// Gives the unit of work counter numbers up to `last` (reserved atomically by the storage layer).
    public func reserve(_ key: String, upTo last: Int) {
        contents.withLock { $0.reserved[key] = last }
    }

    /// The last number reserved for `key`, nil when none was.
    func reservation(_ key: String) -> Int? {
        contents.withLock { $0.reserved[key] }
    }

    /// Records that the body needs one more number of `key` than it was given.
    func need(_ key: String) {
        contents.withLock { $0.needs[key, default: 0] += 1 }
    }

    /// Counter numbers the body asked for beyond its reservations: key → how many. The storage layer reserves
    /// them and runs the body again.
    public var counterNeeds: [String: Int] { contents.withLock { $0.needs } }

    /// Forgets violations and counter needs before the body runs again with more reservations.
    public func resetForRerun() {
        contents.withLock {
            $0.violations = []
            $0.needs = [:]
        }
    }
}

import Foundation
import LIMSCore
import Synchronization

/// Decoded LIMS objects by uid, each kept with the exact stored document it was decoded from, so that a unit of
/// work reading an object it (or another request) read lately skips the JSON decoding.
///
/// Why: decoding stored documents with Foundation's `JSONDecoder` was the largest single cost of the LIMS API's
/// units of work: 14.6 % of all samples of `limsqueue bench lims` (perf, release), ahead of SQLite's own work
/// (11 %). Fifty users working on ten worksheets read the same worksheets and analyses again and again.
///
/// Correct by construction: an entry is used only when the row's document is byte for byte the one it was
/// decoded from (and of the same portal type), so a write, a rolled-back write or another process's write can never
/// hand out a stale value; the row's version is set on the value handed out. Nothing needs invalidating. The cache
/// holds at most ``capacity`` objects (the oldest entry makes room, FIFO), so its memory does not grow with the lab
/// (measured: about 4 KB per entry, the document and the decoded value).
final class LabObjectCache: Sendable {
    /// The process's cache, shared by every store (entries are keyed by their exact documents, so sharing between
    /// databases is safe). Capacity: 4,096 objects, several times what 50 users working on ten worksheets touch
    /// (`bench lims`: about 500); at 20,000 the cache added 80 MB to `serve`'s peak RSS in `bench scale`.
    static let shared = LabObjectCache(capacity: 4_096)

    private struct Entry: Sendable {
        let body: String
        let portalType: String
        let object: any LabObject
    }

    private struct State: Sendable {
        var entries: [String: Entry] = [:]
        /// Uids in insertion order, a ring of `capacity` slots; `next` is the slot the next new uid takes.
        var order: [String] = []
        var next = 0
    }

    /// Most objects held.
    let capacity: Int
    private let state = Mutex(State())

    /// - Parameter capacity: most objects held (at least 1).
    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// The object stored as `body`, with `version`: the cached value when `uid` was last decoded from exactly this
    /// document, else decoded now (and remembered).
    /// - Throws: what ``LabObjectCoding/decode(_:portalType:version:)`` throws.
    func object(uid: String, body: String, portalType: String, version: Int) throws -> any LabObject {
        if let hit = state.withLock({ $0.entries[uid] }), hit.portalType == portalType, Self.sameBytes(hit.body, body) {
            var object = hit.object
            object.version = version
            return object
        }
        let object = try LabObjectCoding.decode(body, portalType: portalType, version: version)
        remember(uid: uid, entry: Entry(body: body, portalType: portalType, object: object))
        return object
    }

    /// Remembers an object a unit of work writes, stored as `body` (``LabObjectCoding/encode(_:)`` of it), so that
    /// the next read of that document is a hit: a result entered and then read by the worksheet's submit decoded the
    /// analysis again (decoding was 5 % of `limsqueue bench lims` on PostgreSQL). Safe whether or not the write
    /// commits, as every entry is used only for its exact document; `object` is what decoding `body` gives, which
    /// debug builds (the test suites) check at every write.
    func remember(written object: any LabObject, body: String) {
        assert((try? LabObjectCoding.decode(body, portalType: type(of: object).portalType.rawValue, version: object.version))
                   .map { object.isSameValue(as: $0) } ?? false, "\(type(of: object)) \(object.uid) does not round-trip through its document")
        remember(uid: object.uid, entry: Entry(body: body, portalType: type(of: object).portalType.rawValue, object: object))
    }

    /// Number of objects held (tests).
    var count: Int { state.withLock { $0.entries.count } }

    private func remember(uid: String, entry: Entry) {
        state.withLock { state in
            if state.entries.updateValue(entry, forKey: uid) != nil { return }
            if state.order.count < capacity {
                state.order.append(uid)
            } else {
                state.entries.removeValue(forKey: state.order[state.next])
                state.order[state.next] = uid
                state.next = (state.next + 1) % capacity
            }
        }
    }

    /// Byte equality of two documents (not Unicode canonical equivalence: the cache wants the same document).
    static func sameBytes(_ first: String, _ second: String) -> Bool {
        var first = first, second = second
        return first.withUTF8 { a in
            second.withUTF8 { b in
                a.count == b.count && (a.isEmpty || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0)
            }
        }
    }
}

extension LabObject {
    /// Whether `other` is this object's type and equal to it.
    func isSameValue(as other: any LabObject) -> Bool {
        (other as? Self) == self
    }
}

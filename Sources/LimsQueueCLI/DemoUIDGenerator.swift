import Foundation
import LIMSCore
import QueueCore

/// Uids for bulk demo data that sort in creation order: 12 hex digits of the run's start (milliseconds since
/// 1970), 8 of a counter, 12 random.
///
/// Every index keyed by a uid (the primary key, parents, a sample's analyses, the security tokens) then takes a
/// batch's rows at its end instead of across the whole tree, so a batch writes about the same pages whatever the
/// lab's size (random uids make it rewrite a page per row once the indexes outgrow the cache). The uids are
/// still 32 lowercase hex digits (SENAITE `api.is_uid`, reference 1.1) and unique: runs start at distinct
/// milliseconds and the counter never repeats within a run.
final class DemoUIDGenerator: UIDGenerator, @unchecked Sendable {
    private let lock = NSLock()
    private let prefix: String
    private var counter: UInt32 = 0

    /// - Parameter start: the run's start (epoch seconds).
    init(start: Double) {
        prefix = Self.hex(UInt64(max(0, start) * 1000), digits: 12)
    }

    func makeUID() -> String {
        lock.lock()
        counter &+= 1
        let value = counter
        lock.unlock()
        var random = BufferedSystemRandom()
        return prefix + Self.hex(UInt64(value), digits: 8) + Self.hex(random.next() & 0xFFFF_FFFF_FFFF, digits: 12)
    }

    /// `value` as `digits` lowercase hex digits (its low bits when longer).
    static func hex(_ value: UInt64, digits: Int) -> String {
        let text = String(value, radix: 16)
        return text.count >= digits ? String(text.suffix(digits)) : String(repeating: "0", count: digits - text.count) + text
    }
}

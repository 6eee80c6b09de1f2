import Foundation

/// Where new uids come from (task uids and lab object uids). Injected so that the core holds no randomness and
/// tests are deterministic.
///
/// A uid is 32 lowercase hexadecimal characters (SENAITE `api.is_uid`, reference 1.1).
public protocol UIDGenerator: Sendable {
    /// A fresh uid: 32 lowercase hex characters, never returned before by this generator.
    func makeUID() -> String
}

/// 128 random bits from the system generator (``TaskUID/make()``), as lowercase hex, as SENAITE's uuid4 uids. The
/// production generator is ``TimeOrderedUIDGenerator``.
public struct RandomUIDGenerator: UIDGenerator {
    public init() {}

    public func makeUID() -> String {
        TaskUID.make()
    }
}

/// Production generator of task and lab object uids: uids that sort by the time they were made
/// (``TaskUID/makeTimeOrdered()``), so that the indexes keyed by them take new keys at one edge instead of on random
/// pages.
public struct TimeOrderedUIDGenerator: UIDGenerator {
    public init() {}

    public func makeUID() -> String {
        TaskUID.makeTimeOrdered()
    }
}

/// Test generator: `00000000000000000000000000000001`, `…02`, … (a counter as 32 hex digits).
public final class SequentialUIDGenerator: UIDGenerator, @unchecked Sendable {
    private let lock = NSLock()
    private var counter: UInt64

    /// - Parameter start: the first value returned minus one. Default: 0.
    public init(start: UInt64 = 0) { counter = start }

    public func makeUID() -> String {
        lock.lock()
        counter += 1
        let value = counter
        lock.unlock()
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 32 - digits.count) + digits
    }
}

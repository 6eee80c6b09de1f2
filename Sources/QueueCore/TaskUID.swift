import Foundation

/// Task and object uids: 32 lowercase hexadecimal characters.
///
/// Source: senaite.queue `tmpID()` (`binascii.hexlify(os.urandom(16))`) and SENAITE's `api.is_uid`, reference 1.1.
public enum TaskUID {
    /// A new random uid: 32 lowercase hex characters from 16 random bytes. Code that tests must control takes an
    /// injected ``UIDGenerator`` instead (``TimeOrderedUIDGenerator`` in production).
    public static func make() -> String {
        var generator = BufferedSystemRandom()
        return make(using: &generator)
    }

    /// A new uid from the given random number generator (tests pass a seeded one).
    public static func make<G: RandomNumberGenerator>(using generator: inout G) -> String {
        let first = generator.next(), second = generator.next()
        return String(unsafeUninitializedCapacity: 32) { buffer in
            for (offset, word) in [(0, first), (16, second)] {
                var word = word
                for index in 0..<16 {
                    let digit = UInt8(truncatingIfNeeded: word & 0xF)
                    buffer[offset + index] = digit < 10 ? 48 + digit : 87 + digit
                    word >>= 4
                }
            }
            return 32
        }
    }

    /// A new uid that sorts by the time it was made: 12 hex digits of `epochSeconds` in milliseconds (48 bits, big
    /// end first), then 20 random ones (80 bits); 32 lowercase hex characters like any other uid.
    ///
    /// Task uids the queue makes are of this kind: each is a key of the tasks' and the history's indexes, and a
    /// random key lands every insert and delete on a random page of them, which SQLite's log then writes whole
    /// (`bench queue` wrote ~6.7 pages of 4 KiB per task, batched). Uids made one after the other land on the same
    /// few pages instead. Uids a client makes (senaite.queue's `tmpID()`) stay as random as it made them.
    /// - Parameters:
    ///   - epochSeconds: the time, epoch seconds (negative counts as 0).
    ///   - generator: the random part's source (tests pass a seeded one).
    public static func make<G: RandomNumberGenerator>(at epochSeconds: Double, using generator: inout G) -> String {
        let milliseconds = UInt64(max(0, min(epochSeconds, 2.8e11)) * 1_000) & 0xFFFF_FFFF_FFFF
        let first = generator.next(), second = generator.next()
        return String(unsafeUninitializedCapacity: 32) { buffer in
            func hex(_ value: UInt64, digits: Int, at offset: Int) {
                var value = value
                for index in stride(from: offset + digits - 1, through: offset, by: -1) {
                    let digit = UInt8(truncatingIfNeeded: value & 0xF)
                    buffer[index] = digit < 10 ? 48 + digit : 87 + digit
                    value >>= 4
                }
            }
            hex(milliseconds, digits: 12, at: 0)
            hex(first, digits: 16, at: 12)
            hex(second, digits: 4, at: 28)
            return 32
        }
    }

    /// ``make(at:using:)`` at the system clock's time with system randomness.
    public static func makeTimeOrdered() -> String {
        var generator = BufferedSystemRandom()
        return make(at: Date().timeIntervalSince1970, using: &generator)
    }

    /// True if `value` is 32 hex characters (lowercase or uppercase are both accepted on input,
    /// as SENAITE's UIDs are compared lowercase).
    public static func isValid(_ value: String) -> Bool {
        guard value.utf8.count == 32 else { return false }
        return value.utf8.allSatisfy { byte in
            (byte >= 48 && byte <= 57) || (byte >= 97 && byte <= 102) || (byte >= 65 && byte <= 70)
        }
    }
}

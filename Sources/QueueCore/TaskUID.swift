/// Task and object uids: 32 lowercase hexadecimal characters.
///
/// Source: senaite.queue `tmpID()` (`binascii.hexlify(os.urandom(16))`) and SENAITE's `api.is_uid`, reference 1.1.
public enum TaskUID {
    /// A new random uid: 32 lowercase hex characters from 16 random bytes. Code that tests must control takes an
    /// injected ``UIDGenerator`` instead (``RandomUIDGenerator`` in production).
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

    /// True if `value` is 32 hex characters (lowercase or uppercase are both accepted on input,
    /// as SENAITE's UIDs are compared lowercase).
    public static func isValid(_ value: String) -> Bool {
        guard value.utf8.count == 32 else { return false }
        return value.utf8.allSatisfy { byte in
            (byte >= 48 && byte <= 57) || (byte >= 97 && byte <= 102) || (byte >= 65 && byte <= 70)
        }
    }
}

/// Task and object uids: 32 lowercase hexadecimal characters.
///
/// Source: senaite.queue `tmpID()` (`binascii.hexlify(os.urandom(16))`) and SENAITE's `api.is_uid`, reference 1.1.
public enum TaskUID {
    /// A new random uid: 32 lowercase hex characters from 16 random bytes. Code that tests must control takes an
    /// injected ``UIDGenerator`` instead (``RandomUIDGenerator`` in production).
    public static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        return make(using: &generator)
    }

    /// A new uid from the given random number generator (tests pass a seeded one).
    public static func make<G: RandomNumberGenerator>(using generator: inout G) -> String {
        let hex: [Character] = Array("0123456789abcdef")
        var result = ""
        result.reserveCapacity(32)
        for _ in 0..<2 {
            var word = generator.next()
            for _ in 0..<16 {
                result.append(hex[Int(word & 0xF)])
                word >>= 4
            }
        }
        return result
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

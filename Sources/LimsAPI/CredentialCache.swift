import Crypto
import Foundation
import LabActions
import LIMSCore
import Synchronization

/// Verified HTTP Basic credentials, so that a client sending Basic on every request pays bcrypt once per
/// lifetime instead of once per request.
///
/// An entry is keyed by HMAC-SHA256 of `username:password` under a random per-process key (the password itself
/// is never kept, and the key never leaves memory), and holds the bcrypt hash it was verified against. It counts
/// only while the user's stored hash is still that hash (a password change or reset drops it at once), the user
/// still exists, and for at most ``lifetime`` seconds. At most ``capacity`` entries; the oldest go first.
public final class CredentialCache: Sendable {
    struct Entry {
        let userid: String
        let passwordHash: String
        let verifiedAt: Double
    }

    /// Seconds a verification counts. Default: 300.
    public let lifetime: Double
    /// Entries kept at most. Default: 10,000.
    public let capacity: Int
    let key = SymmetricKey(size: .bits256)
    let entries = Mutex<[Data: Entry]>([:])

    public init(lifetime: Double = 300, capacity: Int = 10_000) {
        self.lifetime = lifetime
        self.capacity = capacity
    }

    func digest(_ username: String, _ password: String) -> Data {
        Data(HMAC<SHA256>.authenticationCode(for: Data("\(username):\(password)".utf8), using: key))
    }

    /// The user when these credentials were verified within ``lifetime`` against `user`'s current hash.
    public func lookup(username: String, password: String, user: User, now: Double) -> Bool {
        let digest = digest(username, password)
        return entries.withLock { entries in
            guard let entry = entries[digest] else { return false }
            guard entry.userid == user.userid, entry.passwordHash == user.passwordHash, now - entry.verifiedAt < lifetime else {
                entries[digest] = nil
                return false
            }
            return true
        }
    }

    /// Remembers credentials just verified with bcrypt against `user`'s hash.
    public func remember(username: String, password: String, user: User, now: Double) {
        let digest = digest(username, password)
        entries.withLock { entries in
            if entries.count >= capacity {
                // Drop the expired ones, then the oldest half if still full.
                entries = entries.filter { now - $0.value.verifiedAt < lifetime }
                if entries.count >= capacity {
                    let keep = entries.sorted { $0.value.verifiedAt > $1.value.verifiedAt }.prefix(capacity / 2)
                    entries = Dictionary(uniqueKeysWithValues: keep.map { ($0.key, $0.value) })
                }
            }
            entries[digest] = Entry(userid: user.userid, passwordHash: user.passwordHash, verifiedAt: now)
        }
    }
}

import Foundation
import LIMSCore
import TestSupport
import Testing
@testable import LimsAPI

/// HTTP Basic credentials verified once per lifetime, not per request; a password change drops them at once.
@Suite("Credential cache")
struct CredentialCacheTests {
    func user(hash: String) -> User {
        User(uid: String(repeating: "a", count: 32), id: "labman", path: "/acl_users/labman", created: 0, userid: "labman",
             passwordHash: hash, roles: [.labManager])
    }

    @Test func verifiedCredentialsCountUntilTheirLifetimeEnds() {
        let cache = CredentialCache(lifetime: 300)
        let labman = user(hash: "$2b$04$first")
        #expect(!cache.lookup(username: "labman", password: "secret", user: labman, now: 0))
        cache.remember(username: "labman", password: "secret", user: labman, now: 0)
        #expect(cache.lookup(username: "labman", password: "secret", user: labman, now: 299))
        #expect(!cache.lookup(username: "labman", password: "wrong", user: labman, now: 1))
        #expect(!cache.lookup(username: "labman", password: "secret", user: labman, now: 301))
    }

    @Test func aPasswordChangeDropsTheEntry() {
        let cache = CredentialCache()
        cache.remember(username: "labman", password: "secret", user: user(hash: "$2b$04$first"), now: 0)
        #expect(!cache.lookup(username: "labman", password: "secret", user: user(hash: "$2b$04$second"), now: 1))
        #expect(!cache.lookup(username: "labman", password: "secret", user: user(hash: "$2b$04$first"), now: 2))
    }

    @Test func aFullCacheKeepsItsNewestEntries() {
        let cache = CredentialCache(lifetime: 1_000, capacity: 10)
        let labman = user(hash: "$2b$04$first")
        for index in 0..<25 { cache.remember(username: "labman", password: "p\(index)", user: labman, now: Double(index)) }
        #expect(cache.lookup(username: "labman", password: "p24", user: labman, now: 30))
        #expect(!cache.lookup(username: "labman", password: "p0", user: labman, now: 30))
        #expect(cache.entries.withLock { $0.count } <= 10)
    }
}

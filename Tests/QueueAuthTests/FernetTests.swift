import Foundation
import QueueAuth
import TestSupport
import Testing

@Suite("Fernet and X-Queue-Auth-Token")
struct FernetTests {
    let key = Fernet.generateKey()
    let now = Date().timeIntervalSince1970

    @Test("round trip, and a user id containing ':' survives")
    func roundTrip() throws {
        let tokens = try QueueAuthToken(key: key)
        let token = try tokens.make(userID: "lab:manager:1", now: now)
        #expect(try tokens.verify(token, now: now) == "lab:manager:1")
        #expect(key.count == 44)
    }

    @Test("a token made by Python's cryptography.fernet is accepted")
    func pythonMadeAccepted() throws {
        let token = try Python.run("""
            import sys, time
            from cryptography.fernet import Fernet
            print(Fernet(sys.argv[1].encode()).encrypt(("%s:%s" % (time.time() + 10, "labman")).encode()).decode())
            """, [key])
        #expect(try QueueAuthToken(key: key).verify(token, now: Date().timeIntervalSince1970) == "labman")
    }

    @Test("our token is decrypted by Python's cryptography.fernet")
    func pythonDecryptsOurs() throws {
        let token = try QueueAuthToken(key: key).make(userID: "analyst:2", now: now)
        let plaintext = try Python.run("""
            import sys
            from cryptography.fernet import Fernet
            print(Fernet(sys.argv[1].encode()).decrypt(sys.argv[2].encode()).decode())
            """, [key, token])
        let parts = plaintext.split(separator: ":", maxSplits: 1)
        #expect(parts.count == 2)
        #expect(Double(parts[0]).map { abs($0 - (now + 10)) < 0.01 } == true)
        #expect(parts[1] == "analyst:2")
    }

    @Test("the Fernet specification's sample token decrypts")
    func specSample() throws {
        // From the Fernet spec's generate.json / verify.json test vector.
        let fernet = try Fernet(key: "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=")
        let token = "gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODy021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4IwqDA=="
        let (plaintext, timestamp) = try fernet.decrypt(token)
        #expect(String(decoding: plaintext, as: UTF8.self) == "hello")
        #expect(timestamp == 499_162_800)
    }

    @Test("expired, tampered, wrong-key, malformed and empty-user tokens are refused")
    func refusals() throws {
        let tokens = try QueueAuthToken(key: key)
        let expired = try tokens.make(userID: "u", now: now - 30)
        #expect(throws: QueueAuthToken.Refusal.expired) { try tokens.verify(expired, now: now) }

        let good = try tokens.make(userID: "u", now: now)
        var bytes = Array(Base64URL.decode(good)!)
        bytes[30] ^= 0x01
        #expect(throws: QueueAuthToken.Refusal.invalid) { try tokens.verify(Base64URL.encode(Data(bytes)), now: now) }

        let other = try QueueAuthToken(key: Fernet.generateKey())
        #expect(throws: QueueAuthToken.Refusal.invalid) { try other.verify(good, now: now) }
        #expect(throws: QueueAuthToken.Refusal.invalid) { try tokens.verify("not a token", now: now) }
        #expect(throws: QueueAuthToken.Refusal.invalid) { try tokens.verify("", now: now) }

        let fernet = try Fernet(key: key)
        let noUser = try fernet.encrypt(Data("\(now + 10):".utf8))
        #expect(throws: QueueAuthToken.Refusal.malformedPayload) { try tokens.verify(noUser, now: now) }
        let noExpiry = try fernet.encrypt(Data("soon:user".utf8))
        #expect(throws: QueueAuthToken.Refusal.malformedPayload) { try tokens.verify(noExpiry, now: now) }
    }

    @Test("the Fernet timestamp bounds a token to 60 s either way, whatever expiry it states")
    func timestampBounded() throws {
        let tokens = try QueueAuthToken(key: key), fernet = try Fernet(key: key)
        let forever = try fernet.encrypt(Data("1e300:u".utf8), timestamp: UInt64(now))
        let verified = try tokens.verifyWithExpiry(forever, now: now)
        #expect(verified.userID == "u" && verified.expiry == Double(UInt64(now)) + QueueAuthToken.maxTimestampSkew)
        #expect(throws: QueueAuthToken.Refusal.timestampOutOfRange) { try tokens.verify(forever, now: now + 61) }
        let ahead = try fernet.encrypt(Data("1e300:u".utf8), timestamp: UInt64(now + 61))
        #expect(throws: QueueAuthToken.Refusal.timestampOutOfRange) { try tokens.verify(ahead, now: now) }
        let stale = try fernet.encrypt(Data("\(now + 10):u".utf8), timestamp: UInt64(now - 61))
        #expect(throws: QueueAuthToken.Refusal.timestampOutOfRange) { try tokens.verify(stale, now: now) }
    }

    @Test("bad keys are refused")
    func badKeys() {
        #expect(throws: Fernet.Error.invalidKey) { try Fernet(key: "short") }
        #expect(throws: Fernet.Error.invalidKey) { try Fernet(key: Base64URL.encode(Data(repeating: 1, count: 16))) }
    }
}

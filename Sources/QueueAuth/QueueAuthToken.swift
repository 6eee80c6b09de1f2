import Foundation

/// The `X-Queue-Auth-Token` header of senaite.queue: a Fernet token of `"<expiry epoch float>:<user id>"`.
///
/// Source: senaite.queue `pasplugin.py`, reference 1.4. Unlike the original, user ids containing ':' survive
/// (everything after the first ':' is the user id; reference 4).
public struct QueueAuthToken: Sendable {
    /// Name of the HTTP header carrying the token.
    public static let headerName = "X-Queue-Auth-Token"

    /// The reserved user the consumers act as when they report on tasks (`done`, `fail`, `timeout`, `pop`);
    /// senaite.queue's consumer uses such a user too (reference 1.4). Default of ``Consumer/HTTPQueueConnection``.
    public static let consumerUserID = "queue_consumer"

    /// Seconds a token we make stays valid. Source: reference 1.4 (`time.time() + 10`). Default: 10 seconds.
    public static let defaultLifetime: Double = 10

    /// Why a token was refused.
    public enum Refusal: Error, Equatable, Sendable {
        /// Not a Fernet token of this key (malformed, tampered, or another key).
        case invalid
        /// The plaintext is not `"<expiry>:<user id>"` with a numeric expiry and a non-empty user id.
        case malformedPayload
        /// The expiry has passed.
        case expired
        /// The token was made more than ``maxTimestampSkew`` seconds ago or ahead of now, whatever expiry it states.
        case timestampOutOfRange
    }

    /// How far the Fernet timestamp of a token may lie from now, either way: 60 seconds. A token lives at most this
    /// long whatever expiry its plaintext states (senaite.queue's tokens state 10 s), and one stamped in the future
    /// beyond it is refused. Source: the Fernet specification's TTL and clock-skew check (github.com/fernet/spec,
    /// "Verifying"); issue 13, finding 4.
    public static let maxTimestampSkew: Double = 60

    private let fernet: Fernet

    /// - Parameter key: the auth key, 44 url-safe base64 characters of 32 bytes.
    /// - Throws: ``Fernet/Error/invalidKey``.
    public init(key: String) throws {
        self.fernet = try Fernet(key: key)
    }

    /// A token for `userID` valid until `now + lifetime` (epoch seconds).
    public func make(userID: String, now: Double, lifetime: Double = defaultLifetime) throws -> String {
        let payload = "\(now + lifetime):\(userID)"
        return try fernet.encrypt(Data(payload.utf8), timestamp: UInt64(max(now, 0)))
    }

    /// The user id of a valid, unexpired token.
    /// - Parameter now: epoch seconds.
    /// - Throws: ``Refusal``.
    public func verify(_ token: String, now: Double) throws -> String {
        try verifyWithExpiry(token, now: now).userID
    }

    /// The user id and expiry (epoch seconds) of a valid, unexpired token whose Fernet timestamp is within
    /// ``maxTimestampSkew`` of `now`. The expiry returned is the earlier of the stated one and the timestamp plus
    /// ``maxTimestampSkew``.
    /// - Throws: ``Refusal``.
    public func verifyWithExpiry(_ token: String, now: Double) throws -> (userID: String, expiry: Double) {
        let plaintext: Data, timestamp: Double
        do {
            let decrypted = try fernet.decrypt(token)
            plaintext = decrypted.plaintext
            timestamp = Double(decrypted.timestamp)
        } catch {
            throw Refusal.invalid
        }
        guard abs(now - timestamp) <= Self.maxTimestampSkew else { throw Refusal.timestampOutOfRange }
        guard let text = String(data: plaintext, encoding: .utf8),
              let colon = text.firstIndex(of: ":"),
              let expiry = Double(text[..<colon]), expiry.isFinite
        else { throw Refusal.malformedPayload }
        let userID = String(text[text.index(after: colon)...])
        guard !userID.isEmpty else { throw Refusal.malformedPayload }
        guard expiry >= now else { throw Refusal.expired }
        return (userID, min(expiry, timestamp + Self.maxTimestampSkew))
    }
}

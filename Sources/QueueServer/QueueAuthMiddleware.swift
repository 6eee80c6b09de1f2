import Foundation
import Synchronization
import HTTPTypes
import Hummingbird
import Logging
import QueueAuth
import QueueCore

/// Authenticates queue_server requests by their `X-Queue-Auth-Token` (reference 1.4): a missing, malformed,
/// tampered, wrong-key or expired token, or one for an unknown user, is answered 401 and the route never runs.
public struct QueueAuthMiddleware: RouterMiddleware {
    public typealias Context = QueueRequestContext

    let authenticator: QueueAuthenticator

    public init(authenticator: QueueAuthenticator) {
        self.authenticator = authenticator
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let token = request.headers[values: HTTPField.Name(QueueAuthToken.headerName)!].first, !token.isEmpty else {
            throw QueueAPIError(.unauthorized, "Missing \(QueueAuthToken.headerName) header")
        }
        guard let userID = await authenticator.authenticate(token: token) else {
            throw QueueAPIError(.unauthorized, "Invalid or expired \(QueueAuthToken.headerName)")
        }
        var context = context
        context.userID = userID
        context.logger[metadataKey: "lims.user"] = .string(userID)
        return try await next(request, context)
    }
}

/// Checks queue auth tokens against the current auth key and the user directory.
public struct QueueAuthenticator: Sendable {
    let key: @Sendable () async -> String
    let clock: any WallClock
    let userExists: @Sendable (String) async -> Bool

    /// - Parameters:
    ///   - key: the current auth key (read on each request, so that a regenerated key takes effect at once).
    ///   - clock: wall clock for the token's expiry.
    ///   - userExists: whether a user id may act (senaite.queue's PAS plugin requires an existing user).
    public init(key: @escaping @Sendable () async -> String, clock: any WallClock,
                userExists: @escaping @Sendable (String) async -> Bool) {
        self.key = key
        self.clock = clock
        self.userExists = userExists
    }

    /// The user id of a valid token, or nil. Tokens already verified under the current key are remembered
    /// until they expire (consumers reuse a token for a few seconds), so the Fernet work is done once.
    public func authenticate(token: String) async -> String? {
        let key = await key()
        let now = clock.now()
        if let known = cache.lookup(token: token, key: key, now: now) {
            return await userExists(known) ? known : nil
        }
        guard let verifier = try? QueueAuthToken(key: key),
              let verified = try? verifier.verifyWithExpiry(token, now: now),
              await userExists(verified.userID)
        else { return nil }
        cache.remember(token: token, key: key, userID: verified.userID, expiry: verified.expiry)
        return verified.userID
    }

    let cache = VerifiedTokenCache()
}

/// Tokens verified recently, by token text: user id, expiry (epoch seconds) and the key that verified them.
/// At most 4,096 entries; the whole cache is dropped when full.
final class VerifiedTokenCache: Sendable {
    private struct Entry {
        let userID: String
        let expiry: Double
        let key: String
    }

    private let entries = Mutex<[String: Entry]>([:])

    func lookup(token: String, key: String, now: Double) -> String? {
        entries.withLock { entries in
            guard let entry = entries[token], entry.key == key, entry.expiry >= now else { return nil }
            return entry.userID
        }
    }

    func remember(token: String, key: String, userID: String, expiry: Double) {
        entries.withLock { entries in
            if entries.count >= 4096 { entries.removeAll(keepingCapacity: true) }
            entries[token] = Entry(userID: userID, expiry: expiry, key: key)
        }
    }
}

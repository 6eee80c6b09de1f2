import Foundation
import HTTPTypes
import Hummingbird
import QueueCore
import QueueServer
import Synchronization

/// Slows password guessing without letting anyone lock other people out.
///
/// Failed logins (the `login` route, the login page and wrong HTTP Basic credentials) are counted over a sliding
/// window under two keys:
/// - the user name *and* the client address: once it reaches ``Policy/maxFailuresPerUser``, that user name is
///   refused from that address only (a guesser elsewhere never locks the user out where they log in);
/// - the client address, counting failures for user names that exist: once it reaches
///   ``Policy/maxFailuresPerAddress``, every attempt from that address is refused (password spraying over many
///   users from one place). Failures for names that do not exist never count here, so random names lock out
///   nobody.
/// While refused, every attempt (correct passwords too, so that a guesser learns nothing) is answered 429 with
/// `Retry-After` until the oldest counted failure leaves the window. A successful login clears the user's count
/// at that address (not the address's count).
///
/// Behind a reverse proxy the client address is the one the proxy forwards, read from `X-Forwarded-For` only when
/// the connection comes from a trusted proxy (``QueueServer/ClientAddressMiddleware``); otherwise every user
/// behind the proxy would share one address.
///
/// Counts live in memory (one server process); at most 10,000 keys are tracked, the stalest dropped first.
/// Source: OWASP Authentication Cheat Sheet, "Account lockout" (lock per account and source, beware of denial of
/// service); limits are this project's.
public final class LoginRateLimiter: Sendable {
    /// The limits.
    public struct Policy: Sendable, Equatable {
        /// Failures of one user name from one client address within the window before that user name is refused
        /// from that address. Default: 5.
        public var maxFailuresPerUser: Int
        /// Failures for existing user names from one client address within the window before that address is
        /// refused. Default: 20.
        public var maxFailuresPerAddress: Int
        /// Length of the sliding window, seconds. Default: 300 seconds.
        public var windowSeconds: Double

        public init(maxFailuresPerUser: Int = 5, maxFailuresPerAddress: Int = 20, windowSeconds: Double = 300) {
            self.maxFailuresPerUser = maxFailuresPerUser
            self.maxFailuresPerAddress = maxFailuresPerAddress
            self.windowSeconds = windowSeconds
        }
    }

    public let policy: Policy
    let clock: any WallClock
    private let failures = Mutex<[String: [Double]]>([:])
    static let maxKeys = 10_000

    /// - Parameters:
    ///   - policy: the limits. Default: 5 per user and 20 per address in 300 seconds.
    ///   - clock: wall clock (injected by tests).
    public init(policy: Policy = Policy(), clock: any WallClock = SystemWallClock()) {
        self.policy = policy
        self.clock = clock
    }

    /// The key of one user name at one address (nil: an unknown peer, counted together).
    static func pairKey(_ username: String, _ address: String?) -> String { "pair:" + (address ?? "-") + "|" + username.lowercased() }
    static func addressKey(_ address: String) -> String { "addr:" + address }

    /// Seconds to wait before `username` may try again from `address` (nil address: unknown peer), or nil when
    /// an attempt is allowed now.
    public func retryAfter(username: String, address: String?) -> Double? {
        let now = clock.now()
        var keys = [(Self.pairKey(username, address), policy.maxFailuresPerUser)]
        if let address { keys.append((Self.addressKey(address), policy.maxFailuresPerAddress)) }
        return failures.withLock { table -> Double? in
            var wait: Double?
            for (key, limit) in keys {
                let recent = (table[key] ?? []).filter { now - $0 < policy.windowSeconds }
                table[key] = recent.isEmpty ? nil : recent
                guard limit > 0, recent.count >= limit else { continue }
                // Allowed again once enough of the failures have left the window.
                let until = recent[recent.count - limit] + policy.windowSeconds
                wait = max(wait ?? 0, until - now)
            }
            return wait
        }
    }

    /// Counts a failed attempt for `username` from `address`; `knownUser` false (no such user) counts only
    /// towards that name at that address, never towards the address.
    public func recordFailure(username: String, address: String?, knownUser: Bool = true) {
        let now = clock.now()
        failures.withLock { table in
            if table.count >= Self.maxKeys {
                // Drop the keys whose latest failure is oldest.
                let stale = table.sorted { ($0.value.last ?? 0) < ($1.value.last ?? 0) }.prefix(Self.maxKeys / 10).map(\.key)
                for key in stale { table[key] = nil }
            }
            let cap = max(policy.maxFailuresPerUser, policy.maxFailuresPerAddress) + 1
            var keys = [Self.pairKey(username, address)]
            if knownUser, let address { keys.append(Self.addressKey(address)) }
            for key in keys {
                var list = table[key] ?? []
                list.append(now)
                if list.count > cap { list.removeFirst(list.count - cap) }
                table[key] = list
            }
        }
    }

    /// Clears the failures of `username` at `address` after a successful login.
    public func recordSuccess(username: String, address: String?) {
        _ = failures.withLock { $0.removeValue(forKey: Self.pairKey(username, address)) }
    }

    /// 429 for `username`/`address` when over the limit. - Throws: ``LoginRateLimitedError``.
    func check(username: String, address: String?) throws {
        if let wait = retryAfter(username: username, address: address) {
            throw LoginRateLimitedError(retryAfterSeconds: Int(wait.rounded(.up)))
        }
    }
}

/// 429 Too Many Requests with `Retry-After` (whole seconds) and the JSON error body
/// `{"success": false, "message": "Too Many Requests - ...", "status": 429}`.
public struct LoginRateLimitedError: Error, HTTPResponseError {
    /// Seconds the client should wait, at least 1.
    public let retryAfterSeconds: Int

    public init(retryAfterSeconds: Int) {
        self.retryAfterSeconds = max(1, retryAfterSeconds)
    }

    public var status: HTTPResponse.Status { .tooManyRequests }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = try QueueAPIError(.tooManyRequests, "Too many failed logins; try again in \(retryAfterSeconds) seconds")
            .response(from: request, context: context)
        response.headers[.retryAfter] = String(retryAfterSeconds)
        return response
    }
}

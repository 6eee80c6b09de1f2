import Foundation
import HTTPTypes
import Hummingbird
import QueueCore
import QueueServer
import Synchronization

/// Slows password guessing: failed logins (the `login` route and wrong HTTP Basic credentials) are counted per
/// user name and per client address over a sliding window; once either count reaches its limit, every password
/// attempt for that user or from that address is answered 429 with `Retry-After` until the oldest counted failure
/// leaves the window (correct passwords too, so that a guesser learns nothing while blocked). A successful login
/// clears the user's count (not the address's).
///
/// Counts live in memory (one server process); at most 10,000 keys are tracked, the stalest dropped first.
/// Source: OWASP authentication guidance (throttle per account and per source); limits are this project's.
public final class LoginRateLimiter: Sendable {
    /// The limits.
    public struct Policy: Sendable, Equatable {
        /// Failures per user name within the window before attempts are refused. Default: 5.
        public var maxFailuresPerUser: Int
        /// Failures per client address within the window before attempts are refused. Default: 20.
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

    static func userKey(_ username: String) -> String { "user:" + username.lowercased() }
    static func addressKey(_ address: String) -> String { "addr:" + address }

    /// Seconds to wait before `username` may try again from `address` (nil address: unknown peer, not counted),
    /// or nil when an attempt is allowed now.
    public func retryAfter(username: String, address: String?) -> Double? {
        let now = clock.now()
        var keys = [(Self.userKey(username), policy.maxFailuresPerUser)]
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

    /// Counts a failed attempt for `username` from `address`.
    public func recordFailure(username: String, address: String?) {
        let now = clock.now()
        failures.withLock { table in
            if table.count >= Self.maxKeys {
                // Drop the keys whose latest failure is oldest.
                let stale = table.sorted { ($0.value.last ?? 0) < ($1.value.last ?? 0) }.prefix(Self.maxKeys / 10).map(\.key)
                for key in stale { table[key] = nil }
            }
            let cap = max(policy.maxFailuresPerUser, policy.maxFailuresPerAddress) + 1
            for key in [Self.userKey(username)] + (address.map { [Self.addressKey($0)] } ?? []) {
                var list = table[key] ?? []
                list.append(now)
                if list.count > cap { list.removeFirst(list.count - cap) }
                table[key] = list
            }
        }
    }

    /// Clears the failures of `username` after a successful login.
    public func recordSuccess(username: String) {
        _ = failures.withLock { $0.removeValue(forKey: Self.userKey(username)) }
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

import Foundation
import HTTPTypes
import Hummingbird

/// Sets ``QueueRequestContext/remoteAddress`` to the client behind a trusted reverse proxy.
///
/// Only when the TCP peer is one of `trustedProxies` is `X-Forwarded-For` read: its addresses are walked from the
/// right (the one the nearest proxy added), skipping further trusted proxies, and the first other address is the
/// client. A request from any other peer keeps the peer's address, whatever it sends, so nobody can pick the
/// address the login limit counts against by writing a header. Exact addresses only (no ranges); an entry that
/// is not an IP address ends the walk.
///
/// Source: MDN `X-Forwarded-For` ("Selecting an IP address": rightmost untrusted address); issue 13, finding 2.
public struct ClientAddressMiddleware: RouterMiddleware {
    public typealias Context = QueueRequestContext

    /// The proxies whose `X-Forwarded-For` is believed (IPv4 or IPv6 addresses as the peer shows them).
    public let trustedProxies: Set<String>

    public init(trustedProxies: Set<String>) {
        self.trustedProxies = trustedProxies
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let peer = context.remoteAddress, trustedProxies.contains(peer) else { return try await next(request, context) }
        let forwarded = request.headers[values: .xForwardedFor].flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces) }
        var context = context
        context.remoteAddress = Self.client(forwarded: forwarded, peer: peer, trusted: trustedProxies)
        return try await next(request, context)
    }

    /// The client address of a request from trusted `peer` that forwarded `forwarded` (left to right).
    static func client(forwarded: [String], peer: String, trusted: Set<String>) -> String {
        var client = peer
        for entry in forwarded.reversed() {
            guard isAddress(entry) else { break }
            client = entry
            if !trusted.contains(entry) { break }
        }
        return client
    }

    /// True for text made only of what IPv4 and IPv6 addresses contain (hex digits, '.', ':'), 2-45 characters.
    static func isAddress(_ text: String) -> Bool {
        (2...45).contains(text.utf8.count) && text.utf8.allSatisfy { byte in
            (48...57).contains(byte) || (97...102).contains(byte) || (65...70).contains(byte) || byte == 46 || byte == 58
        }
    }
}

extension HTTPField.Name {
    /// `X-Forwarded-For`.
    static let xForwardedFor = HTTPField.Name("X-Forwarded-For")!
}

import Hummingbird
import NIOCore

/// The request context of the queue server: Hummingbird's core storage plus the user id the
/// `X-Queue-Auth-Token` authenticated (nil before ``QueueAuthMiddleware`` runs or on public routes).
public struct QueueRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Authenticated user id.
    public var userID: String?
    /// IP address of the client: the TCP connection's remote address, or behind a trusted reverse proxy the
    /// address it forwards (``ClientAddressMiddleware``); nil when unknown (e.g. in-process router tests). Used by
    /// the login rate limit.
    public var remoteAddress: String?
    /// The connection's channel, to find its ``ClientConnection`` (``ClientConnections/connection(for:)``).
    public var channelID: ObjectIdentifier?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.userID = nil
        self.remoteAddress = source.channel.remoteAddress?.ipAddress
        self.channelID = ObjectIdentifier(source.channel)
    }

    /// Largest accepted request body: 4 MiB. Larger bodies are answered 413 with a JSON error.
    public var maxUploadSize: Int { 4 * 1024 * 1024 }
}

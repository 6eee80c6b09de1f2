import Hummingbird

/// The request context of the queue server: Hummingbird's core storage plus the user id the
/// `X-Queue-Auth-Token` authenticated (nil before ``QueueAuthMiddleware`` runs or on public routes).
public struct QueueRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Authenticated user id.
    public var userID: String?

    public init(source: Source) {
        self.coreContext = .init(source: source)
        self.userID = nil
    }

    /// Largest accepted request body: 4 MiB. Larger bodies are answered 413 with a JSON error.
    public var maxUploadSize: Int { 4 * 1024 * 1024 }
}

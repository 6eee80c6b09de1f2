/// Whether and how the settings page may regenerate the queue auth key.
///
/// The key is read by the server and its consumers when they start, so a regenerated key takes effect after a
/// restart of every server and consumer; the page says so. Sessions signed with the old key end then too.
public enum AuthKeyControl: Sendable {
    /// Stores a new random key and returns it (32 url-safe base64 bytes).
    case available(regenerate: @Sendable () async throws -> String)
    /// Regeneration is not possible; the text says why (e.g. the key comes from `LIMSQUEUE_AUTH_KEY`).
    case unavailable(String)
}

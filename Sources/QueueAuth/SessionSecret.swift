import Crypto
import Foundation

/// The secret of a server-side session: 32 random bytes as 64 hex characters in the `__ac` cookie; the server
/// keeps only its SHA-256 (``id(of:)``), so a copy of the session table signs nobody in.
public enum SessionSecret {
    /// A new random secret: 64 lowercase hex characters (256 bits).
    public static func make() -> String {
        SymmetricKey(size: .bits256).withUnsafeBytes { bytes in bytes.map { String(format: "%02x", $0) }.joined() }
    }

    /// The stored id of `secret`: SHA-256, 64 lowercase hex characters.
    public static func id(of secret: String) -> String {
        SHA256.hash(data: Data(secret.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// True when `text` has the shape of a secret (64 lowercase hex characters).
    public static func isWellFormed(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }
}

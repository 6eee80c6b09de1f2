import Crypto
import CryptoExtras
import Foundation

/// Fernet symmetric tokens, per the Fernet specification (github.com/fernet/spec):
/// `base64url(0x80 ‖ timestamp (8 bytes, big-endian seconds) ‖ IV (16) ‖ AES-128-CBC/PKCS7 ciphertext ‖
/// HMAC-SHA256 (32) over everything before it)`. The 32-byte key is a 16-byte signing key followed by a
/// 16-byte encryption key, itself written as 44 url-safe base64 characters.
///
/// Interoperates with Python's `cryptography.fernet.Fernet` both ways.
public struct Fernet: Sendable {
    /// Why a key or token was refused.
    public enum Error: Swift.Error, Equatable, Sendable {
        /// The key is not 32 bytes of url-safe base64.
        case invalidKey
        /// The token is not url-safe base64, is too short, has the wrong version byte or a bad padding.
        case malformedToken
        /// The HMAC does not match: tampered, or made with another key.
        case invalidSignature
    }

    private let signingKey: SymmetricKey
    private let encryptionKey: SymmetricKey

    /// - Parameter key: 44 characters of url-safe base64 encoding 32 bytes.
    /// - Throws: ``Error/invalidKey``.
    public init(key: String) throws {
        guard let bytes = Base64URL.decode(key), bytes.count == 32 else { throw Error.invalidKey }
        self.signingKey = SymmetricKey(data: bytes.prefix(16))
        self.encryptionKey = SymmetricKey(data: bytes.suffix(16))
    }

    /// A new random key: 32 random bytes as 44 url-safe base64 characters (with padding).
    public static func generateKey() -> String {
        Base64URL.encode(SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) })
    }

    /// Encrypts `plaintext` into a token stamped with `timestamp` (epoch seconds).
    public func encrypt(_ plaintext: Data, timestamp: UInt64 = UInt64(Date().timeIntervalSince1970)) throws -> String {
        let iv = AES._CBC.IV()
        let ciphertext = try AES._CBC.encrypt(plaintext, using: encryptionKey, iv: iv)
        var token = Data(capacity: 57 + ciphertext.count)
        token.append(0x80)
        withUnsafeBytes(of: timestamp.bigEndian) { token.append(contentsOf: $0) }
        token.append(contentsOf: Array(iv))
        token.append(ciphertext)
        let mac = HMAC<SHA256>.authenticationCode(for: token, using: signingKey)
        token.append(contentsOf: mac)
        return Base64URL.encode(token)
    }

    /// Decrypts a token, checking its version and HMAC (in constant time). The embedded timestamp is not
    /// checked here (senaite.queue passes no TTL; expiry lives in the plaintext).
    /// - Returns: the plaintext and the token's timestamp (epoch seconds).
    /// - Throws: ``Error/malformedToken`` or ``Error/invalidSignature``.
    public func decrypt(_ token: String) throws -> (plaintext: Data, timestamp: UInt64) {
        guard let data = Base64URL.decode(token), data.count >= 1 + 8 + 16 + 16 + 32,
              data.first == 0x80, (data.count - 57) % 16 == 0
        else { throw Error.malformedToken }
        let bytes = [UInt8](data)
        let signed = bytes[0..<(bytes.count - 32)]
        let mac = bytes[(bytes.count - 32)...]
        guard HMAC<SHA256>.isValidAuthenticationCode(Array(mac), authenticating: Array(signed), using: signingKey) else {
            throw Error.invalidSignature
        }
        var timestamp: UInt64 = 0
        for byte in bytes[1..<9] { timestamp = (timestamp << 8) | UInt64(byte) }
        do {
            let iv = try AES._CBC.IV(ivBytes: bytes[9..<25])
            let plaintext = try AES._CBC.decrypt(bytes[25..<(bytes.count - 32)], using: encryptionKey, iv: iv)
            return (plaintext, timestamp)
        } catch {
            throw Error.malformedToken
        }
    }
}

/// URL-safe base64 with padding, as Python's `base64.urlsafe_b64encode` writes it.
public enum Base64URL {
    /// Encodes with `-` and `_` and `=` padding.
    public static func encode(_ data: Data) -> String {
        data.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
    }

    /// Decodes url-safe (or standard) base64, with or without padding. nil if malformed.
    public static func decode(_ text: String) -> Data? {
        var base64 = text.trimmingCharacters(in: .whitespacesAndNewlines)
            .replacingOccurrences(of: "-", with: "+")
            .replacingOccurrences(of: "_", with: "/")
        let remainder = base64.count % 4
        if remainder == 1 { return nil }
        if remainder > 0 { base64 += String(repeating: "=", count: 4 - remainder) }
        return Data(base64Encoded: base64)
    }
}

extension Fernet {
    /// A Fernet key derived from `key` for one `purpose` (HKDF-SHA256 over the 32 key bytes, the purpose as info),
    /// so that tokens made for one purpose (e.g. LIMS session cookies) are never valid for another (queue
    /// `X-Queue-Auth-Token`s) although both come from the one auth key.
    /// - Returns: 44 url-safe base64 characters of 32 bytes.
    /// - Throws: ``Error/invalidKey`` when `key` is not 32 bytes of url-safe base64.
    public static func derivedKey(from key: String, purpose: String) throws -> String {
        guard let bytes = Base64URL.decode(key), bytes.count == 32 else { throw Error.invalidKey }
        let derived = HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: bytes), info: Data(purpose.utf8),
                                             outputByteCount: 32)
        return Base64URL.encode(derived.withUnsafeBytes { Data($0) })
    }
}

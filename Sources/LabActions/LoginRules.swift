import QueueCore

/// What a login's user name and password must be, wherever a login is created or changed (the user accounts
/// routes, a contact linked to a new user, the web pages): written once here.
public enum LoginRules {
    /// Shortest password: 8 characters.
    public static let minPasswordLength = 8
    /// Longest password in UTF-8 bytes: 72 (bcrypt reads no further, so a longer one would be accepted by its
    /// first 72 bytes alone).
    public static let maxPasswordBytes = 72
    /// Longest user name: 64 characters.
    public static let maxUsernameLength = 64

    /// Why `username` cannot be a login, or nil. A user name is 1-64 characters without spaces, '/' (it is a path
    /// segment), ':' (HTTP Basic separates name and password with it, so such a user could never sign in), or
    /// control and invisible characters (``QueueCore/Unicode/Scalar/isInvisible``: a right-to-left override U+202E
    /// shows `admin\u{202E}txt` as another name in every list, a zero-width joiner makes two names that look alike).
    public static func usernameProblem(_ username: String) -> String? {
        if let hidden = username.unicodeScalars.first(where: \.isInvisible) {
            return "must not contain control or invisible characters (\(hidden.codePointName))"
        }
        guard !username.isEmpty, couldBeLogin(username), username.count <= maxUsernameLength,
              !username.contains(where: { $0.isWhitespace || $0 == "/" || $0 == ":" }) else {
            return "1-\(maxUsernameLength) characters without spaces, '/' or ':'"
        }
        return nil
    }

    /// Most UTF-8 bytes of a user name a login attempt is checked with: 1,024 (64 characters of up to 16 bytes each).
    public static let maxLoginUsernameBytes = 1_024

    /// Whether a login attempt's user name is worth looking up: at most ``maxLoginUsernameBytes`` bytes and in
    /// Unicode's stream-safe format (``QueueCore/Swift/String/isStreamSafe``). Checked before the name is hashed by
    /// the rate limiter or looked up: a tryout's 150 KB name of one letter and combining accents took 7.5 s of CPU
    /// (600 KB: 125 s) on the unauthenticated `login` route and in HTTP Basic credentials.
    public static func couldBeLogin(_ username: String) -> Bool {
        username.utf8.count <= maxLoginUsernameBytes && username.isStreamSafe
    }

    /// Why `password` cannot be a new password, or nil: 8 characters to 72 bytes, without NUL characters.
    public static func passwordProblem(_ password: String) -> String? {
        guard password.count >= minPasswordLength, password.utf8.count <= maxPasswordBytes else {
            return "\(minPasswordLength) characters to \(maxPasswordBytes) bytes"
        }
        guard couldBePassword(password) else { return "must not contain NUL characters" }
        return nil
    }

    /// Whether a login attempt's password is worth checking: it holds no NUL character. bcrypt reads a password as
    /// a C string, up to its first NUL, so `secret\0anything` matched the hash of `secret`: HTTP Basic and the web
    /// login form accepted it (a tryout).
    public static func couldBePassword(_ password: String) -> Bool {
        !password.utf8.contains(0)
    }

    /// Largest body the public login routes (the API's `login`, the web login form) read, bytes: 16 KiB, room for a
    /// user name and a password many times over. Read before anyone is authenticated, a 4 MB form of empty fields
    /// took 5.7 s to parse and stalled other requests (a tryout, debug build).
    public static let maxLoginBodyBytes = 16 * 1_024
}

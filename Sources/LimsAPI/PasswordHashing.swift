import LabActions
import HummingbirdBcrypt
import NIOPosix

/// bcrypt off the caller's executor.
///
/// One bcrypt at cost 10 takes 65-75 ms on the 2-core test machine (`limsqueue bench scale`, "link: of which
/// bcrypt of the new password"). Run inline, it held one of the two threads of Swift's cooperative pool for that
/// long, and every other request of the process waited behind it: a login, a password change or a contact linked
/// to a new user stalled half the server. Here it runs on NIO's shared blocking-work pool (`NIOThreadPool.singleton`),
/// and the calling task waits without holding a thread.
public enum PasswordHashing {
    /// The bcrypt hash of `password` at `cost` (a `$2b$` string of 60 characters).
    /// - Parameter cost: log2 of the rounds (4-31); the API uses ``LimsAPIController/bcryptCost``.
    public static func hash(_ password: String, cost: UInt8) async -> String {
        await offExecutor { Bcrypt.hash(password, cost: cost) }
    }

    /// Whether `password` matches the bcrypt `hash` (false for a malformed hash).
    public static func verify(_ password: String, hash: String) async -> Bool {
        // bcrypt stops at a NUL: `secret\0anything` would match the hash of `secret` (``LabActions/LoginRules/couldBePassword(_:)``).
        guard LoginRules.couldBePassword(password) else { return false }
        return await offExecutor { Bcrypt.verify(password, hash: hash) }
    }

    /// Runs `work` on the shared thread pool; inline when that pool is shutting down.
    static func offExecutor<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        if let result = try? await NIOThreadPool.singleton.runIfActive(work) { return result }
        return work()
    }
}

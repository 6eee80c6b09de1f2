import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive advisory lock on a file (`flock(2)`) around a piece of work: serializes that work across the
/// processes of one machine, such as the SQLite migrations of one data directory
/// (``StorageMigrations/migrate(_:on:logger:lockFile:)``). The kernel drops the lock if the process dies.
enum FileLock {
    /// Opens (creating when missing) and locks `path`, polling every 20 ms while another process holds it, runs
    /// `body`, then unlocks and closes the file, whether `body` threw or not.
    /// - Throws: ``StorageError/lockFile(_:)`` when the file cannot be opened, or is still locked after `seconds`;
    ///   what `body` throws.
    static func holding<T>(_ path: String, seconds: Double, _ body: () async throws -> T) async throws -> T {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw StorageError.lockFile("cannot open the lock file \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) } // closing the descriptor releases the lock
        let deadline = ContinuousClock.now + .seconds(seconds)
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR, ContinuousClock.now < deadline else {
                let reason = errno == EWOULDBLOCK ? "still held by another process after \(Int(seconds)) s" : String(cString: strerror(errno))
                throw StorageError.lockFile("cannot lock \(path): \(reason)")
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return try await body()
    }
}

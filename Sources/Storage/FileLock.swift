import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive advisory lock on a file (`flock(2)`), held until ``release()`` or the process's end (the kernel drops
/// it with the descriptor). Serializes work of several processes on one machine, such as the SQLite migrations of
/// one data directory (``StorageMigrations/migrate(_:on:logger:lockFile:)``).
struct FileLock: ~Copyable {
    private let descriptor: Int32

    /// Opens (creating when missing) and locks `path`, polling every 20 ms while another process holds it.
    /// - Throws: ``StorageError/lockFile(_:)`` when the file cannot be opened, or is still locked after `seconds`.
    static func acquire(_ path: String, seconds: Double) async throws -> FileLock {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw StorageError.lockFile("cannot open the lock file \(path): \(String(cString: strerror(errno)))")
        }
        let deadline = ContinuousClock.now + .seconds(seconds)
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR, ContinuousClock.now < deadline else {
                let reason = errno == EWOULDBLOCK ? "still held by another process after \(Int(seconds)) s" : String(cString: strerror(errno))
                close(descriptor)
                throw StorageError.lockFile("cannot lock \(path): \(reason)")
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return FileLock(descriptor: descriptor)
    }

    private init(descriptor: Int32) { self.descriptor = descriptor }

    /// Releases the lock and closes the file.
    consuming func release() {
        flock(descriptor, LOCK_UN)
        close(descriptor)
        discard self
    }

    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}

import Synchronization

/// Runs the units of work of one process that write the same object (a worksheet) one after the other, in arrival
/// order, instead of letting them collide.
///
/// Units of work are optimistic: two that write one worksheet at once both run, one commits and the other meets a
/// version conflict, waits a jittered backoff and runs again (``LIMSCore/LabRepository``). Fifty users on ten shared
/// worksheets made 215 such reruns in 500 requests (`limsqueue bench lims`, every conflict on a `Worksheet`), each
/// a whole unit of work plus its backoff. Inside one process a waiter costs nothing, so the actions of one worksheet
/// queue here; the compare-and-set versions still decide between processes (several `serve`s on PostgreSQL).
///
/// Waiters are not cancellable: a unit of work holds a key for milliseconds, and leaving the line early would
/// hand the key to nobody.
public final class KeyedSerializer: Sendable {
    /// Per held key, the waiters in arrival order. A key absent: free.
    private let waiters = Mutex<[String: [CheckedContinuation<Void, Never>]]>([:])

    public init() {}

    /// Runs `body` once every earlier caller with `key` in this process has finished.
    /// - Throws: what `body` throws.
    public func run<T: Sendable>(_ key: String, _ body: () async throws -> T) async throws -> T {
        await acquire(key)
        defer { release(key) }
        return try await body()
    }

    /// Runs `body` in the line of `key`, or at once when `key` is nil or empty (nothing to serialize on).
    /// - Throws: what `body` throws.
    public func run<T: Sendable>(ifAny key: String?, _ body: () async throws -> T) async throws -> T {
        guard let key, !key.isEmpty else { return try await body() }
        return try await run(key, body)
    }

    /// Number of keys held now (for tests and diagnostics).
    public var heldKeys: Int { waiters.withLock { $0.count } }

    private func acquire(_ key: String) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let free = waiters.withLock { table -> Bool in
                guard table[key] != nil else {
                    table[key] = []
                    return true
                }
                table[key]?.append(continuation)
                return false
            }
            if free { continuation.resume() }
        }
    }

    /// Hands `key` to its first waiter, or frees it.
    private func release(_ key: String) {
        let next = waiters.withLock { table -> CheckedContinuation<Void, Never>? in
            guard var line = table[key], !line.isEmpty else {
                table[key] = nil
                return nil
            }
            let first = line.removeFirst()
            table[key] = line
            return first
        }
        next?.resume()
    }
}

/// Results of an expensive read, shared by the requests that ask for the same key at about the same time: the
/// first request computes, the ones that arrive while it runs or within ``maxAge`` seconds after it started get
/// its result. A failed computation is not kept.
///
/// Used for `queue_statistics` and the web queue monitor, which aggregate an hour of history (100,000 attempts:
/// 0.3-0.6 s of database time): 50 lab managers' monitors polling at once ran it 50 times, one after the other, on
/// the queue's read connection (p50 16 s).
public actor RecentResults<Key: Hashable & Sendable, Value: Sendable> {
    /// How long a result is given out after its computation started, seconds.
    public let maxAge: Double
    private var entries: [Key: (started: Double, task: Task<Value, any Error>)] = [:]

    /// - Parameter maxAge: seconds a result is reused. Default: 2.
    public init(maxAge: Double = 2) {
        self.maxAge = maxAge
    }

    /// The result for `key`: the running or recent computation's, else `compute`'s (started now).
    /// - Parameter now: epoch seconds (the caller's clock).
    /// - Throws: what `compute` throws (to every request that shared it).
    public func value(for key: Key, now: Double, compute: @escaping @Sendable () async throws -> Value) async throws -> Value {
        if let entry = entries[key], now - entry.started < maxAge, now >= entry.started {
            return try await entry.task.value
        }
        entries = entries.filter { now - $0.value.started < maxAge }
        let task = Task { try await compute() }
        entries[key] = (now, task)
        do {
            return try await task.value
        } catch {
            if entries[key]?.started == now { entries[key] = nil }
            throw error
        }
    }
}

import QueueCore

/// Reads the queue's current chunk size setting (`default`) for a task run; nil → the task's own chunk size
/// alone governs. Handlers combine both with ``QueueCore/QueueTask/effectiveChunkSize(setting:)``.
public struct ChunkSizeSetting: Sendable {
    let read: (@Sendable () async throws -> Int)?

    /// - Parameter read: the current setting, read once per task run; nil to use the task's chunk size only.
    public init(_ read: (@Sendable () async throws -> Int)?) {
        self.read = read
    }

    /// The setting of `queue` (its `default` chunk size).
    public static func of(_ queue: any QueueStore) -> ChunkSizeSetting {
        ChunkSizeSetting { try await queue.settings().chunkSize }
    }

    /// The task's own chunk size only.
    public static let taskOnly = ChunkSizeSetting(nil)

    /// Objects one run of `task` processes (0: all of them). - Throws: the setting reader's errors.
    func chunkSize(for task: QueueTask) async throws -> Int {
        guard let read else { return max(task.chunkSize, 0) }
        return task.effectiveChunkSize(setting: try await read())
    }
}

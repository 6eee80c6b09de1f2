/// Whether the queue takes new work, finishes old work, or is off.
///
/// Source: senaite.queue `api.get_queue_status`, reference 0:
/// - `ready`: the chunk size setting (`default`) is > 0; user actions create tasks.
/// - `resuming`: the chunk size is <= 0 but queued or running tasks remain; they are processed, guards and
///   notices still honour them, new actions run synchronously.
/// - `disabled`: chunk size <= 0 and nothing left; everything runs synchronously.
///
/// (The original also reports `disabled` for an invalid server URL: here the queue lives in the database every
/// node shares, so the URL does not decide whether work can be queued.)
public enum QueueStatus: String, Sendable, Codable, CaseIterable {
    case ready
    case resuming
    case disabled

    /// The status for a chunk size setting and the number of queued plus running tasks.
    public init(chunkSize: Int, activeTasks: Int) {
        if chunkSize > 0 {
            self = .ready
        } else {
            self = activeTasks > 0 ? .resuming : .disabled
        }
    }

    /// True for `ready` and `resuming`: reads (guards, listings, notices) honour queued work.
    /// Source: `api.is_queue_enabled`.
    public var isEnabled: Bool { self != .disabled }

    /// True for `ready` only: new user actions are queued. Source: `api.is_queue_ready`.
    public var isReady: Bool { self == .ready }
}

extension QueueTask {
    /// How many objects one run of this task processes, given the current chunk size setting:
    /// - setting <= 0 (queue resuming or disabled): everything left, at once (reference 2, assign scenario 4);
    /// - else the smaller of the task's own chunk size and the setting: a lower setting takes effect on queued
    ///   work at once (reference 2, assign scenario 3), and a chunk size the task halved after a failure is kept
    ///   by its continuations even when the setting is higher (reference 5.4, senaite.queue #14).
    /// A task chunk size <= 0 means everything at once. Returns 0 for "everything".
    public func effectiveChunkSize(setting: Int) -> Int {
        guard setting > 0, chunkSize > 0 else { return 0 }
        return min(chunkSize, setting)
    }
}

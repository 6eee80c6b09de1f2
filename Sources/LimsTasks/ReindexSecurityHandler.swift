import Consumer
import Foundation
import LabActions
import LIMSCore
import QueueCore

/// `task_reindex_object_security`: re-indexes `allowedRolesAndUsers` of a client's whole subtree after a user was
/// linked to (or unlinked from) one of its contacts, chunk-size objects per task, in post order, ending with the
/// client itself; it never leaves the subtree and never loops (reference 1.13 and 4, bug reports #12 and #15).
///
/// The walk position travels in the task as `top_uid` plus `walk_last_uid`/`walk_offset`; each continuation is
/// queued after its chunk is indexed (re-indexing is idempotent, so a crash in between repeats a chunk at most).
public struct ReindexSecurityHandler: TaskHandler {
    public static let taskName = LimsTaskKind.reindexObjectSecurity
    public var name: String { Self.taskName }
    let repository: any LabRepository

    public init(repository: any LabRepository) {
        self.repository = repository
    }

    /// The first task of a walk over `client`'s subtree: priority 50, ghost, `top_uid` = the client.
    /// Source: senaite.queue `add_reindex_obj_security_task`, reference 1.13 (priority 50 since 1.0.3).
    public static func firstTask(for client: Client, username: String, chunkSize: Int, now: Double) -> QueueTask {
        QueueTask(name: taskName, contextUID: client.uid, contextPath: client.path, created: now, priority: 50,
                  chunkSize: max(1, chunkSize), username: username, ghost: true, topUID: client.uid)
    }

    public func process(_ task: QueueTask, context: TaskContext) async throws {
        let top = task.topUID ?? task.contextUID
        var cursor: SecurityWalkCursor?
        if let last = task.extra["walk_last_uid"]?.stringValue, let offset = task.extra["walk_offset"]?.intValue {
            cursor = SecurityWalkCursor(topUID: top, lastUID: last, offset: offset)
        }
        let chunk = try await SecurityWalk.chunk(from: top, cursor: cursor, size: max(1, task.chunkSize), tree: try repository.securityTree)
        guard !chunk.uids.isEmpty else { return } // the client is gone: nothing to index
        try await repository.reindexSecurity(chunk.uids)
        guard let next = chunk.cursor else { return }
        var continuation = task.continuation(uids: [])
        continuation.topUID = top
        continuation.extra["walk_last_uid"] = .string(next.lastUID)
        continuation.extra["walk_offset"] = .int(next.offset)
        let queued = continuation
        try await repository.perform(enqueuing: { _, _ in ((), [queued]) })
        context.logger.debug("security re-indexed", metadata: ["lims.count": .stringConvertible(chunk.uids.count)])
    }
}

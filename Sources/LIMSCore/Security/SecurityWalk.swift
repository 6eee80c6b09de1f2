/// The recursive security re-index walk over a client's subtree, whole or in chunks.
///
/// Order: post-order (every child's subtree before the node), children oldest first (by `created`, then id,
/// then uid), ending with the top node. The walk only descends from the top, tracks visited uids (so a
/// corrupt parent cycle cannot loop) and never leaves the subtree.
///
/// Source: senaite.queue `task_reindex_object_security` and its bugs (#12, #15; reference 1.13, 4, 5.2-5.3).
public enum SecurityWalk {
    /// Every uid of the subtree of `topUID` in post-order, ending with `topUID`. Empty if `topUID` is unknown.
    public static func order(from topUID: String, in state: LabState) -> [String] {
        guard state.object(topUID) != nil else { return [] }
        var children: [String: [any LabObject]] = [:]
        state.scope?.requireComplete("subtree:\(topUID)", what: "the subtree of \(topUID)")
        for object in state.loadedObjects {
            if let parent = object.parentUID { children[parent, default: []].append(object) }
        }
        for key in children.keys {
            children[key]?.sort { ($0.created, $0.id, $0.uid) < ($1.created, $1.id, $1.uid) }
        }
        var result: [String] = []
        var visited: Set<String> = [topUID]
        // Iterative post-order: (uid, index of the next child to visit).
        var stack: [(uid: String, next: Int)] = [(topUID, 0)]
        while let top = stack.last {
            let kids = children[top.uid] ?? []
            if top.next < kids.count {
                stack[stack.count - 1].next += 1
                let child = kids[top.next].uid
                if visited.insert(child).inserted { stack.append((child, 0)) }
            } else {
                result.append(top.uid)
                stack.removeLast()
            }
        }
        return result
    }

    /// The next chunk of the walk.
    ///
    /// Pass `cursor: nil` for the first chunk; pass the returned cursor for the next one; a nil cursor in the
    /// result means the walk is complete (the chunk ended with the top node). The walk is recomputed each time,
    /// and resumes after the cursor's last uid; if that object was deleted meanwhile it resumes one chunk before
    /// the cursor's offset (re-indexing is idempotent: repeating a few nodes is harmless, skipping is not).
    ///
    /// - Parameter size: objects per chunk, at least 1. senaite.queue's default: 10.
    public static func chunk(
        from topUID: String, cursor: SecurityWalkCursor?, size: Int, in state: LabState
    ) -> SecurityWalkChunk {
        let size = max(1, size)
        let order = order(from: topUID, in: state)
        var start = 0
        if let cursor {
            if let index = order.firstIndex(of: cursor.lastUID) {
                start = index + 1
            } else {
                start = max(0, min(order.count, cursor.offset) - size)
            }
        }
        let end = min(order.count, start + size)
        let uids = Array(order[start..<end])
        guard end < order.count, let last = uids.last else { return SecurityWalkChunk(uids: uids, cursor: nil) }
        return SecurityWalkChunk(uids: uids, cursor: SecurityWalkCursor(topUID: topUID, lastUID: last, offset: end))
    }
}

/// The post-order re-index list of the client `clientUID`'s subtree, ending with the client
/// (``SecurityWalk/order(from:in:)``).
public func securityReindexOrder(_ clientUID: String, _ state: LabState) -> [String] {
    SecurityWalk.order(from: clientUID, in: state)
}

/// Where a chunked security walk stands: the top node, the last uid processed and how many were processed.
public struct SecurityWalkCursor: Sendable, Codable, Equatable {
    public let topUID: String
    public let lastUID: String
    /// Number of nodes processed so far.
    public let offset: Int

    public init(topUID: String, lastUID: String, offset: Int) {
        self.topUID = topUID
        self.lastUID = lastUID
        self.offset = offset
    }
}

/// One chunk of a security walk and the cursor for the rest (nil when done).
public struct SecurityWalkChunk: Sendable, Equatable {
    public let uids: [String]
    public let cursor: SecurityWalkCursor?

    public init(uids: [String], cursor: SecurityWalkCursor?) {
        self.uids = uids
        self.cursor = cursor
    }
}

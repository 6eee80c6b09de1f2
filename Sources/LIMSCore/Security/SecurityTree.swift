/// The tree a security walk descends, read one step at a time (the storage layer answers each step with one
/// indexed query), so that a chunk of the walk costs the same whatever the size of the subtree.
///
/// Children are in walk order: oldest first, by `created`, then id, then uid (``SecurityWalk``).
public protocol SecurityTree: Sendable {
    /// The first child of `uid` in walk order, nil for a leaf.
    func firstChild(of uid: String) async throws -> String?
    /// The child of `parent` that follows `uid` in walk order, nil after the last one.
    func nextSibling(of uid: String, under parent: String) async throws -> String?
    /// The parent of `uid`; nil at the top of the tree or when `uid` does not exist.
    func parent(of uid: String) async throws -> String?
    /// True when an object with `uid` exists.
    func exists(_ uid: String) async throws -> Bool
}

extension SecurityWalk {
    /// The next chunk of the walk over `topUID`'s subtree, read step by step from `tree`: the same post-order as
    /// ``order(from:in:)`` (every child's subtree before the node, children oldest first, ending with the top), but
    /// each chunk reads only the nodes on its way, never the whole subtree.
    ///
    /// Resumes after the cursor's last uid. If that object was deleted meanwhile, the walk starts again from the
    /// beginning (re-indexing is idempotent: repeating nodes is harmless, skipping is not). The walk never climbs
    /// above `topUID` and gives up a branch deeper than 64 levels (a corrupt parent cycle).
    ///
    /// - Parameter size: objects per chunk, at least 1.
    /// - Returns: the chunk; its cursor is nil when the chunk ends with the top node. Empty when `topUID` does not
    ///   exist.
    public static func chunk(from topUID: String, cursor: SecurityWalkCursor?, size: Int,
                             tree: any SecurityTree) async throws -> SecurityWalkChunk {
        guard try await tree.exists(topUID) else { return SecurityWalkChunk(uids: [], cursor: nil) }
        let size = max(1, size)
        var offset = 0
        var node: String?
        if let cursor, cursor.lastUID != topUID, try await tree.exists(cursor.lastUID) {
            node = try await successor(of: cursor.lastUID, top: topUID, tree: tree)
            offset = cursor.offset
        } else {
            node = try await leftmostLeaf(topUID, tree: tree)
        }
        var uids: [String] = []
        var seen: Set<String> = []
        while let current = node, uids.count < size, seen.insert(current).inserted {
            uids.append(current)
            if current == topUID { return SecurityWalkChunk(uids: uids, cursor: nil) }
            node = try await successor(of: current, top: topUID, tree: tree)
        }
        guard let last = uids.last, node != nil else { return SecurityWalkChunk(uids: uids, cursor: nil) }
        return SecurityWalkChunk(uids: uids, cursor: SecurityWalkCursor(topUID: topUID, lastUID: last, offset: offset + uids.count))
    }

    /// The first node of `uid`'s subtree in post-order: down the first children to a leaf.
    static func leftmostLeaf(_ uid: String, tree: any SecurityTree) async throws -> String {
        var node = uid
        for _ in 0..<64 {
            guard let child = try await tree.firstChild(of: node) else { return node }
            node = child
        }
        return node
    }

    /// The node after `uid` in post-order: the first leaf of its next sibling's subtree, else its parent; nil after
    /// the top (or when `uid` lost its parent).
    static func successor(of uid: String, top: String, tree: any SecurityTree) async throws -> String? {
        guard uid != top, let parent = try await tree.parent(of: uid) else { return nil }
        if let sibling = try await tree.nextSibling(of: uid, under: parent) {
            return try await leftmostLeaf(sibling, tree: tree)
        }
        return parent
    }
}

import FluentKit
import Foundation
import LIMSCore
import SQLKit

extension SQLLabStore {
    /// Writes the changes of `state` (relative to `original`) with compare-and-set on every version.
    /// - Throws: ``ConflictError`` (attempts 1) when a version moved or a path or counter clashed.
    func save(_ state: LabState, original: LabState, loadedSeq: Int,
              afterSave: (@Sendable (any SQLDatabase, LabState) async throws -> Void)?) async throws {
        let saved = try await writer.write { sql -> (LabState, Int) in
            try await SQLQueueStore.inTransaction(sql, lock: .rows, immediate: sql.dialect.name == "sqlite") { sql in
                let seq = try await Self.nextSequence(on: sql)
                var next = state
                try await Self.writeObjects(of: state, original: original, seq: seq, into: &next, on: sql)
                let touched = Array(state.changes.created) + Array(state.changes.changed)
                try await Self.writeSecurity(of: touched, in: next, on: sql)
                for uid in state.changes.deleted {
                    try await sql.raw("DELETE FROM lims_security WHERE uid = \(bind: uid)").run()
                }
                next.clearChanges()
                if let afterSave { try await afterSave(sql, next) }
                return (next, seq)
            }
        }
        // Keep the cache only if nobody else wrote between our load and our save.
        cache.withLock { $0 = saved.1 == loadedSeq + 1 ? (saved.0, saved.1) : nil }
    }

    /// The next LIMS sequence number (this transaction's stamp).
    static func nextSequence(on sql: any SQLDatabase) async throws -> Int {
        guard let row = try await sql.raw("""
            UPDATE queue_state SET counter = counter + 1 WHERE id = \(bind: sequenceRow) RETURNING counter
            """).first() else { throw StorageError.corruptRow("queue_state row 3 is missing: run limsqueue migrate") }
        return try row.decode(column: "counter", as: Int.self)
    }

    static func writeObjects(of state: LabState, original: LabState, seq: Int, into next: inout LabState,
                             on sql: any SQLDatabase) async throws {
        var conflicts: [String] = []
        for uid in state.changes.created.sorted() {
            guard var object = state.object(uid) else { continue }
            object.version = 1
            let inserted = try await sql.raw("""
                INSERT INTO lims_objects (uid, portal_type, path, parent_uid, review_state, version, seq, created, body)
                VALUES (\(bind: uid), \(bind: type(of: object).portalType.rawValue), \(bind: object.path), \(bind: object.parentUID),
                        \(bind: object.workflowState), 1, \(bind: seq), \(bind: object.created), \(bind: try LabObjectCoding.encode(object)))
                ON CONFLICT DO NOTHING
                RETURNING uid
                """).first()
            if inserted == nil { conflicts.append(uid) } else { next.load(object) }
        }
        for uid in state.changes.changed.sorted() {
            guard var object = state.object(uid) else { continue }
            let loadedVersion = original.object(uid)?.version ?? object.version
            object.version = loadedVersion + 1
            let updated = try await sql.raw("""
                UPDATE lims_objects SET body = \(bind: try LabObjectCoding.encode(object)), version = version + 1,
                    seq = \(bind: seq), review_state = \(bind: object.workflowState), path = \(bind: object.path)
                WHERE uid = \(bind: uid) AND version = \(bind: loadedVersion)
                RETURNING version
                """).first()
            if updated == nil { conflicts.append(uid) } else { next.load(object) }
        }
        for uid in state.changes.deleted.sorted() {
            let loadedVersion = original.object(uid)?.version ?? 0
            let deleted = try await sql.raw("""
                DELETE FROM lims_objects WHERE uid = \(bind: uid) AND version = \(bind: loadedVersion) RETURNING uid
                """).first()
            if deleted == nil { conflicts.append(uid); continue }
            try await sql.raw("""
                INSERT INTO lims_deletions (uid, seq) VALUES (\(bind: uid), \(bind: seq))
                ON CONFLICT (uid) DO UPDATE SET seq = excluded.seq
                """).run()
        }
        for key in state.changes.counters.sorted() {
            let value = state.counters[key] ?? 0
            let loaded = original.counters[key]
            let row: (any SQLRow)?
            if let loaded {
                row = try await sql.raw("""
                    UPDATE lims_counters SET value = \(bind: value) WHERE key = \(bind: key) AND value = \(bind: loaded) RETURNING key
                    """).first()
            } else {
                row = try await sql.raw("""
                    INSERT INTO lims_counters (key, value) VALUES (\(bind: key), \(bind: value)) ON CONFLICT DO NOTHING RETURNING key
                    """).first()
            }
            if row == nil { conflicts.append("counter:\(key)") }
        }
        // An analysis change also claims its sample and worksheet (their versions move even when their own
        // fields do not), so two units of work on one worksheet or sample are serialized and every derived state
        // (worksheet and sample auto-transitions) is computed from current data. ZODB would let two concurrent
        // submits on one worksheet both leave it open.
        // A change that moves no review state and no membership (a result entered) leaves them alone, so
        // analysts entering results on one worksheet do not collide.
        var containers: Set<String> = []
        for uid in state.changes.created.union(state.changes.changed).union(state.changes.deleted) {
            let before = original.analysisRecord(uid), after = state.analysisRecord(uid)
            if let before, let after, before.reviewState == after.reviewState,
               before.worksheetUID == after.worksheetUID, before.sampleUID == after.sampleUID { continue }
            for record in [after, before].compactMap({ $0 }) {
                if let sample = record.sampleUID { containers.insert(sample) }
                if let worksheet = record.worksheetUID { containers.insert(worksheet) }
            }
        }
        let written = state.changes.created.union(state.changes.changed).union(state.changes.deleted)
        for uid in containers.subtracting(written).sorted() {
            guard var object = original.object(uid) else { continue }
            let touched = try await sql.raw("""
                UPDATE lims_objects SET version = version + 1, seq = \(bind: seq)
                WHERE uid = \(bind: uid) AND version = \(bind: object.version)
                RETURNING version
                """).first()
            if touched == nil {
                conflicts.append(uid)
            } else if state.object(uid) != nil {
                object = state.object(uid)!
                object.version += 1
                next.load(object)
            }
        }
        if !conflicts.isEmpty { throw ConflictError(uids: conflicts, attempts: 1) }
    }

    /// Replaces the `allowedRolesAndUsers` rows of `uids` with what `state` computes for them.
    static func writeSecurity(of uids: [String], in state: LabState, on sql: any SQLDatabase) async throws {
        for uid in uids {
            try await sql.raw("DELETE FROM lims_security WHERE uid = \(bind: uid)").run()
            guard state.object(uid) != nil else { continue }
            let tokens = state.allowedRolesAndUsers(of: uid).sorted()
            guard !tokens.isEmpty else { continue }
            let rows = tokens.map { SQLGroupExpression([SQLBind(uid), SQLBind($0)]) }
            try await sql.raw("INSERT INTO lims_security (uid, token) VALUES \(SQLList(rows))").run()
        }
    }
}

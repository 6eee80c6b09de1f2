import FluentKit
import Foundation
import LIMSCore
import PostgresStatements
import QueueCore
import SQLKit

extension SQLLabStore {
    /// Writes the changes of `state` with compare-and-set on every version, the catalog columns and security
    /// tokens of what changed, and bumps the setup sequence when a setup object changed.
    ///
    /// `original` is the lab as the unit of work read it: for a working set its ``LIMSCore/ReadScope``'s
    /// originals (counters are reserved, never written here); for a whole lab the loaded state (counters
    /// compare-and-set).
    /// - Throws: ``ConflictError`` (attempts 1) when a version moved or a path or counter clashed, or when the
    ///   database ended the transaction as colliding with a concurrent one (PostgreSQL's deadlock detection:
    ///   ``QueueCore/StorageCondition/conflict``), so the unit of work's retry loop runs it again.
    /// `settings`, when given, are the lab settings the unit of work changed; they are written in the same
    /// transaction.
    func save(_ state: LabState, original: LabState, settings: LabSettings? = nil,
              afterSave: (@Sendable (any SQLDatabase, LabState) async throws -> Void)?) async throws {
        // What does not depend on the transaction is computed before it, outside the transaction (on SQLite the
        // process's single writer: every write of the process waits while the writer works).
        let prepared = try PreparedObjects(state, original: original)
        let touched = Self.securityRewrites(of: state, original: original, settingsChanged: settings != nil)
        let tokens = Self.securityRows(of: touched, in: state)
        let search = SearchRewrite(state, original: original)
        let setupChanged = Self.changesSetup(state, original: original)
        try Self.checkScope(state) // the security tokens read the objects' ancestors too
        do {
            try await saveTransaction(state, original: original, settings: settings, setupChanged: setupChanged,
                                      prepared: prepared, touched: touched, tokens: tokens, search: search, afterSave: afterSave)
            for row in prepared.created + prepared.changed { LabObjectCache.shared.remember(written: row.object, body: row.body) }
            // A setup change of this request is read back by its next step (the cache reloads).
            if settings != nil || setupChanged { Self.recheckSetup() }
        } catch let failure as any StorageFailure where failure.storageCondition == .conflict {
            logger.notice("transaction collided, retrying", metadata: ["lims.database": .string(failure.storageMessage)])
            throw ConflictError(uids: [], attempts: 1)
        }
    }

    /// ``save(_:original:settings:afterSave:)``'s transaction.
    private func saveTransaction(_ state: LabState, original: LabState, settings: LabSettings?, setupChanged: Bool,
                                 prepared: PreparedObjects, touched: [String], tokens: [(uid: String, token: String)],
                                 search: SearchRewrite, afterSave: (@Sendable (any SQLDatabase, LabState) async throws -> Void)?) async throws {
        let single = afterSave == nil && settings == nil && !setupChanged && touched.isEmpty && search.uids.isEmpty
            && Self.isSingleRowSave(state, original: original, prepared: prepared)
        try await writeTransaction { sql in
            if single, SQLQueueStore.isPostgres(sql) {
                // One row written, nothing else (a result entered): its compare-and-set statement alone, in autocommit
                // with the stamp drawn inside it, is atomic; BEGIN, nextval and COMMIT were three round trips of the
                // four (`bench lims`, 50 users on PostgreSQL).
                var next = state
                try await Self.writeObjects(of: state, original: original, prepared: prepared, seq: Self.postgresStamp,
                                            into: &next, on: sql)
                return
            }
            try await SQLQueueStore.inTransaction(sql, lock: .rows, immediate: sql.dialect.name == "sqlite") { sql in
                // PostgreSQL draws each row's stamp in its statement (one round trip less); SQLite's comes from the
                // counter row, written under the single writer's lock.
                let seq: any SQLExpression = SQLQueueStore.isPostgres(sql)
                    ? Self.postgresStamp : SQLBind(try await Self.nextSequence(on: sql))
                var next = state
                try await Self.writeObjects(of: state, original: original, prepared: prepared, seq: seq, into: &next, on: sql)
                try await Self.writeSecurity(tokens, replacing: touched, in: state, on: sql)
                for uid in state.changes.deleted {
                    try await sql.raw("DELETE FROM lims_security WHERE uid = \(bind: uid)").run()
                }
                if !search.uids.isEmpty || !state.changes.deleted.isEmpty {
                    try await SQLSearchIndex.write(search.rows, replacing: search.uids, created: state.changes.created,
                                                   deleted: state.changes.deleted, on: sql)
                }
                if let settings {
                    let text = String(decoding: try JSONEncoder().encode(settings), as: UTF8.self)
                    try await sql.raw("""
                        INSERT INTO lims_settings (key, value) VALUES ('lab', \(bind: text))
                        ON CONFLICT (key) DO UPDATE SET value = excluded.value
                        """).run()
                }
                if setupChanged || settings != nil { try await Self.bumpSetupSequence(on: sql) }
                next.clearChanges()
                if let afterSave { try await afterSave(sql, next) }
            }
        }
    }

    /// Whether a save creates, changes or deletes a setup object (``setupTypes``; a deleted object of unknown type
    /// counts).
    static func changesSetup(_ state: LabState, original: LabState) -> Bool {
        let setupTypes = Set(Self.setupTypes)
        return state.changes.created.union(state.changes.changed).contains { uid in
            state.peekObject(uid).map { setupTypes.contains(type(of: $0).portalType) } ?? false
        } || state.changes.deleted.contains { uid in
            Self.originalObject(uid, in: original).map { setupTypes.contains(type(of: $0).portalType) } ?? true
        }
    }

    /// Runs `body` (one write transaction of a unit of work) on a connection of its own: SQLite's single writer
    /// (the process's one write connection; adds and claims share it), or on PostgreSQL a connection of the lab
    /// readers' pools, taken in turn, so lab writes run side by side. Their compare-and-set versions keep them
    /// apart: a row another open transaction changed is waited for, then found moved (a conflict; the unit of work
    /// runs again), and a deadlock between two of them is a ``QueueCore/StorageCondition/conflict`` retried the same way.
    /// Rows are written in uid order, which keeps deadlocks rare. Queue claims stay on the writer.
    /// - Throws: `body`'s errors; the database's (a statement that runs past ``DatabaseWriter/statementTimeoutSeconds``).
    func writeTransaction<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        let reader = nextReader
        guard SQLQueueStore.isPostgres(try reader.sqlDatabase()) else { return try await writer.write(body) }
        do {
            let result = try await reader.withConnection { connection in
                try await body(BoundedSQLDatabase(base: try connection.sqlDatabase(), seconds: DatabaseWriter.statementTimeoutSeconds))
            }
            writer.fullDisk.written()
            return result
        } catch {
            // A full disk seen by a lab write holds claims back as one seen by the writer does (``FullDiskGate``).
            writer.fullDisk.note(error)
            throw error
        }
    }

    /// The object as the unit of work read it: its working set's original, else (whole lab) the loaded state's.
    static func originalObject(_ uid: String, in original: LabState) -> (any LabObject)? {
        if let scope = original.scope { return scope.original(uid) }
        return original.peekObject(uid)
    }

    /// Bumps the setup sequence (`queue_state` row 4): every process reloads its setup cache.
    static func bumpSetupSequence(on sql: any SQLDatabase) async throws {
        try await sql.raw("UPDATE queue_state SET counter = counter + 1 WHERE id = \(bind: setupSequenceRow)").run()
    }

    /// The next LIMS sequence number (this transaction's stamp): PostgreSQL's `lims_sequence` (no lock held to the
    /// commit, so lab writes overlap: ``AddLabSequence``), SQLite's `queue_state` row 3 (one writer anyway).
    /// - Throws: ``StorageError/corruptRow(_:)`` when neither exists (an unmigrated database); the database's errors.
    static func nextSequence(on sql: any SQLDatabase) async throws -> Int {
        if SQLQueueStore.isPostgres(sql) {
            guard let row = try await sql.raw("SELECT nextval('lims_sequence') AS counter").first() else {
                throw StorageError.corruptRow("lims_sequence gave no number: run limsqueue migrate")
            }
            return try row.decode(column: "counter", as: Int.self)
        }
        guard let row = try await sql.raw("""
            UPDATE queue_state SET counter = counter + 1 WHERE id = \(bind: sequenceRow) RETURNING counter
            """).first() else { throw StorageError.corruptRow("queue_state row 3 is missing: run limsqueue migrate") }
        return try row.decode(column: "counter", as: Int.self)
    }

    /// The search index rows a save writes (``SQLSearchIndex``): the objects whose rows are replaced, and their rows.
    struct SearchRewrite: Sendable {
        var uids: [String]
        var rows: [SQLSearchIndex.Row]

        init(_ state: LabState, original: LabState) {
            uids = SQLSearchIndex.rewrites(of: state, original: original)
            rows = uids.flatMap { uid in state.peekObject(uid).map(SQLSearchIndex.rows(of:)) ?? [] }
        }
    }

    /// The objects a save writes, as they will be stored: versions set, bodies encoded, catalog columns computed.
    struct PreparedObjects: Sendable {
        struct Row: Sendable {
            var object: any LabObject
            /// The stored body (``LabObjectCoding/encode(_:)``), with ``object``'s version.
            var body: String
            var columns: CatalogColumns
            /// The version the unit of work read (changed objects; 0 for new ones): the compare-and-set's.
            var loadedVersion: Int
        }

        /// New objects, in uid order, at version 1.
        var created: [Row] = []
        /// Changed objects, in uid order, at their loaded version + 1.
        var changed: [Row] = []

        /// - Throws: encoding errors.
        init(_ state: LabState, original: LabState) throws {
            for uid in state.changes.created.sorted() {
                guard var object = state.peekObject(uid) else { continue }
                object.version = 1
                created.append(Row(object: object, body: try LabObjectCoding.encode(object), columns: CatalogColumns(object), loadedVersion: 0))
            }
            for uid in state.changes.changed.sorted() {
                guard var object = state.peekObject(uid) else { continue }
                let loadedVersion = originalObject(uid, in: original)?.version ?? object.version
                object.version = loadedVersion + 1
                changed.append(Row(object: object, body: try LabObjectCoding.encode(object), columns: CatalogColumns(object),
                                   loadedVersion: loadedVersion))
            }
        }
    }

    /// New objects per multi-row INSERT (16 values each: 3,200 parameters, within both databases' limits).
    static let insertRowsPerStatement = 200

    /// New objects per array insert on PostgreSQL (``insertStatement(_:seq:on:)``; no bind limit, this bounds the
    /// message's size).
    static let insertRowsPerArrayStatement = 2_000

    /// The insert of new objects `rows` (their catalog columns beside their bodies), answering the uids inserted (a
    /// uid already stored is left out: a conflict). SQLite gets a multi-row `VALUES` list (16 binds a row). PostgreSQL
    /// gets each column of all the rows as one array, unnested into rows (14 binds whatever the number of rows, so
    /// the statement is prepared once): with a bind per value, `limsqueue demo samples` spent 13 % of its CPU
    /// converting and numbering 52,000 binds per batch of 500 samples in PostgresKit and SQLKit (`perf`), and the
    /// server parsed 3,200 placeholders per statement.
    static func insertStatement(_ rows: ArraySlice<PreparedObjects.Row>, seq: any SQLExpression, on sql: any SQLDatabase) -> SQLQueryString {
        let columns = """
            uid, portal_type, path, parent_uid, review_state, version, seq, created, body,
            object_id, client_uid, sample_uid, worksheet_uid, service_uid, lookup_key, sort_key
            """
        guard SQLQueueStore.isPostgres(sql) else {
            let values = SQLList(rows.map { row -> any SQLExpression in
                let object = row.object, c = row.columns
                return SQLGroupExpression([
                    SQLBind(object.uid), SQLBind(type(of: object).portalType.rawValue), SQLBind(object.path), SQLBind(object.parentUID),
                    SQLBind(object.workflowState), SQLBind(1), seq, SQLBind(object.created), SQLBind(row.body),
                    SQLBind(c.objectID), SQLBind(c.clientUID), SQLBind(c.sampleUID), SQLBind(c.worksheetUID), SQLBind(c.serviceUID),
                    SQLBind(c.lookupKey), SQLBind(c.sortKey),
                ] as [any SQLExpression])
            })
            return "INSERT INTO lims_objects (\(unsafeRaw: columns)) VALUES \(values) ON CONFLICT DO NOTHING RETURNING uid"
        }
        func text(_ value: (PreparedObjects.Row) -> String) -> SQLBind { SQLBind(rows.map(value)) }
        func nullable(_ value: (PreparedObjects.Row) -> String?) -> SQLBind { SQLBind(PostgresTextArray(rows.map(value))) }
        return """
            INSERT INTO lims_objects (\(unsafeRaw: columns))
            SELECT r.uid, r.portal_type, r.path, r.parent_uid, r.review_state, 1, \(seq), r.created, r.body,
                   r.object_id, r.client_uid, r.sample_uid, r.worksheet_uid, r.service_uid, r.lookup_key, r.sort_key
            FROM unnest(\(text { $0.object.uid })::text[], \(text { type(of: $0.object).portalType.rawValue })::text[],
                        \(text { $0.object.path })::text[], \(nullable { $0.object.parentUID })::text[],
                        \(nullable { $0.object.workflowState })::text[], \(SQLBind(rows.map(\.object.created)))::float8[],
                        \(text { $0.body })::text[], \(text { $0.columns.objectID })::text[],
                        \(nullable { $0.columns.clientUID })::text[], \(nullable { $0.columns.sampleUID })::text[],
                        \(nullable { $0.columns.worksheetUID })::text[], \(nullable { $0.columns.serviceUID })::text[],
                        \(nullable { $0.columns.lookupKey })::text[], \(nullable { $0.columns.sortKey })::text[])
                AS r(uid, portal_type, path, parent_uid, review_state, created, body,
                     object_id, client_uid, sample_uid, worksheet_uid, service_uid, lookup_key, sort_key)
            ON CONFLICT DO NOTHING
            RETURNING uid
            """
    }

    /// PostgreSQL's stamp of a written row, drawn in the statement that writes it (``AddLabSequence``).
    static let postgresStamp = SQLRaw("nextval('lims_sequence')")

    /// Whether a save writes exactly one row with one statement: one object created or changed, nothing deleted,
    /// no counter written, no container or claimed object moved. The caller checks setup objects (their change
    /// also bumps the setup sequence), security rows, settings and `afterSave`.
    static func isSingleRowSave(_ state: LabState, original: LabState, prepared: PreparedObjects) -> Bool {
        guard prepared.created.count + prepared.changed.count == 1, state.changes.deleted.isEmpty,
              state.isPartial || state.changes.counters.isEmpty else { return false }
        let written = state.changes.created.union(state.changes.changed)
        return containers(of: state, original: original).subtracting(written).isEmpty
    }

    /// The objects a save moves besides those it writes: an analysis change also claims its sample and worksheet
    /// (their versions move even when their own fields do not), so two units of work on one worksheet or sample
    /// are serialized and every derived state (worksheet and sample auto-transitions) is computed from current
    /// data. ZODB would let two concurrent submits on one worksheet both leave it open. A change that moves no
    /// review state and no membership (a result entered) leaves them alone, so analysts entering results on one
    /// worksheet do not collide. Claimed objects (read, unchanged, relied on: ``LabState/claim(_:)``) move the same
    /// way.
    static func containers(of state: LabState, original: LabState) -> Set<String> {
        var containers: Set<String> = []
        for uid in state.changes.created.union(state.changes.changed).union(state.changes.deleted) {
            let before = originalObject(uid, in: original) as? any AnalysisRecord
            let after = state.peekObject(uid) as? any AnalysisRecord
            if let before, let after, before.reviewState == after.reviewState,
               before.worksheetUID == after.worksheetUID, before.sampleUID == after.sampleUID { continue }
            for record in [after, before].compactMap({ $0 }) {
                if let sample = record.sampleUID { containers.insert(sample) }
                if let worksheet = record.worksheetUID { containers.insert(worksheet) }
            }
        }
        return containers.union(state.changes.claimed)
    }

    /// Writes the objects of a save with compare-and-set versions; `seq` is the stamp every written row gets (a
    /// bound number, or on PostgreSQL `nextval('lims_sequence')` drawn in the statement).
    /// - Throws: ``ConflictError`` naming every object whose version moved.
    static func writeObjects(of state: LabState, original: LabState, prepared: PreparedObjects, seq: any SQLExpression,
                             into next: inout LabState, on sql: any SQLDatabase) async throws {
        var conflicts: [String] = []
        // New objects: a few statements per batch whatever its size (``insertStatement(_:seq:on:)``).
        let created = prepared.created
        let perStatement = SQLQueueStore.isPostgres(sql) ? Self.insertRowsPerArrayStatement : Self.insertRowsPerStatement
        var start = 0
        while start < created.count {
            let slice = created[start..<min(created.count, start + perStatement)]
            start += perStatement
            let inserted = Set(try await sql.raw(Self.insertStatement(slice, seq: seq, on: sql)).all()
                .map { try $0.decode(column: "uid", as: String.self) })
            for row in slice {
                if inserted.contains(row.object.uid) { next.load(row.object) } else { conflicts.append(row.object.uid) }
            }
        }
        // Changed objects: compare-and-set updates, one statement per 100 (a join with a VALUES list whose columns
        // are column1...column13 on both databases; each row one primary-key seek).
        for start in stride(from: 0, to: prepared.changed.count, by: 100) {
            let slice = prepared.changed[start..<min(start + 100, prepared.changed.count)]
            let rows = SQLList(slice.map { row -> any SQLExpression in
                let object = row.object, c = row.columns
                return SQLGroupExpression([
                    SQLBind(object.uid), SQLBind(row.loadedVersion), SQLBind(row.body), SQLBind(object.workflowState),
                    SQLBind(object.path), SQLBind(c.objectID), SQLBind(c.clientUID), SQLBind(c.sampleUID), SQLBind(c.worksheetUID),
                    SQLBind(c.serviceUID), SQLBind(c.lookupKey), SQLBind(c.sortKey), seq,
                ] as [any SQLExpression])
            })
            let updated = Set(try await sql.raw("""
                UPDATE lims_objects SET version = lims_objects.version + 1, body = v.column3, review_state = v.column4,
                    path = v.column5, object_id = v.column6, client_uid = v.column7, sample_uid = v.column8,
                    worksheet_uid = v.column9, service_uid = v.column10, lookup_key = v.column11, sort_key = v.column12,
                    seq = v.column13
                FROM (VALUES \(rows)) AS v
                WHERE lims_objects.uid = v.column1 AND lims_objects.version = v.column2
                RETURNING lims_objects.uid
                """).all().map { try $0.decode(column: "uid", as: String.self) })
            for row in slice {
                if updated.contains(row.object.uid) { next.load(row.object) } else { conflicts.append(row.object.uid) }
            }
        }
        for uid in state.changes.deleted.sorted() {
            let loadedVersion = originalObject(uid, in: original)?.version ?? 0
            let deleted = try await sql.raw("""
                DELETE FROM lims_objects WHERE uid = \(bind: uid) AND version = \(bind: loadedVersion) RETURNING uid
                """).first()
            if deleted == nil { conflicts.append(uid); continue }
            try await sql.raw("""
                INSERT INTO lims_deletions (uid, seq) VALUES (\(bind: uid), \(seq))
                ON CONFLICT (uid) DO UPDATE SET seq = excluded.seq
                """).run()
        }
        // A working set's counters were reserved atomically before it ran; only a whole lab writes its counters.
        for key in state.changes.counters.sorted() where !state.isPartial {
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
        let containers = containers(of: state, original: original)
        let written = state.changes.created.union(state.changes.changed).union(state.changes.deleted)
        var expected: [(uid: String, version: Int)] = []
        for uid in containers.subtracting(written).sorted() {
            guard let object = originalObject(uid, in: original) else {
                // Not read by this unit of work (cannot happen for the closure's containers): bump it anyway so
                // that units of work that did read it conflict.
                try await sql.raw("UPDATE lims_objects SET version = version + 1, seq = \(seq) WHERE uid = \(bind: uid)").run()
                continue
            }
            expected.append((uid, object.version))
        }
        // Compare-and-set of many versions in one statement per 400 (a queued assignment of 500 analyses claims them all).
        for start in stride(from: 0, to: expected.count, by: 400) {
            let slice = expected[start..<min(start + 400, expected.count)]
            let pairs = SQLList(slice.map { SQLGroupExpression([SQLBind($0.uid), SQLBind($0.version)] as [any SQLExpression]) })
            // A join with the VALUES list (its columns are column1, column2 on both databases): each row is one
            // primary-key seek, where `(uid, version) IN (VALUES ...)` made SQLite scan the table.
            let moved = Set(try await sql.raw("""
                UPDATE lims_objects SET version = lims_objects.version + 1, seq = \(seq)
                FROM (VALUES \(pairs)) AS expected
                WHERE lims_objects.uid = expected.column1 AND lims_objects.version = expected.column2
                RETURNING lims_objects.uid
                """).all().map { try $0.decode(column: "uid", as: String.self) })
            for (uid, _) in slice {
                guard moved.contains(uid) else { conflicts.append(uid); continue }
                if var current = state.peekObject(uid) {
                    current.version += 1
                    next.load(current)
                }
            }
        }
        if !conflicts.isEmpty { throw ConflictError(uids: conflicts, attempts: 1) }
    }

    /// Replaces the stored `allowedRolesAndUsers` rows of `uids` with what `state` computes for them (one delete and
    /// multi-row inserts of 400 rows; on PostgreSQL one insert of arrays per 10,000 rows).
    ///
    /// Only the `user:<id>` tokens are stored (``storedToken(_:)``): the role part of the index is the role map's
    /// View roles, the same on every object, and listings apply it from the role map (``catalogFilter(_:user:roles:)``).
    /// Stored per object it was 7 of the 8-9 rows of every object, written twice (table and token index) on every
    /// write of the object.
    static func writeSecurity(of uids: [String], in state: LabState, on sql: any SQLDatabase) async throws {
        try await writeSecurity(securityRows(of: uids, in: state), replacing: uids, in: state, on: sql)
    }

    /// The objects of a save whose stored `allowedRolesAndUsers` rows are written again: every new object, and the
    /// changed ones whose rows may differ from the stored ones. An object's rows are its client's user tokens
    /// (``LIMSCore/LabState/userTokens(of:)``: the client's local roles), so they change only when a client changes
    /// (every changed object is rewritten then, as when the settings change) or when the object moves to another
    /// parent. A result entered, a transition or an assignment rewrites no rows: two statements fewer per save on
    /// the single writer. (A client's new local roles reach the rest of its subtree through the security walk.)
    static func securityRewrites(of state: LabState, original: LabState, settingsChanged: Bool) -> [String] {
        let changed = Array(state.changes.changed)
        let clientChanged = state.changes.created.union(state.changes.changed).contains { state.clients.peek($0) != nil }
        let moved = (settingsChanged || clientChanged) ? changed : changed.filter { uid in
            state.peekObject(uid)?.parentUID != originalObject(uid, in: original)?.parentUID
        }
        return Array(state.changes.created) + moved
    }

    /// The stored `allowedRolesAndUsers` rows (uid, token) of `uids` as `state` computes them (``storedToken(_:)``).
    /// Only the client's user tokens are stored (``LIMSCore/LabState/userTokens(of:)``), computed once per client.
    static func securityRows(of uids: [String], in state: LabState) -> [(uid: String, token: String)] {
        var rows: [(uid: String, token: String)] = []
        var tokensOfClient: [String: [String]] = [:]
        for uid in uids where state.peekObject(uid) != nil {
            guard let client = state.client(containing: uid) else { continue }
            let tokens = tokensOfClient[client.uid] ?? state.userTokens(of: client)
            tokensOfClient[client.uid] = tokens
            for token in tokens where storedToken(token) { rows.append((uid, token)) }
        }
        return rows
    }

    /// Replaces the stored rows of `uids` (those `state` did not create) with `tokens` (``securityRows(of:in:)``).
    static func writeSecurity(_ tokens: [(uid: String, token: String)], replacing uids: [String], in state: LabState,
                              on sql: any SQLDatabase) async throws {
        let existing = uids.filter { state.changes.created.contains($0) == false }
        var start = 0
        while start < existing.count {
            let slice = existing[start..<min(existing.count, start + 500)]
            start += 500
            try await sql.raw("DELETE FROM lims_security WHERE uid IN (\(SQLList(slice.map { SQLBind($0) })))").run()
        }
        // PostgreSQL: the rows as two arrays (two binds whatever their number, as ``insertStatement(_:seq:on:)``).
        let postgres = SQLQueueStore.isPostgres(sql)
        let perStatement = postgres ? 10_000 : 400
        start = 0
        while start < tokens.count {
            let slice = tokens[start..<min(tokens.count, start + perStatement)]
            start += perStatement
            if postgres {
                try await sql.raw("""
                    INSERT INTO lims_security (uid, token)
                    SELECT * FROM unnest(\(SQLBind(slice.map(\.uid)))::text[], \(SQLBind(slice.map(\.token)))::text[])
                    """).run()
            } else {
                let rows = slice.map { SQLGroupExpression([SQLBind($0.uid), SQLBind($0.token)] as [any SQLExpression]) }
                try await sql.raw("INSERT INTO lims_security (uid, token) VALUES \(SQLList(rows))").run()
            }
        }
    }

    /// Whether `token` of an object's `allowedRolesAndUsers` is stored in `lims_security`: the `user:<id>` tokens of
    /// local roles; never a role name (the role map's View roles hold on every object alike).
    static func storedToken(_ token: String) -> Bool { token.hasPrefix(userTokenPrefix) }

    /// The prefix of the per-user tokens of `allowedRolesAndUsers` (Plone's `user:<id>`).
    static let userTokenPrefix = "user:"
}

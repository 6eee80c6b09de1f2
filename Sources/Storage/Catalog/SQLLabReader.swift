import Foundation
import LIMSCore
import PostgresStatements
import SQLKit
import Synchronization

/// The ``LIMSCore/LabReader`` of ``SQLLabStore``: loads a unit of work's working set by uid and by catalog
/// query, a few statements per call whatever the lab's size.
struct SQLLabReader: LabReader {
    let sql: any SQLDatabase
    /// The store that reserves id numbers.
    let store: SQLLabStore
    /// Numbers reserved by earlier runs of the same unit of work (a run discarded for a conflict or a counter it
    /// lacked never used them): a new run takes them again instead of leaving them as gaps. Default: none.
    var kept: KeptReservations? = nil

    func reserve(_ key: String, count: Int, into state: inout LabState) async throws {
        guard count > 0, state.scope != nil else { return }
        let range: ClosedRange<Int>
        if let earlier = kept?.range(key), earlier.count >= count {
            range = earlier.lowerBound...(earlier.lowerBound + count - 1)
        } else {
            range = try await store.reserve(key, count: count)
            kept?.keep(key, range)
        }
        state.takeReserved(key, range)
    }

    /// Columns every object read selects.
    static let columns = "uid, portal_type, version, body"

    /// Decodes rows of ``columns`` into `state`; returns the objects.
    @discardableResult
    static func put(_ rows: [any SQLRow], into state: inout LabState) throws -> [any LabObject] {
        var objects: [any LabObject] = []
        objects.reserveCapacity(rows.count)
        for row in rows {
            let object = try LabObjectCache.shared.object(uid: try row.decode(column: "uid", as: String.self),
                                                          body: try row.decode(column: "body", as: String.self),
                                                          portalType: try row.decode(column: "portal_type", as: String.self),
                                                          version: try row.decode(column: "version", as: Int.self))
            // An object this unit of work already holds keeps its (possibly changed) value.
            if state.peekObject(object.uid) == nil { state.load(object) }
            objects.append(object)
        }
        return objects
    }

    /// Most values of one slice of ``rows(in:_:on:)``.
    static let sliceSize = 512

    /// Longest list that ``rows(in:_:on:)`` binds one value at a time on PostgreSQL; longer ones are one array bind
    /// (``SQLUIDSet``). SQLite always gets one bind per value.
    static let arrayThreshold = 8

    /// Runs `query` for each slice of at most ``sliceSize`` `values` (bind limits) and returns every row.
    ///
    /// `query` writes the set it is given as the right-hand side of a membership test (`uid \($0)`, see
    /// ``SQLUIDSet``), so it must treat it as a set. A slice of at most ``arrayThreshold`` values on PostgreSQL, and
    /// every slice on SQLite, is padded to the next power of two by repeating its last value, so a statement comes in
    /// at most 10 texts whatever the lists' lengths; a longer slice on PostgreSQL is one array bind, one text
    /// whatever its length. Every statement runs prepared on PostgreSQL (``PreparedStatementRegistry/withMarker``,
    /// which this adds in front). With the lists' exact lengths every length was another statement, parsed and
    /// planned at each call: planning a 40-60 uid list took PostgreSQL about 1 ms against 0.01 ms of execution
    /// (`pg_stat_statements` over `limsqueue bench lims`). Every such statement here finds its rows through
    /// indexes on the listed columns, so its generic plan is the fresh one.
    static func rows(in values: [String], _ query: (SQLUIDSet) -> SQLQueryString, on sql: any SQLDatabase) async throws -> [any SQLRow] {
        var result: [any SQLRow] = []
        var start = 0
        let postgres = SQLQueueStore.isPostgres(sql)
        while start < values.count {
            let slice = Array(values[start..<min(values.count, start + sliceSize)])
            let set: SQLUIDSet
            if postgres && slice.count > arrayThreshold {
                set = SQLUIDSet(slice, asArray: true)
            } else {
                set = SQLUIDSet(slice + Array(repeating: slice.last!, count: paddedCount(slice.count) - slice.count), asArray: false)
            }
            result += try await sql.raw("\(unsafeRaw: PreparedStatementRegistry.withMarker) \(query(set))").all()
            start += sliceSize
        }
        return result
    }

    /// The smallest power of two at least `count` (1 for 0).
    static func paddedCount(_ count: Int) -> Int {
        var padded = 1
        while padded < count { padded *= 2 }
        return padded
    }

    /// Levels of ancestors ``load(_:into:)`` reads above each object (a lab's deepest chain, analysis → sample →
    /// client, has 2).
    static let ancestorLevels = 4

    func load(_ uids: [String], into state: inout LabState) async throws {
        let missing = Array(Set(uids.filter { !$0.isEmpty && state.peekObject($0) == nil }))
        state.scope?.declare(uids)
        guard !missing.isEmpty else { return }
        // The objects and their ancestors up to the client (permissions and visibility read them) in one statement:
        // a recursive walk up `parent_uid`, one primary-key seek per level. Level by level it was a round trip per
        // level (three for a result entered). Prepared on PostgreSQL (``rows(in:_:on:)``): every step is a
        // primary-key seek, so its generic plan is the fresh one (`EXPLAIN ANALYZE` under `force_generic_plan` at
        // 130,000 objects), and planning it afresh cost PostgreSQL more than running it (`pg_stat_statements` over
        // `limsqueue bench lims`: 0.28 ms of planning per call against 0.26 ms of execution, half of all planning).
        let rows = try await Self.rows(in: missing, { Self.walkStatement($0, on: sql) }, on: sql)
        let objects = try Self.put(rows, into: &state)
        // Every object read is known, and so is every parent within reach that does not exist (a dangling
        // `parent_uid`): reading it is "no such object", not a read outside the working set.
        var reached: Set<String> = []
        var withinReach: [any LabObject] = []
        for (object, row) in zip(objects, rows) {
            reached.insert(object.uid)
            if try row.decode(column: "depth", as: Int.self) < Self.ancestorLevels { withinReach.append(object) }
        }
        state.scope?.declare(reached)
        state.scope?.declare(Set(withinReach.compactMap(\.parentUID)).filter { !$0.isEmpty && !reached.contains($0) })
    }

    /// The statement of ``load(_:into:)``: the objects of `set` and their ancestors up to ``ancestorLevels`` levels
    /// (a recursive walk up `parent_uid`, one primary-key seek per object and level), each once with the fewest
    /// levels it was reached at (`depth`), with ``columns``.
    ///
    /// Each step seeks the parents by primary key whatever the planner estimates: a parent is a correlated scalar
    /// subquery of the step (a walk that reaches no parent, or a dangling or empty `parent_uid`, gives a NULL or empty
    /// uid that the next step and `reached` leave out), and on PostgreSQL the objects reached are read from an
    /// array of their uids. Written as joins, PostgreSQL's planner guessed 200 objects reached (its default for a
    /// grouped CTE) and 200 a step, and on a lab of up to a few thousand samples read the whole table with
    /// sequential scans and hash joins instead: 3-14 ms a load of 8-64 uids at 13,000 objects against about 1 ms,
    /// in custom and generic plans alike (`EXPLAIN ANALYZE`; `pg_stat_statements` of the web samples list;
    /// ``LabReadPlanTests``). SQLite's plan seeks by key either way (`EXPLAIN QUERY PLAN`).
    static func walkStatement(_ set: SQLUIDSet, on sql: any SQLDatabase) -> SQLQueryString {
        let byKey = SQLQueueStore.isPostgres(sql) ? " WHERE o.uid = ANY (ARRAY(SELECT uid FROM reached))" : ""
        return """
            WITH RECURSIVE chain(uid, depth) AS (
                SELECT uid, 0 FROM lims_objects WHERE uid \(set)
                UNION
                SELECT (SELECT p.parent_uid FROM lims_objects p WHERE p.uid = chain.uid), chain.depth + 1 FROM chain
                WHERE chain.uid IS NOT NULL AND chain.uid <> '' AND chain.depth < \(unsafeRaw: String(Self.ancestorLevels))
            ),
            reached AS (SELECT uid, MIN(depth) AS depth FROM chain WHERE uid IS NOT NULL AND uid <> '' GROUP BY uid)
            SELECT o.uid, o.portal_type, o.version, o.body, reached.depth
            FROM reached JOIN lims_objects o ON o.uid = reached.uid\(unsafeRaw: byKey)
            """
    }

    /// Reads the objects with `uids` into `state`.
    func fetch(_ uids: [String], into state: inout LabState) async throws -> [any LabObject] {
        let rows = try await Self.rows(in: uids, { "SELECT \(unsafeRaw: Self.columns) FROM lims_objects WHERE uid \($0)" }, on: sql)
        return try Self.put(rows, into: &state)
    }

    func loadChildren(of parentUIDs: [String], into state: inout LabState) async throws {
        let parents = Array(Set(parentUIDs.filter { !$0.isEmpty && !(state.scope?.isComplete("children:\($0)") ?? false) }))
        guard !parents.isEmpty else { return }
        // The children and the duplicates of the parents' analyses (their parent is a worksheet) in one statement:
        // two index scans joined by OR, one round trip instead of two.
        let children = try await Self.rows(in: parents, {
            """
            SELECT \(unsafeRaw: Self.columns) FROM lims_objects
            WHERE parent_uid \($0) OR (sample_uid \($0) AND portal_type = 'DuplicateAnalysis')
            """
        }, on: sql)
        try Self.put(children, into: &state)
        state.scope?.declare(parents)
        for parent in parents {
            state.scope?.declareComplete("children:\(parent)")
            state.scope?.declareComplete("duplicates:\(parent)")
        }
    }

    func loadClosure(of uids: [String], into state: inout LabState) async throws {
        try await load(uids, into: &state)
        var worksheets: Set<String> = [], samples: Set<String> = []
        func note(_ uid: String, in state: LabState) {
            switch state.peekObject(uid) {
            case let record as any AnalysisRecord:
                if let sample = record.sampleUID { samples.insert(sample) }
                if let worksheet = record.worksheetUID { worksheets.insert(worksheet) }
                if let duplicate = record as? DuplicateAnalysis { worksheets.insert(duplicate.containerWorksheetUID) }
            case let worksheet as Worksheet: worksheets.insert(worksheet.uid)
            case let sample as Sample: samples.insert(sample.uid)
            default: break
            }
        }
        for uid in uids { note(uid, in: state) }
        // The reference samples of the reference analyses asked for, with their analyses: a retracted blank or
        // control gets its retest id among them (WorkflowEngine.createRetest). Their number grows with the
        // reference sample's use, not with the lab.
        let referenceSamples = Set(uids.compactMap { (state.peekObject($0) as? ReferenceAnalysis)?.referenceSampleUID })
        if !referenceSamples.isEmpty {
            try await load(Array(referenceSamples), into: &state)
            try await loadChildren(of: Array(referenceSamples), into: &state)
        }
        // The worksheets reached, and every analysis on them.
        try await load(Array(worksheets), into: &state)
        let onWorksheets = try await Self.rows(in: Array(worksheets), {
            "SELECT \(unsafeRaw: Self.columns) FROM lims_objects WHERE worksheet_uid \($0)"
        }, on: sql)
        for object in try Self.put(onWorksheets, into: &state) { note(object.uid, in: state) }
        for worksheet in worksheets {
            for row in state.worksheets.peek(worksheet)?.layout ?? [] { note(row.analysisUID, in: state) }
        }
        try await loadChildren(of: Array(worksheets), into: &state)
        // Every sample reached, with its analyses and duplicates, and their clients.
        try await load(Array(samples), into: &state)
        try await loadChildren(of: Array(samples), into: &state)
        try await loadAncestors(into: &state)
    }

    /// Loads the parents of every loaded object not yet loaded (clients of samples and contacts), up the tree.
    func loadAncestors(into state: inout LabState) async throws {
        let parents = Set(state.loadedObjects.compactMap(\.parentUID)).filter { state.peekObject($0) == nil && !(state.scope?.knows($0) ?? false) }
        try await load(Array(parents), into: &state)
    }

    func loadTemplateCandidates(_ templateUID: String, for worksheetUID: String, excludingQueued: Bool,
                                into state: inout LabState) async throws {
        defer { state.scope?.declareComplete("candidates:\(templateUID)") }
        guard let template = state.worksheetTemplates.peek(templateUID) else { return }
        let services = template.serviceUIDs.filter { uid in
            guard let service = state.analysisServices.peek(uid) else { return false }
            if let instrument = template.instrumentUID, !service.instrumentUIDs.contains(instrument) { return false }
            if let method = template.restrictToMethodUID, !service.methodUIDs.contains(method) { return false }
            return true
        }
        guard !services.isEmpty else { return }
        let slots = template.layout.filter { $0.type == .routine }.count
        let limit = slots
        guard limit > 0 else { return }
        // Analyses of queued or running tasks are left out here, in the probe, so that a long queue (a large
        // assignment waiting) does not make the pick read more samples.
        let notQueued: SQLQueryString = excludingQueued ? """
             AND NOT EXISTS (SELECT 1 FROM queue_task_uids q JOIN queue_tasks t ON t.task_uid = q.task_uid
                             WHERE q.uid = a.uid AND t.status IN ('queued', 'running'))
             AND NOT EXISTS (SELECT 1 FROM queue_tasks t WHERE t.context_uid = a.uid AND t.status IN ('queued', 'running'))
            """ : ""
        let serviceList = SQLList(services.map { SQLBind($0) })
        // The pick index in order, one probe of the sample index per sample passed, stopping at `limit`: the work
        // test is a scalar subquery with LIMIT, which the planner never turns into a join. Written as EXISTS,
        // PostgreSQL planned it as a hash of every unassigned analysis of the services whenever the statistics of
        // `lims_objects` were missing or stale, as after a bulk load (0.3-0.5 s at 20,000 samples, growing with
        // the lab).
        let rows = try await sql.raw("""
            SELECT \(unsafeRaw: Self.columns) FROM lims_objects s
            WHERE s.portal_type = 'AnalysisRequest' AND s.sort_key IS NOT NULL
              AND (SELECT 1 FROM lims_objects a
                   WHERE a.sample_uid = s.uid AND a.portal_type = 'Analysis' AND a.review_state = 'unassigned'
                     AND a.worksheet_uid IS NULL AND a.service_uid IN (\(serviceList))\(notQueued)
                   LIMIT 1) IS NOT NULL
            ORDER BY s.sort_key
            LIMIT \(bind: limit)
            """).all()
        let samples = try Self.put(rows, into: &state).map(\.uid)
        try await loadChildren(of: samples, into: &state)
        try await loadAncestors(into: &state)
    }

    func loadSubtree(of uid: String, into state: inout LabState) async throws {
        try await load([uid], into: &state)
        guard let top = state.peekObject(uid) else { return }
        let prefix = top.path + "/"
        // Every path below `prefix`: the byte range [prefix, prefix with its last byte '/' raised to '0').
        let upper = top.path + "0"
        let rows = try await sql.raw("""
            SELECT \(unsafeRaw: Self.columns) FROM lims_objects WHERE path >= \(bind: prefix) AND path < \(bind: upper)
            """).all()
        let objects = try Self.put(rows, into: &state)
        for object in objects { state.scope?.declareComplete("children:\(object.uid)") }
        state.scope?.declareComplete("children:\(uid)")
        state.scope?.declareComplete("subtree:\(uid)")
    }
}

/// Id numbers a unit of work reserved through ``SQLLabReader/reserve(_:count:into:)``, kept across its runs (see
/// ``SQLLabReader/kept``).
final class KeptReservations: Sendable {
    private let ranges = Mutex<[String: ClosedRange<Int>]>([:])

    /// The range reserved earlier for `key`, if any.
    func range(_ key: String) -> ClosedRange<Int>? { ranges.withLock { $0[key] } }

    /// Remembers `range` as reserved for `key`.
    func keep(_ key: String, _ range: ClosedRange<Int>) { ranges.withLock { $0[key] = range } }
}

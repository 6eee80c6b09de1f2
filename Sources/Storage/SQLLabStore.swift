import FluentKit
import Foundation
import LIMSCore
import Logging
import QueueCore
import SQLKit
import Synchronization

/// The LIMS objects on any SQL database FluentKit drives, with a catalog and ZODB-like conflict control.
///
/// A unit of work (``perform(maxRetries:_:afterSave:)``) runs on a working set: a partial ``LIMSCore/LabState``
/// holding the lab's setup objects (from a per-process cache) and what the body loads through its
/// ``LIMSCore/LabReader`` (by uid and catalog query: a worksheet and its analyses, their samples, ...). The body
/// applies pure `LIMSCore` rules to that set; its changes are written in one transaction on the process's single
/// writer (shared with the queue store, so tasks are enqueued in the same transaction). Every object row carries
/// a version; a write over a version someone else changed since the unit of work read it fails, and the unit of
/// work runs again with fresh reads of its own working set, up to `maxRetries` times, then fails with
/// ``ConflictError``. A read outside the working set fails the unit of work (``LIMSCore/LabError/Code/outsideWorkingSet``).
///
/// Id counters are reserved atomically outside the unit of work's transaction (gaps are possible, as with any
/// database sequence), so two unrelated writes never conflict over an id.
///
/// Setup objects (users, services, templates, ...) are cached per process and reloaded when the setup sequence
/// (`queue_state` row 4, bumped by every write of a setup object, by any process) moves.
public final class SQLLabStore: Sendable {
    /// The reader connections (pools of one), taken in turn by ``sql`` unless ``threadBoundReaders`` are given.
    let readers: [any Database]
    /// SQLite: reader connections that run statements on threads of their own (``ThreadBoundSQLDatabase``), the least
    /// busy taken by ``sql`` instead of ``readers`` (``ThreadBoundSQLDatabase/pick(_:turn:)``); empty: ``readers``.
    let threadBoundReaders: [ThreadBoundSQLDatabase]
    /// The number of reads started, for the turn (among equally busy readers).
    let readTurn = Atomic<Int>(0)
    let writer: DatabaseWriter
    let logger: Logger
    /// The setup objects and lab settings, with the setup sequence they reflect.
    let setupCache = Mutex<(setup: LoadedObjects, seq: Int)?>(nil)
    /// Reads of the setup sequence so far (``setupSequenceReads``).
    let setupSequenceReadCount = Atomic<Int>(0)
    /// The queue store tasks are enqueued into (same writer, same transaction).
    let queue: SQLQueueStore

    /// - Parameters:
    ///   - readers: migrated Fluent databases for reads, each on a connection of its own (one is enough; several let
    ///     concurrent requests read in parallel). Must not be empty; the writer's connection should not be among them.
    ///   - threadBoundReaders: SQLite: connections of the same database whose statements run on threads of their own
    ///     (``ThreadBoundSQLDatabase`` over `InlineSQLite` connections): the lab's reads take the least busy of these
    ///     instead of `readers` (one prepared statement per text and connection, no thread-pool hops). Default: none.
    ///   - queue: the queue store whose writer this store shares (one writer per process).
    public init(readers: [any Database], threadBoundReaders: [ThreadBoundSQLDatabase] = [], queue: SQLQueueStore,
                logger: Logger = Logger(label: "limsqueue.lims")) {
        precondition(!readers.isEmpty, "SQLLabStore needs a reader")
        self.readers = readers
        self.threadBoundReaders = threadBoundReaders
        self.queue = queue
        self.writer = queue.writer
        self.logger = logger
    }

    /// A reader: the next of ``readers`` in turn, whose statements fail after ``BoundedSQLDatabase/readerTimeoutSeconds``
    /// instead of hanging on a connection the database server dropped (a PostgreSQL restart; see ``BoundedSQLDatabase``).
    var sql: any SQLDatabase {
        get throws {
            if let reader = ThreadBoundSQLDatabase.pick(threadBoundReaders, turn: readTurn) { return reader }
            return BoundedSQLDatabase(base: try nextReader.sqlDatabase(), seconds: BoundedSQLDatabase.readerTimeoutSeconds)
        }
    }

    /// The next of ``readers`` in turn.
    var nextReader: any Database {
        let turn = readTurn.wrappingAdd(1, ordering: .relaxed).oldValue
        return readers[Int(UInt(bitPattern: turn) % UInt(readers.count))]
    }

    static let sequenceRow = 3
    static let setupSequenceRow = 4

    /// The portal types every working set holds whole (setup objects; their number does not grow with samples).
    public static let setupTypes: [PortalType] = [
        .user, .labContact, .sampleType, .analysisCategory, .analysisService, .method, .instrument,
        .referenceDefinition, .referenceSample, .worksheetTemplate,
    ]

    // MARK: Loading

    /// The whole lab: every object, counter and the lab settings, with stored versions; no changes recorded.
    /// Reads every row: for the command line (import checks, admin) and tests, never on a request path.
    public func load() async throws -> LabState {
        let sql = try self.sql
        var state = LabState()
        let rows = try await sql.raw("SELECT portal_type, version, body FROM lims_objects").all()
        for row in rows {
            state.load(try LabObjectCoding.decode(try row.decode(column: "body", as: String.self),
                                                  portalType: try row.decode(column: "portal_type", as: String.self),
                                                  version: try row.decode(column: "version", as: Int.self)))
        }
        for row in try await sql.raw("SELECT key, value FROM lims_counters").all() {
            state.loadCounter(try row.decode(column: "key", as: String.self), value: try row.decode(column: "value", as: Int.self))
        }
        state.settings = try await Self.labSettings(on: sql)
        state.clearChanges()
        return state
    }

    static func labSettings(on sql: any SQLDatabase) async throws -> LabSettings {
        guard let row = try await sql.raw("SELECT value FROM lims_settings WHERE key = 'lab'").first() else { return LabSettings() }
        return try JSONDecoder().decode(LabSettings.self, from: Data(try row.decode(column: "value", as: String.self).utf8))
    }

    /// Whether the setup cache's freshness was checked in this request (``withOneSetupCheck(_:)``).
    final class SetupCheckScope: Sendable {
        let checked = Atomic<Bool>(false)
    }

    /// The current request's scope, nil outside ``withOneSetupCheck(_:)`` (every read checks then).
    @TaskLocal static var setupCheckScope: SetupCheckScope?

    /// Runs `body` with the setup sequence read at most once (``LIMSCore/LabRepository/withOneSetupCheck(_:)``): a
    /// request's login check and its unit of work read it twice otherwise, one round trip of the four of a result
    /// entered on PostgreSQL.
    public func withOneSetupCheck<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await Self.$setupCheckScope.withValue(SetupCheckScope()) { try await body() }
    }

    /// How many times this store has read the setup sequence (a round trip each; once per request inside
    /// ``withOneSetupCheck(_:)``): for tests and diagnostics.
    public var setupSequenceReads: Int { setupSequenceReadCount.load(ordering: .relaxed) }

    /// Makes the current request check the setup sequence again at its next read (after a conflict, or after it
    /// changed setup objects itself).
    static func recheckSetup() {
        setupCheckScope?.checked.store(false, ordering: .relaxed)
    }

    /// The setup objects and lab settings (cached until the setup sequence moves; checked once per request inside
    /// ``withOneSetupCheck(_:)``).
    func setup() async throws -> LabState {
        try await setupObjects().state
    }

    /// ``setup()``, prepared for working sets to start from (``LIMSCore/LabState/init(scope:startingWith:)``).
    func setupObjects() async throws -> LoadedObjects {
        let scope = Self.setupCheckScope
        if let scope, scope.checked.load(ordering: .relaxed), let cached = setupCache.withLock({ $0 }) { return cached.setup }
        let sql = try self.sql
        setupSequenceReadCount.add(1, ordering: .relaxed)
        let seq = try await sql.raw("SELECT counter FROM queue_state WHERE id = \(bind: Self.setupSequenceRow)").first()?
            .decode(column: "counter", as: Int.self) ?? -1
        if seq >= 0 { scope?.checked.store(true, ordering: .relaxed) }
        if let cached = setupCache.withLock({ $0 }), cached.seq == seq, seq >= 0 { return cached.setup }
        var state = LabState()
        let types = SQLList(Self.setupTypes.map { SQLBind($0.rawValue) })
        let rows = try await sql.raw("SELECT \(unsafeRaw: SQLLabReader.columns) FROM lims_objects WHERE portal_type IN (\(types))").all()
        try SQLLabReader.put(rows, into: &state)
        state.settings = try await Self.labSettings(on: sql)
        state.clearChanges()
        let loaded = LoadedObjects(state)
        setupCache.withLock { $0 = (loaded, seq) }
        return loaded
    }

    /// A fresh working set: the setup objects (declared whole) and the lab settings, nothing else.
    func workingSet(reservations: [String: ClosedRange<Int>]) async throws -> LabState {
        let setup = try await setupObjects()
        let scope = ReadScope()
        var state = LabState(scope: scope, startingWith: setup)
        for type in Self.setupTypes { scope.declareComplete("type:\(type.rawValue)") }
        scope.declare(CollectionOfOne("")) // "no object" (the lab root) is known
        for (key, range) in reservations {
            state.loadCounter(key, value: range.lowerBound - 1)
            scope.reserve(key, upTo: range.upperBound)
        }
        state.clearChanges()
        return state
    }

    // MARK: Units of work

    /// Runs a unit of work on a working set: `body` loads what it needs through the reader and applies the rules;
    /// its changes (plus whatever `afterSave` writes on the same transaction, e.g. queued tasks) are written
    /// atomically. On a conflict the whole unit of work runs again on fresh reads, at most `maxRetries` more
    /// times.
    ///
    /// - Parameters:
    ///   - maxRetries: retries after the first attempt. Default: 3 (as Zope).
    ///   - body: loads, then applies the pure operations; it may throw to abort (nothing is written).
    ///   - afterSave: runs inside the same transaction after the objects are written, with the saved lab.
    /// - Returns: `body`'s result.
    /// - Throws: ``ConflictError`` after the last attempt; ``LIMSCore/LabError`` `outsideWorkingSet` when the body
    ///   read an object it did not load; `body`'s and the database's errors as they come.
    public func perform<T: Sendable>(
        maxRetries: Int = 3,
        _ body: @Sendable (inout LabState, any LabReader) async throws -> T,
        afterSave: (@Sendable (any SQLDatabase, LabState) async throws -> Void)? = nil
    ) async throws -> T {
        var hook: (@Sendable (any SQLDatabase, LabState, T) async throws -> Void)?
        if let afterSave {
            hook = { @Sendable (sql: any SQLDatabase, state: LabState, _: T) async throws in try await afterSave(sql, state) }
        }
        return try await performCore(maxRetries: maxRetries, body, afterSave: hook)
    }

    /// A unit of work whose `body` also returns tasks to enqueue; they are inserted in the same transaction as
    /// the lab's changes (rules of queue_server `add`), and the queue's long-polls are woken after the commit.
    /// - Throws: ``ConflictError`` after the last retry; ``LabRepositoryError`` `alreadyQueued` (nothing written)
    ///   when a `unique` task meets a queued task of the same name and context; `body`'s and the database's errors.
    public func perform<T: Sendable>(
        maxRetries: Int = 3, enqueuing body: @Sendable (inout LabState, any LabReader) async throws -> (T, [QueueTask])
    ) async throws -> T {
        let topPriority = try await queue.settings().topPriorityTasks
        let (result, tasks) = try await performCore(maxRetries: maxRetries, body) { sql, _, output in
            let outcomes = try await SQLQueueStore.insert(output.1, topPriority: topPriority, on: sql)
            // A unique task that meets a queued twin aborts the whole unit of work (reference 4: never silently
            // dropped). The check runs inside the write transaction, so two racing identical actions cannot
            // both pass it.
            for (task, outcome) in zip(output.1, outcomes) where outcome == .notUnique {
                let twin = try await sql.raw("""
                    SELECT task_uid FROM queue_tasks
                    WHERE context_uid = \(bind: task.contextUID) AND name = \(bind: task.name) AND status = 'queued'
                    LIMIT 1
                    """).first()?.decode(column: "task_uid", as: String.self)
                throw LabRepositoryError(.alreadyQueued, uids: [twin ?? ""].filter { !$0.isEmpty })
            }
        }
        if !tasks.isEmpty {
            queue.noteDelayed(tasks, now: nil)
            queue.notifyChange()
        }
        return result
    }

    /// A read-only look at a working set: `body` loads and reads; nothing is written.
    /// - Throws: ``LIMSCore/LabError`` `outsideWorkingSet`; `body`'s and the database's errors.
    public func read<T: Sendable>(_ body: @Sendable (inout LabState, any LabReader) async throws -> T) async throws -> T {
        let sql = try self.sql
        return try await Self.onReaderThread(sql) {
            var state = try await workingSet(reservations: [:])
            let result = try await body(&state, SQLLabReader(sql: sql, store: self))
            try Self.checkScope(state)
            return result
        }
    }

    /// Runs `body` on the thread of `sql` when it is a ``ThreadBoundSQLDatabase`` (a SQLite lab reader), so that a
    /// unit of work's reads through it, and the rules it applies between them, run there without a hop per
    /// statement; elsewhere (PostgreSQL) `body` runs as it is.
    /// - Throws: what `body` throws.
    static func onReaderThread<T: Sendable>(_ sql: any SQLDatabase, _ body: () async throws -> T) async throws -> T {
        if let bound = sql as? ThreadBoundSQLDatabase { return try await bound.running(body) }
        return try await body()
    }

    /// Throws when the working set's scope recorded reads outside it.
    static func checkScope(_ state: LabState) throws {
        if let violations = state.scope?.violations, !violations.isEmpty {
            throw LabError(.outsideWorkingSet, "Unit of work read outside its working set: " + violations.joined(separator: "; "))
        }
    }

    func performCore<T: Sendable>(
        maxRetries: Int,
        _ body: @Sendable (inout LabState, any LabReader) async throws -> T,
        afterSave: (@Sendable (any SQLDatabase, LabState, T) async throws -> Void)?
    ) async throws -> T {
        // One reader for every attempt, its thread running the body (``onReaderThread(_:_:)``).
        let sql = try self.sql
        return try await Self.onReaderThread(sql) {
            try await attempts(maxRetries: maxRetries, on: sql, body, afterSave: afterSave)
        }
    }

    /// ``performCore(maxRetries:_:afterSave:)``'s attempts, reading through `sql`.
    private func attempts<T: Sendable>(
        maxRetries: Int,
        on sql: any SQLDatabase,
        _ body: @Sendable (inout LabState, any LabReader) async throws -> T,
        afterSave: (@Sendable (any SQLDatabase, LabState, T) async throws -> Void)?
    ) async throws -> T {
        var attempt = 0
        var reservations: [String: ClosedRange<Int>] = [:]
        var reruns = 0
        let kept = KeptReservations()
        while true {
            attempt += 1
            var state = try await workingSet(reservations: reservations)
            let loadedSettings = state.settings
            let reader = SQLLabReader(sql: sql, store: self, kept: kept)
            let result = try await body(&state, reader)
            if let needs = state.scope?.counterNeeds, !needs.isEmpty, reruns < 4 {
                // The body needed id numbers it was not given: reserve them (atomically, outside this unit of
                // work's transaction) and run it again on fresh reads.
                for (key, count) in needs {
                    let already = reservations[key].map { $0.count } ?? 0
                    reservations[key] = try await reserve(key, count: already + count)
                }
                reruns += 1
                attempt -= 1
                continue
            }
            try Self.checkScope(state)
            let settings = state.settings != loadedSettings ? state.settings : nil
            if state.changes.isEmpty, afterSave == nil, settings == nil { return result }
            do {
                var hook: (@Sendable (any SQLDatabase, LabState) async throws -> Void)?
                if let afterSave {
                    hook = { @Sendable (sql: any SQLDatabase, saved: LabState) async throws in try await afterSave(sql, saved, result) }
                }
                try await save(state, original: state, settings: settings, afterSave: hook)
                return result
            } catch let conflict as ConflictError {
                let types = conflict.uids.map { uid in state.peekObject(uid).map { type(of: $0).portalType.rawValue } ?? "?" }
                logger.notice("conflict, retrying", metadata: ["lims.conflict.uids": .string(conflict.uids.joined(separator: ",")),
                                                               "lims.conflict.types": .string(types.joined(separator: ",")),
                                                               "lims.attempt": .stringConvertible(attempt)])
                guard attempt <= maxRetries else { throw ConflictError(uids: conflict.uids, attempts: attempt) }
                Self.recheckSetup() // the conflict may come from a setup object another process changed
                // Jittered backoff (up to 2, 4, 8 ... 50 ms) so that writers of one worksheet stop colliding in step.
                let ceiling = min(50.0, 2.0 * pow(2.0, Double(attempt - 1)))
                try? await Task.sleep(nanoseconds: UInt64(Double.random(in: 0.5...ceiling) * 1_000_000))
            }
        }
    }

    /// Reserves `count` numbers of the id counter `key` (atomically, in a transaction of its own) and returns them;
    /// units of work take them with ``LIMSCore/LabState/takeReserved(_:_:)``. Numbers never used are gaps, as with
    /// any database sequence. A counter that does not exist yet starts at 0; a reference group counter starts after
    /// its reference sample's highest stored group number.
    /// - Throws: the database's errors.
    public func reserve(_ key: String, count: Int) async throws -> ClosedRange<Int> {
        if let last = try await increment(key, by: count, seed: nil) { return (last - count + 1)...last }
        // First use of this counter: seed it (a reference sample's highest stored group number), then increment.
        let seed = try await counterSeed(key)
        guard let last = try await increment(key, by: count, seed: seed) else { throw StorageError.corruptRow("lims_counters \(key)") }
        return (last - count + 1)...last
    }

    /// Adds `count` to the counter `key` in a transaction of its own and returns its new value; nil when the
    /// counter does not exist and no `seed` is given (with a seed it is created first).
    func increment(_ key: String, by count: Int, seed: Int?) async throws -> Int? {
        try await writer.write { sql -> Int? in
            try await SQLQueueStore.inTransaction(sql, lock: .rows, immediate: sql.dialect.name == "sqlite") { sql in
                if let seed {
                    try await sql.raw("""
                        INSERT INTO lims_counters (key, value) VALUES (\(bind: key), \(bind: seed)) ON CONFLICT (key) DO NOTHING
                        """).run()
                }
                return try await sql.raw("""
                    UPDATE lims_counters SET value = value + \(bind: count) WHERE key = \(bind: key) RETURNING value
                    """).first()?.decode(column: "value", as: Int.self)
            }
        }
    }

    /// Where a missing counter starts: 0, or for a reference sample's group numbers the highest stored one.
    func counterSeed(_ key: String) async throws -> Int {
        let prefix = LabState.referenceGroupCounter("")
        guard key.hasPrefix(prefix) else { return 0 }
        let referenceUID = String(key.dropFirst(prefix.count))
        let rows = try await sql.raw("""
            SELECT body FROM lims_objects WHERE parent_uid = \(bind: referenceUID) AND portal_type = 'ReferenceAnalysis'
            """).all()
        var highest = 0
        for row in rows {
            let analysis = try JSONDecoder().decode(ReferenceAnalysis.self, from: Data(try row.decode(column: "body", as: String.self).utf8))
            highest = max(highest, Int(analysis.groupID.split(separator: "-").last ?? "") ?? 0)
        }
        return highest
    }

    /// A unit of work whose working set holds, besides the setup objects, every stored object of `types` (each
    /// type declared whole, so `body` may scan them): for the setup import, which matches clients and contacts by
    /// name. Their number does not grow with samples or analyses; the whole lab (``perform(maxRetries:wholeLab:)``)
    /// did: a re-import of an unchanged workbook into a 200,000-sample lab read every object (4 min 17 s, 4 GB).
    /// - Throws: as ``perform(maxRetries:_:afterSave:)``.
    public func perform<T: Sendable>(maxRetries: Int = 3, withWhole types: Set<PortalType>,
                                     _ body: @Sendable (inout LabState) async throws -> T) async throws -> T {
        let sql = try self.sql
        return try await perform(maxRetries: maxRetries) { state, _ in
            let list = SQLList(types.map(\.rawValue).sorted().map { SQLBind($0) })
            let rows = try await sql.raw("SELECT \(unsafeRaw: SQLLabReader.columns) FROM lims_objects WHERE portal_type IN (\(list))").all()
            let objects = try SQLLabReader.put(rows, into: &state)
            state.scope?.declare(objects.map(\.uid))
            for type in types { state.scope?.declareComplete("type:\(type.rawValue)") }
            return try await body(&state)
        }
    }

    // MARK: Whole-lab units of work (command line and tests)

    /// Runs a unit of work on the whole lab (every row read; counters compare-and-set). For the setup import and
    /// tests; request paths use working sets.
    public func perform<T: Sendable>(maxRetries: Int = 3, wholeLab body: @Sendable (inout LabState) async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            attempt += 1
            let original = try await load()
            var state = original
            let result = try await body(&state)
            let settings = state.settings != original.settings ? state.settings : nil
            if state.changes.isEmpty, settings == nil { return result }
            do {
                try await save(state, original: original, settings: settings, afterSave: nil)
                return result
            } catch let conflict as ConflictError {
                guard attempt <= maxRetries else { throw ConflictError(uids: conflict.uids, attempts: attempt) }
                Self.recheckSetup() // the conflict may come from a setup object another process changed
            }
        }
    }

    /// ``perform(maxRetries:wholeLab:)`` with the default retries (command line and tests).
    public func perform<T: Sendable>(_ body: @Sendable (inout LabState) async throws -> T) async throws -> T {
        try await perform(maxRetries: 3, wholeLab: body)
    }

    /// Every object uid of `portalType` that `user` may see, ordered by path (command line and tests; listings
    /// page with ``catalog(_:visibleTo:)``).
    public func search(_ portalType: PortalType, visibleTo user: User) async throws -> [String] {
        try await catalog(CatalogQuery(portalType: portalType, limit: Int(Int32.max)), visibleTo: user).uids
    }

    /// Rebuilds the search index (``SearchWords``) from every stored sample, worksheet and client, in one write transaction:
    /// SENAITE's "Clear and Rebuild" of a catalog. For a lab that a node of a version before the index wrote into
    /// after the migration (its new samples are missing from searches). It holds the writer for the whole rebuild
    /// (about a minute at 200,000 samples).
    /// - Returns: the index rows written.
    /// - Throws: storage errors; nothing changes then.
    public func rebuildSearchIndex() async throws -> Int {
        try await writer.write { sql in
            try await SQLQueueStore.inTransaction(sql, lock: .rows, immediate: sql.dialect.name == "sqlite") { sql in
                try await AddSearchIndex.refill(sql)
                return try await sql.raw("SELECT COUNT(*) AS n FROM lims_search").first()?.decode(column: "n", as: Int.self) ?? 0
            }
        }
    }

    /// Re-indexes `allowedRolesAndUsers` of the given objects (a step of a security walk).
    public func reindexSecurity(_ uids: [String]) async throws {
        var state = try await workingSet(reservations: [:])
        let reader = SQLLabReader(sql: try sql, store: self)
        try await reader.load(uids, into: &state)
        try await reader.loadAncestors(into: &state)
        let loaded = state
        try await writer.write { sql in
            try await SQLQueueStore.inTransaction(sql, lock: .rows, immediate: sql.dialect.name == "sqlite") { sql in
                try await Self.writeSecurity(of: uids, in: loaded, on: sql)
            }
        }
    }

    /// The `allowedRolesAndUsers` tokens of one object as listings apply them: its stored `user:<id>` tokens and
    /// the role map's View roles (the same on every object, not stored per object).
    public func securityTokens(of uid: String) async throws -> Set<String> {
        let stored = try await sql.raw("SELECT token FROM lims_security WHERE uid = \(bind: uid)").all()
            .map { try $0.decode(column: "token", as: String.self) }
        return Set(stored).union(try await setup().rolePermissions.roles(for: .view).map(\.rawValue))
    }

    /// Stores the lab settings (self-verification and the like).
    public func updateSettings(_ settings: LabSettings) async throws {
        let text = String(decoding: try JSONEncoder().encode(settings), as: UTF8.self)
        try await writer.write { sql in
            try await SQLQueueStore.inTransaction(sql, lock: .rows, immediate: sql.dialect.name == "sqlite") { sql in
                try await sql.raw("""
                    INSERT INTO lims_settings (key, value) VALUES ('lab', \(bind: text))
                    ON CONFLICT (key) DO UPDATE SET value = excluded.value
                    """).run()
                _ = try await Self.nextSequence(on: sql)
                try await Self.bumpSetupSequence(on: sql)
            }
        }
        Self.recheckSetup()
    }
}

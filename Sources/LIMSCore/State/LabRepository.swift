/// Where the lab lives: the storage layer seen by the web layer (the LIMS JSON API), which receives an instance
/// and never imports the storage module.
///
/// Implemented by the package's SQL store (`SQLLabStore`); tests may use the same store on SQLite.
import QueueCore

public protocol LabRepository: Sendable {
    /// Runs a unit of work on a working set: `body` loads what it needs through the ``LabReader`` (the setup
    /// objects are already there), applies the rules, and what it changed is written atomically. On a write
    /// conflict the whole unit of work runs again on fresh reads (a few times), then fails with
    /// ``LabRepositoryError`` `conflict`.
    /// - Returns: `body`'s result.
    /// - Throws: `body`'s errors (nothing is written), ``LabError`` `outsideWorkingSet` when `body` read what it
    ///   did not load, ``LabRepositoryError``, storage errors.
    func perform<T: Sendable>(_ body: @Sendable (inout LabState, any LabReader) async throws -> T) async throws -> T

    /// A unit of work that also enqueues tasks: the lab's changes and the tasks `body` returns are written in one
    /// transaction (both or neither), so a task never refers to work that was not saved, and no saved action
    /// lacks its task. Conflicts are retried like ``perform(_:)``. A `unique` task that meets a queued task of
    /// the same name and context aborts the unit of work with ``LabRepositoryError`` `alreadyQueued`.
    /// - Returns: `body`'s first result.
    func perform<T: Sendable>(enqueuing body: @Sendable (inout LabState, any LabReader) async throws -> (T, [QueueTask])) async throws -> T

    /// A read-only working set: `body` loads and reads; nothing is written.
    /// - Throws: ``LabError`` `outsideWorkingSet`; `body`'s and storage errors.
    func read<T: Sendable>(_ body: @Sendable (inout LabState, any LabReader) async throws -> T) async throws -> T

    /// One page of a catalog query, filtered by what `user` may see (the `allowedRolesAndUsers` index),
    /// filtered, sorted and paged in the database. Its total is exact up to `offset + limit + countWindow`
    /// matches and a lower bound past that (``CatalogPage/totalIsExact``), so its cost does not grow with the lab.
    func catalog(_ query: CatalogQuery, visibleTo user: User) async throws -> CatalogPage

    /// Of `uids`, those that are the context of, or among the `uids` of, a queued or running task; for samples
    /// also those with such an analysis. One query. Source: senaite.queue `is_queued`, reference 0.
    func queued(among uids: [String]) async throws -> Set<String>

    /// How many analyses (``Analysis``, retests included; not duplicates, which belong to worksheets) each of the
    /// samples `sampleUIDs` holds, without reading them: for listings that show the count. A sample without
    /// analyses, or unknown, is absent. One query per 512 samples.
    /// - Throws: storage errors.
    func analysisCounts(ofSamples sampleUIDs: [String]) async throws -> [String: Int]

    /// The user with login name `userid` (setup cache), nil when there is none.
    func user(named userid: String) async throws -> User?

    /// The lab's tree for security walks, read a step at a time.
    var securityTree: any SecurityTree { get throws }

    /// Re-indexes `allowedRolesAndUsers` of the given objects.
    func reindexSecurity(_ uids: [String]) async throws

    /// Runs `body` (one request: its login check and its units of work) with the setup objects' freshness checked
    /// once instead of at every read: the request sees the setup as it was when it began, as if it had come a few
    /// milliseconds earlier. A conflict retry and a change of setup objects made inside `body` check again.
    /// - Throws: `body`'s errors.
    func withOneSetupCheck<T: Sendable>(_ body: () async throws -> T) async throws -> T
}

extension LabRepository {
    /// Default: `body` as it is (every read checks the setup's freshness).
    public func withOneSetupCheck<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await body()
    }
}

/// A failure of a ``LabRepository`` the caller may report or retry.
public struct LabRepositoryError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public enum Code: String, Sendable, Equatable {
        /// Concurrent units of work kept changing the same objects; every retry conflicted.
        case conflict
        /// A `unique` task met a queued task of the same name and context; nothing was written. `uids` holds
        /// the queued task's uid. Source: reference 4 (a repeated action is never silently dropped).
        case alreadyQueued
    }

    /// What went wrong.
    public let code: Code
    /// The objects involved (for a conflict: the uids written concurrently).
    public let uids: [String]

    /// - Parameters:
    ///   - code: what went wrong.
    ///   - uids: the objects involved. Default: none.
    public init(_ code: Code, uids: [String] = []) {
        self.code = code
        self.uids = uids
    }

    /// A message for logs and API answers.
    public var description: String {
        switch code {
        case .conflict: "Concurrent changes to \(uids.joined(separator: ", ")); please try again"
        case .alreadyQueued: "The same action is already queued (task \(uids.joined(separator: ", ")))"
        }
    }
}

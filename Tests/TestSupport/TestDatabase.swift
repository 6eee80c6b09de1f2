import Foundation
import Synchronization
import Testing

/// The database a storage conformance test runs on: the argument of the backend-parameterized suites
/// (`@Test(arguments: StoreBackend.available)`).
///
/// The PostgreSQL cases run when `LIMSQUEUE_TEST_POSTGRES_URL` names a server (`scripts/test` starts a throwaway
/// cluster and sets it). Without it they are not generated, and each conformance suite's
/// ``postgresSkipped`` trait marks its PostgreSQL check as skipped, with the reason; they never pass silently.
package enum StoreBackend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    /// The embedded SQLite, a fresh file in a temporary data directory.
    case sqlite
    /// A database of its own on the PostgreSQL server `LIMSQUEUE_TEST_POSTGRES_URL` names.
    case postgres

    package var testDescription: String { rawValue }

    /// The backend of the suites that are not parameterized: PostgreSQL when `LIMSQUEUE_TEST_BACKEND=postgres`
    /// (the PostgreSQL pass of `scripts/test`), else SQLite.
    package static var fromEnvironment: StoreBackend { TestDatabase.isPostgres ? .postgres : .sqlite }

    /// The backends the conformance suites run on here: SQLite, plus PostgreSQL when `LIMSQUEUE_TEST_POSTGRES_URL`
    /// is set; PostgreSQL alone in the PostgreSQL pass of `scripts/test` (`LIMSQUEUE_TEST_BACKEND=postgres`, after
    /// the SQLite pass ran the SQLite cases).
    package static var available: [StoreBackend] {
        if TestDatabase.postgresURL == nil { return [.sqlite] }
        return TestDatabase.isPostgres ? [.postgres] : [.sqlite, .postgres]
    }

    /// The trait of a suite's PostgreSQL check: skipped, with the reason, when PostgreSQL is not available.
    package static var postgresSkipped: ConditionTrait {
        .enabled(if: TestDatabase.postgresURL != nil,
                 "PostgreSQL cases skipped: LIMSQUEUE_TEST_POSTGRES_URL is not set (scripts/test starts a cluster and sets it)")
    }

    /// Skips the current test case when this backend is not available here.
    /// - Throws: the cancellation of the current test case (Swift Testing reports it as skipped, with the reason).
    package func requireAvailable() throws {
        guard self == .postgres, TestDatabase.postgresURL == nil else { return }
        try Test.cancel("PostgreSQL case skipped: set LIMSQUEUE_TEST_POSTGRES_URL to a server's URL (scripts/test does)")
    }
}

/// Which database the storage suites run on. `scripts/test` runs the whole suite on SQLite, then again the
/// database-backed suites with `LIMSQUEUE_TEST_BACKEND=postgres` and `LIMSQUEUE_TEST_POSTGRES_URL` pointing at a
/// throwaway cluster, where each test gets a database of its own. The conformance suites take the backend as a
/// test argument instead (``StoreBackend``).
package enum TestDatabase {
    /// True when `LIMSQUEUE_TEST_BACKEND=postgres`.
    package static var isPostgres: Bool { ProcessInfo.processInfo.environment["LIMSQUEUE_TEST_BACKEND"] == "postgres" }

    /// `LIMSQUEUE_TEST_POSTGRES_URL`, nil when unset or empty.
    package static var postgresURL: String? {
        guard let base = ProcessInfo.processInfo.environment["LIMSQUEUE_TEST_POSTGRES_URL"], !base.isEmpty else { return nil }
        return base
    }

    /// nil for SQLite (the store lives in `directory`); on PostgreSQL the URL of a database named after
    /// `directory`, created when missing.
    package static func url(for directory: TemporaryDirectory, backend: StoreBackend = .fromEnvironment) async throws -> String? {
        try await url(forDataDir: directory.path, backend: backend)
    }

    /// ``url(for:backend:)`` for a data directory path.
    package static func url(forDataDir path: String, backend: StoreBackend = .fromEnvironment) async throws -> String? {
        guard backend == .postgres else { return nil }
        guard let base = postgresURL else {
            throw HarnessError("LIMSQUEUE_TEST_BACKEND=postgres needs LIMSQUEUE_TEST_POSTGRES_URL (scripts/test sets both)")
        }
        let name = databaseName(forDataDir: path)
        let exists = try await psql(base + "/postgres", "SELECT 1 FROM pg_database WHERE datname = '\(name)'")
        if !exists.contains("1") { _ = try await psql(base + "/postgres", "CREATE DATABASE \(name)") }
        created.withLock { _ = $0.insert(name) }
        return base + "/" + name
    }

    /// The databases this process created or used, dropped with their data directory (``dropDatabase(forDataDir:)``).
    private static let created = Mutex<Set<String>>([])

    /// The PostgreSQL database of a data directory: `lq_` and the directory's name, letters and digits only.
    static func databaseName(forDataDir path: String) -> String {
        "lq_" + String(URL(fileURLWithPath: path).lastPathComponent.lowercased().filter { $0.isLetter || $0.isNumber }.suffix(40))
    }

    /// Drops the database of a data directory if this process made or used it, so that test runs do not pile
    /// databases up on the server (1,700 of them once kept autovacuum busy). Best effort and not waited for: `psql`
    /// runs on its own (waiting blocked a thread of the test's concurrency pool for each of some 400 drops, and the
    /// PostgreSQL pass took 18 s longer). Never by force: a database still in use (a store a test left open) stays
    /// behind rather than have its connections cut under the test.
    package static func dropDatabase(forDataDir path: String) {
        let name = databaseName(forDataDir: path)
        guard let base = postgresURL, created.withLock({ $0.remove(name) != nil }) else { return }
        let drop = try? ChildProcess("psql", [base + "/postgres", "-qtAc", "DROP DATABASE IF EXISTS \(name)"])
        pendingDrops.withLock { drops in
            drops.removeAll { !$0.isRunning }
            if let drop { drops.append(drop) }
        }
    }

    /// Drops under way, kept until they have exited (each is collected, not left a zombie, by a later drop).
    private static let pendingDrops = Mutex<[ChildProcess]>([])

    /// The storage options of a `limsqueue` process on the test database: `--data-dir <path>`, plus
    /// `--database <url>` on PostgreSQL (a database of its own per data directory).
    package static func arguments(dataDir path: String) async throws -> [String] {
        ["--data-dir", path] + (try await url(forDataDir: path).map { ["--database", $0] } ?? [])
    }

    /// Runs one SQL command with `psql`; returns its unaligned output. Waits without blocking a thread (every
    /// PostgreSQL fixture creates its database so; blocking, these waits starved the other tests of a 2-core machine).
    package static func psql(_ url: String, _ command: String) async throws -> String {
        let finished = try await ChildProcess.run("psql", [url, "-tAc", command])
        guard finished.status == 0 else { throw HarnessError("psql failed: \(finished.output)") }
        return finished.output
    }
}

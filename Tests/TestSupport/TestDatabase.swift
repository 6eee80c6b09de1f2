import Foundation

/// Which database the storage suites run on. `scripts/test` runs them twice: on SQLite, then with
/// `LIMSQUEUE_TEST_BACKEND=postgres` and `LIMSQUEUE_TEST_POSTGRES_URL` pointing at a throwaway cluster, where
/// each test gets a database of its own. One conformance suite for both databases.
enum TestDatabase {
    static var isPostgres: Bool { ProcessInfo.processInfo.environment["LIMSQUEUE_TEST_BACKEND"] == "postgres" }

    /// nil for SQLite (the store lives in `directory`); on PostgreSQL the URL of a database named after
    /// `directory`, created when missing.
    static func url(for directory: TemporaryDirectory) throws -> String? {
        try url(forDataDir: directory.path)
    }

    /// ``url(for:)`` for a data directory path.
    static func url(forDataDir path: String) throws -> String? {
        guard isPostgres else { return nil }
        guard let base = ProcessInfo.processInfo.environment["LIMSQUEUE_TEST_POSTGRES_URL"], !base.isEmpty else {
            throw HarnessError("LIMSQUEUE_TEST_BACKEND=postgres needs LIMSQUEUE_TEST_POSTGRES_URL (scripts/test sets both)")
        }
        let name = "lq_" + URL(fileURLWithPath: path).lastPathComponent.lowercased()
            .filter { $0.isLetter || $0.isNumber }.suffix(40)
        let exists = try psql(base + "/postgres", "SELECT 1 FROM pg_database WHERE datname = '\(name)'")
        if !exists.contains("1") { _ = try psql(base + "/postgres", "CREATE DATABASE \(name)") }
        return base + "/" + name
    }

    /// The storage options of a `limsqueue` process on the test database: `--data-dir <path>`, plus
    /// `--database <url>` on PostgreSQL (a database of its own per data directory).
    static func arguments(dataDir path: String) throws -> [String] {
        ["--data-dir", path] + (try url(forDataDir: path).map { ["--database", $0] } ?? [])
    }

    static func psql(_ url: String, _ command: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["psql", url, "-tAc", command]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else { throw HarnessError("psql failed: \(text)") }
        return text
    }
}

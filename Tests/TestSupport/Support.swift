import Foundation

/// Runs python3 with a script; returns its standard output (trimmed).
/// The Python interop tests need python3 with `cryptography` (.ci/run installs it).
package enum Python {
    /// python3 exited with an error.
    package struct Failure: Error, CustomStringConvertible {
        package let description: String
    }

    /// Runs `script` with `arguments`; returns its standard output, trimmed.
    package static func run(_ script: String, _ arguments: [String] = []) throws -> String {
        let finished = try ChildProcess.runBriefly("python3", ["-c", script] + arguments, separateErrors: true)
        guard finished.status == 0 else { throw Failure(description: "python3 failed: \(finished.errors)") }
        return finished.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// A fresh temporary directory, removed by `remove()` (with its PostgreSQL test database, if one was made for it).
package struct TemporaryDirectory {
    /// The directory's absolute path.
    package let path: String

    package init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("limsqueue-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    package func remove() {
        try? FileManager.default.removeItem(atPath: path)
        TestDatabase.dropDatabase(forDataDir: path)
    }
}

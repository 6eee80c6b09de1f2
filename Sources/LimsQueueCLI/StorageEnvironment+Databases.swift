import FluentKit
import Foundation
import Logging
import SQLKit

extension StorageEnvironment {
    /// Creates the PostgreSQL database `name` on the server of `serverURL` (a `postgres://` URL of any database
    /// the user may connect to), for benchmarks that need a fresh database per run.
    /// - Throws: ``CLIError`` for a name that is not `[a-z0-9_]+`; database errors.
    static func createDatabase(named name: String, serverURL: String, logger: Logger) async throws {
        try await administer(name, serverURL: serverURL, logger: logger) { "CREATE DATABASE \(unsafeRaw: $0)" }
    }

    /// Drops the PostgreSQL database `name` (made by ``createDatabase(named:serverURL:logger:)``) if it exists,
    /// ending the connections still open to it (`WITH (FORCE)`, PostgreSQL 13 or later: an interrupted benchmark
    /// still holds its own).
    /// - Throws: ``CLIError`` for a name that is not `[a-z0-9_]+`; database errors.
    static func dropDatabase(named name: String, serverURL: String, logger: Logger) async throws {
        try await administer(name, serverURL: serverURL, logger: logger) { "DROP DATABASE IF EXISTS \(unsafeRaw: $0) WITH (FORCE)" }
    }

    /// Runs `statement(name)` on the server of `serverURL`, for a checked database `name`.
    private static func administer(_ name: String, serverURL: String, logger: Logger,
                                   _ statement: (String) -> SQLQueryString) async throws {
        guard !name.isEmpty, name.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "_" }) else {
            throw CLIError("database name must be [a-z0-9_]+: \(name)")
        }
        let admin = try await open(dataDir: FileManager.default.temporaryDirectory.path, database: serverURL, logger: logger, migrate: false)
        do {
            guard let sql = admin.store.database as? any SQLDatabase else { throw CLIError("not an SQL database: \(serverURL)") }
            try await sql.raw(statement(name)).run()
            await admin.close()
        } catch {
            await admin.close()
            throw error
        }
    }

    /// `url` with its database name replaced by `name` (`postgres://u:p@h:5432/old?x` → `.../name?x`).
    static func replacingDatabase(in url: String, with name: String) -> String {
        // A `dbname=` parameter would name the database over the path: moved into the path first, then replaced.
        guard var components = URLComponents(string: PostgresURL.normalized(url)) else { return url }
        components.path = "/" + name
        return components.string ?? url
    }
}

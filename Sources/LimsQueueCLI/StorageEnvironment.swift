import FluentKit
import FluentPostgresDriver
import FluentSQLiteDriver
import Foundation
import InlineSQLite
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import QueueAuth
import QueueCore
import Storage

/// The opened database of a data directory, migrated, and the queue store. Each connection has an event loop of
/// its own group (the database drivers keep one connection per loop): the process's single writer, the queue's
/// reads (status, listings, statistics; on SQLite only migrations and settings, its reads take the lab's readers),
/// and ``labReaderCount`` connections the lab's reads take (in turn on PostgreSQL; on SQLite the least busy of
/// ``openLabReaders(sqlitePath:loops:durability:logger:)``, each on its loop's thread). Lab reads never wait behind the writer's connection, and concurrent requests read in
/// parallel (WAL lets readers and the writer work at once; separate processes share the file the same way).
final class StorageEnvironment: Sendable {
    let databases: Databases
    let eventLoopGroup: MultiThreadedEventLoopGroup
    /// Runs SQLite's blocking calls.
    let threadPool: NIOThreadPool
    let store: SQLQueueStore
    /// The LIMS objects, sharing the queue store's writer.
    let lab: SQLLabStore
    let logger: Logger
    /// Path of the SQLite file, or the PostgreSQL URL without its password.
    let path: String
    /// The PostgreSQL URL (with its password), nil on SQLite.
    let databaseURL: String?
    /// SQLite: the single writer's own connection, closed after the store is quiesced.
    let writerConnection: InlineSQLiteConnection?
    /// SQLite: the lab's reader connections (``openLabReaders(sqlitePath:loops:durability:logger:)``), closed with the
    /// writer's.
    let labReaderConnections: [InlineSQLiteConnection]
    /// The migrations this opening applied, oldest first (empty when the schema was up to date or not migrated).
    let appliedMigrations: [String]

    /// Opens the database and applies pending migrations: PostgreSQL when `database` (a `postgres://` URL) is
    /// given, else `<dataDir>/limsqueue.sqlite` (created if needed, with SQLite tuning).
    /// - Parameter durability: SQLite `synchronous` / PostgreSQL `synchronous_commit` (``Durability``). Default: nil,
    ///   each database as it was before the option existed: SQLite ``Durability/normal``, PostgreSQL the server's
    ///   own `synchronous_commit` (on, i.e. ``Durability/full``, unless its configuration says otherwise).
    /// - Parameter existing: refuse, instead of creating, a data directory without a database, or a PostgreSQL
    ///   database without LimsQueue's tables (the admin
    ///   commands: a wrong `--data-dir` must not silently start an empty queue). Default: false. An admin command
    ///   never migrates (`migrate` is ignored): on a database an older LimsQueue made, with migrations pending, it is
    ///   refused, since changing the schema under the nodes that serve it would stop them on their next start
    ///   (``StorageMigrations/requireKnownSchema(_:)-(Database)``) or have them read a schema they do not know.
    ///   Only `serve`, `migrate`, `setup import`, `demo`, the consumer and the benches bring a schema up to date.
    /// - Throws: when the directory cannot be created or the database cannot be opened or migrated; ``CLIError``
    ///   naming the path when `existing` and there is no database, or its schema lacks migrations this build needs.
    static func open(dataDir: String, database url: String? = nil, durability: Durability? = nil, logger: Logger,
                     migrate: Bool = true, existing: Bool = false) async throws -> StorageEnvironment {
        if existing, url == nil { try requireDatabase(dataDir: dataDir) }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2 + labReaderCount)
        // A thread pool of its own: SQLite waits for another writer's lock on a pool thread, so environments
        // sharing one pool in a process (tests, benchmarks of several servers) could leave the lock holder
        // without a thread. A thread per connection, and the checkpointer's (``CheckpointService``: a checkpoint
        // holds its thread while it copies pages and fsyncs).
        let threadPool = NIOThreadPool(numberOfThreads: 3 + labReaderCount)
        threadPool.start()
        let databases = Databases(threadPool: threadPool, on: group)
        let path: String
        if let url {
            path = PostgresURL.redacted(url)
            do {
                var configuration = try PostgresURL.configuration(url)
                // A command that creates LimsQueue's tables needs a database named: without one PostgreSQL takes the
                // user's, often the maintenance database `postgres` (a tryout's `migrate` made its tables there).
                if migrate, !existing, (configuration.coreConfiguration.database ?? "").allSatisfy({ $0 == "/" }) {
                    throw CLIError("the URL names no database, so LimsQueue's tables would go into the user's own database; "
                                   + "name one, e.g. postgres://user@host:5432/limsqueue or postgres://user@/limsqueue?host=/var/run/postgresql")
                }
                if let durability {
                    configuration.coreConfiguration.options.additionalStartupParameters.append(durability.postgresParameter)
                }
                databases.use(.postgres(configuration: configuration, maxConnectionsPerEventLoop: Self.postgresConnectionsPerLoop), as: .psql)
            } catch {
                throw CLIError("cannot use the database URL \(path): \(error)")
            }
        } else {
            try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
            path = sqlitePath(dataDir: dataDir)
            databases.use(.sqlite(.file(path)), as: .sqlite)
        }
        let loops = Array(group.makeIterator())
        do {
            guard let database = databases.database(logger: logger, on: loops[0]),
                  let writerDatabase = databases.database(logger: logger, on: loops[1]) else {
                throw CLIError("cannot open the database at \(path)")
            }
            let labReaders = loops.dropFirst(2).compactMap { databases.database(logger: logger, on: $0) }
            try await StorageMigrations.requireKnownSchema(database)
            // PostgreSQL: a database without LimsQueue's tables is refused by the admin commands, as a data dir
            // without a database is (a tryout's `status` on a URL without a database name put every table into the
            // server's `postgres` maintenance database).
            if existing, url != nil, try await !StorageMigrations.hasSchema(database) {
                throw CLIError("no LimsQueue tables in the PostgreSQL database \(path): check the database name in the URL, "
                               + "or create them with `limsqueue migrate --database …` or `limsqueue serve --database …`")
            }
            // Per connection: SQLite's `synchronous`, `temp_store` and cache size belong to a connection, not the file.
            // On SQLite the lab reads through connections of its own (below), so its Fluent readers stay unopened.
            for reader in url == nil ? [database] : [database] + labReaders {
                try await StorageMigrations.tune(reader, durability: durability ?? .normal)
            }
            if existing {
                let pending = try await StorageMigrations.pendingMigrations(database)
                if pending.count == StorageMigrations.all.count {
                    throw CLIError("no LimsQueue tables in the database at \(path): create them with `limsqueue migrate` "
                                   + "or `limsqueue serve`")
                }
                if let newest = pending.last {
                    throw CLIError("the database at \(path) lacks \(pending.count) schema step(s) this limsqueue needs, the newest "
                                   + "\(newest): an older LimsQueue made it. Admin commands do not change the schema under the "
                                   + "nodes that serve it; upgrade those nodes and run `limsqueue migrate` (or start `limsqueue serve` "
                                   + "of this version), or use the limsqueue the nodes run")
                }
            }
            var applied: [String] = []
            if migrate, !existing {
                applied = try await StorageMigrations.migrate(databases, on: loops[0], logger: logger, lockFile: url == nil ? path + ".migrate-lock" : nil)
            }
            // SQLite: the writer's own connection (tuned as it opens), blocking loops[1]'s thread; the Fluent writer pool
            // of that loop is then never used. PostgreSQL: the writer takes connections of the pool on loops[1] (its
            // durability is a connection parameter, so there is nothing to tune).
            let writer = try await Self.openWriterConnection(sqlitePath: url == nil ? path : nil, writerLoop: loops[1],
                                                             durability: durability, logger: logger)
            var readerConnections: [InlineSQLiteConnection] = []
            do {
                readerConnections = try await Self.openLabReaders(sqlitePath: url == nil ? path : nil, loops: Array(loops.dropFirst(2)),
                                                                 durability: durability, logger: logger)
            } catch {
                writer?.connection.close()
                throw error
            }
            let threadBound = readerConnections.map { connection in
                ThreadBoundSQLDatabase(base: connection, executor: EventLoopTaskExecutor(eventLoop: connection.eventLoop))
            }
            let store = SQLQueueStore(database: database, writerDatabase: writerDatabase, logger: logger, writerConnection: writer?.dedicated,
                                      threadBoundReaders: threadBound)
            let lab = SQLLabStore(readers: labReaders, threadBoundReaders: threadBound, queue: store, logger: logger)
            return StorageEnvironment(databases: databases, group: group, threadPool: threadPool, store: store, lab: lab, logger: logger,
                                      path: path, databaseURL: url, writerConnection: writer?.connection,
                                      labReaderConnections: readerConnections, appliedMigrations: applied)
        } catch {
            // Refused or failed before anything ran (a newer schema, a migration error): close what was opened, so
            // the process ends with the error's message (debug builds assert on a connection pool never shut down).
            await shutDown(databases, group, threadPool)
            // A server that cannot be reached is named (a tryout's missing socket directory printed only "connect:
            // No such file or directory").
            if let url, let postgres = error as? PSQLError, postgres.code == .connectionError {
                throw CLIError("cannot connect to PostgreSQL at \(PostgresURL.target(url))"
                               + (postgres.underlying.map { ": \($0)" } ?? "")
                               + ". Check that the server runs there (for a socket: host= its directory, port= its port)")
            }
            throw error
        }
    }

    private init(databases: Databases, group: MultiThreadedEventLoopGroup, threadPool: NIOThreadPool, store: SQLQueueStore,
                 lab: SQLLabStore, logger: Logger, path: String, databaseURL: String?, writerConnection: InlineSQLiteConnection?,
                 labReaderConnections: [InlineSQLiteConnection], appliedMigrations: [String]) {
        self.appliedMigrations = appliedMigrations
        self.labReaderConnections = labReaderConnections
        self.threadPool = threadPool
        self.writerConnection = writerConnection
        self.databaseURL = databaseURL
        self.databases = databases
        self.eventLoopGroup = group
        self.store = store
        self.lab = lab
        self.logger = logger
        self.path = path
    }

    /// Connections the lab's reads take in turn: the machine's cores, at least 2 and at most 8. More readers than
    /// cores only queue on the CPU; fewer leave a core idle while one read runs (a page of samples, a working set).
    static let labReaderCount = min(8, max(2, System.coreCount))

    /// PostgreSQL connections each event loop's pool may open (lazily, as concurrent work asks): about 16 per
    /// process in all, at least 2 per loop (4 on this 2-core machine). The lab's write transactions run
    /// concurrently on the lab readers' pools (``Storage/SQLLabStore``), so with one connection per loop 50 users'
    /// writes queued behind each other: `bench lims` p95 176-190 ms with one, 143-160 ms with four.
    static let postgresConnectionsPerLoop = max(2, 16 / (2 + labReaderCount))

    /// The auth key: env `LIMSQUEUE_AUTH_KEY` when set, else the database's (generated on first start).
    /// - Throws: ``CLIError`` when the env key is not 32 bytes of url-safe base64.
    func authKey() async throws -> String {
        if let key = try AuthKeySource.fromEnvironment() { return key }
        return try await store.authKey(generate: Fernet.generateKey)
    }

    /// Closes the databases and the event loop.
    func close() async {
        await store.quiesce()
        writerConnection?.close()
        for reader in labReaderConnections { reader.close() }
        await Self.shutDown(databases, eventLoopGroup, threadPool)
    }

    /// Shuts down the database pools, then the event loops and the thread pool they run on.
    private static func shutDown(_ databases: Databases, _ group: MultiThreadedEventLoopGroup, _ threadPool: NIOThreadPool) async {
        await databases.shutdownAsync()
        // Let connection closes finish their hop back to the event loops before those stop (a close completing on
        // a stopped loop was seen to abort debug builds about once in 60 short runs).
        try? await Task.sleep(nanoseconds: 50_000_000)
        try? await group.shutdownGracefully()
        try? await threadPool.shutdownGracefully()
    }

    /// The other processes that have the SQLite database of `dataDir` open (``RestoreCommand/openers(of:)``), named;
    /// none for PostgreSQL (`database` given), whose connections name no process.
    static func otherProcesses(dataDir: String, database: String?) -> [String] {
        guard database == nil else { return [] }
        return RestoreCommand.openers(of: ["", "-wal"].map { sqlitePath(dataDir: dataDir) + $0 })
    }

    /// The SQLite file of `dataDir`.
    static func sqlitePath(dataDir: String) -> String {
        URL(fileURLWithPath: dataDir).appendingPathComponent("limsqueue.sqlite").path
    }

    /// - Throws: ``CLIError`` naming the path when `dataDir` holds no database.
    static func requireDatabase(dataDir: String) throws {
        let path = sqlitePath(dataDir: dataDir)
        guard FileManager.default.fileExists(atPath: path) else {
            throw CLIError("no LimsQueue database at \(path): pass --data-dir with the directory `limsqueue serve` uses "
                           + "(default ./var, relative to the current directory), or create one with `limsqueue serve`, "
                           + "`limsqueue migrate` or `limsqueue setup import`")
        }
    }

    /// Opens the environment, runs `body`, and closes it whatever happens.
    /// - Parameter existing: as in ``open(dataDir:database:durability:logger:migrate:existing:)``. Default: false.
    static func with<T: Sendable>(dataDir: String, database: String? = nil, durability: Durability? = nil, existing: Bool = false,
                                  logger: Logger, _ body: (StorageEnvironment) async throws -> T) async throws -> T {
        // A storage failure reaches the operator in the words the HTTP answers use (a bare "SQLite error 13: ...
        // (in: COMMIT)" told an operator little).
        let environment: StorageEnvironment
        do {
            environment = try await open(dataDir: dataDir, database: database, durability: durability, logger: logger, existing: existing)
        } catch {
            throw CLIError.readable(error)
        }
        do {
            let result = try await body(environment)
            await environment.close()
            return result
        } catch {
            await environment.close()
            throw CLIError.readable(error)
        }
    }
}

/// Where the auth key comes from when not from the database.
enum AuthKeySource {
    static let environmentVariable = "LIMSQUEUE_AUTH_KEY"

    /// The key in `LIMSQUEUE_AUTH_KEY`, nil when unset or empty.
    /// - Throws: ``CLIError`` when it is set but not a valid key.
    static func fromEnvironment() throws -> String? {
        guard let key = ProcessInfo.processInfo.environment[environmentVariable], !key.isEmpty else { return nil }
        guard (try? Fernet(key: key)) != nil else {
            throw CLIError("\(environmentVariable) must be 32 bytes of url-safe base64 (44 characters); `limsqueue keygen` prints one")
        }
        return key
    }
}

/// A failure reported to the operator as one line.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }

    /// The operator message of a queue error ("no such task in the queue (...)", ...).
    init(_ error: QueueError) {
        switch error.code {
        case .notFound: self.init("no such task in the queue (\(error.message))")
        default: self.init(error.message)
        }
    }
}

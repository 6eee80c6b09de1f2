import Foundation
import Hummingbird
import InlineSQLite
import HummingbirdTesting
import Logging
import NIOCore
import NIOPosix
import QueueCore
import QueueTesting
import SQLKit
import Storage
import TestSupport
import Testing
@testable import LimsQueueCLI

/// The `limsqueue` operator commands, run as the real binary on a fresh data directory.
@Suite("Command line", .serialized)
struct CLITests {
    func run(_ arguments: [String], dataDir: String, in directory: String? = nil) async throws -> (status: Int32, output: String) {
        try await runLimsQueue(arguments, dataDir: dataDir, directory: directory)
    }

    @Test("settings: show, get, set within range; out-of-range and unknown keys refused with the key named")
    func settings() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        #expect(try await run(["migrate"], dataDir: directory.path).status == 0)
        let all = try await run(["settings"], dataDir: directory.path)
        #expect(all.status == 0 && all.output.contains("max_consumers = 4") && all.output.contains("default = 10"))
        #expect(try await run(["settings", "set", "default", "5"], dataDir: directory.path).output.contains("default = 5"))
        #expect(try await run(["settings", "get", "default"], dataDir: directory.path).output.trimmingCharacters(in: .whitespacesAndNewlines) == "5")
        let outOfRange = try await run(["settings", "set", "max_seconds_unlock", "10"], dataDir: directory.path)
        #expect(outOfRange.status != 0 && outOfRange.output.contains("max_seconds_unlock") && outOfRange.output.contains("30...1800"))
        // A negative value is a value out of range, not an unknown option (it printed the usage).
        let negative = try await run(["settings", "set", "default", "-1"], dataDir: directory.path)
        #expect(negative.status != 0 && negative.output.contains("default") && !negative.output.lowercased().contains("usage"), "\(negative.output)")
        let unknown = try await run(["settings", "get", "colour"], dataDir: directory.path)
        #expect(unknown.status != 0 && unknown.output.contains("unknown setting 'colour'"))
        #expect(try await run(["settings", "frobnicate"], dataDir: directory.path).status != 0)
        #expect(try await run(["settings", "get", "default"], dataDir: directory.path).output.contains("5"))
    }

    @Test("a database a newer version migrated: every command refuses it with a message naming the migration and exit 1 (no crash)")
    func newerSchema() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        #expect(try await run(["migrate"], dataDir: directory.path).status == 0)
        let environment = try await StorageEnvironment.open(dataDir: directory.path, logger: .init(label: "test"))
        let sql = try #require(environment.store.database as? any SQLDatabase)
        try await sql.raw("""
            INSERT INTO _fluent_migrations (id, name, batch, created_at, updated_at)
            VALUES ('00000000-0000-0000-0000-000000000001', 'limsqueue-9999-future', 99, NULL, NULL)
            """).run()
        await environment.close()
        for command in [["status"], ["migrate"], ["tasks"]] {
            let refused = try await run(command, dataDir: directory.path)
            #expect(refused.status == 1 && refused.output.contains("limsqueue-9999-future") && refused.output.contains("newer"),
                    "\(command): \(refused.status) \(refused.output.suffix(300))")
        }
    }

    /// From a tryout: `status`, `tasks`, `key` and `settings get` of a newer binary migrated the database under the
    /// older nodes serving it (which then refuse it on their next start). Admin commands now refuse a schema with
    /// migrations pending and leave it as it is; `migrate` says what it applied, and that nothing was left to apply.
    @Test("admin commands refuse a database an older version made (migrations pending) and leave its schema; migrate says what it applied")
    func olderSchemaRefused() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove(); TestDatabase.dropDatabase(forDataDir: directory.path) }
        let created = try await run(["migrate"], dataDir: directory.path)
        let newest = try #require(StorageMigrations.all.last?.name)
        #expect(created.status == 0 && created.output.contains("\(StorageMigrations.all.count) step(s) applied, the newest \(newest)"),
                "\(created.output)")
        let again = try await run(["migrate"], dataDir: directory.path)
        #expect(again.status == 0 && again.output.contains("already up to date") && !again.output.contains("applied,"), "\(again.output)")
        // The database as the version before the newest migration left it: that step reverted and forgotten.
        let url = try await TestDatabase.url(forDataDir: directory.path)
        func appliedNewest() async throws -> Bool {
            let environment = try await StorageEnvironment.open(dataDir: directory.path, database: url, logger: .init(label: "test"), migrate: false)
            let pending = try await StorageMigrations.pendingMigrations(environment.store.database)
            await environment.close()
            return !pending.contains(newest)
        }
        let environment = try await StorageEnvironment.open(dataDir: directory.path, database: url, logger: .init(label: "test"), migrate: false)
        let sql = try #require(environment.store.database as? any SQLDatabase)
        // `all` holds `any Migration`, whose `revert` answers a future: awaited here, or the revert ran on after this
        // environment closed (it hung SQLite runs now and then: its transaction left open on a connection of a closed
        // environment, holding the write lock the final `migrate` waited for).
        try await #require(StorageMigrations.all.last).revert(on: environment.store.database).get()
        try await sql.raw("DELETE FROM _fluent_migrations WHERE name = \(bind: newest)").run()
        await environment.close()
        // The newest step is applied again below whatever it left behind (its prepare is safe to run over itself).
        for command in [["status"], ["tasks"], ["key"], ["settings"], ["settings", "get", "default"], ["users", "list"], ["reindex"]] {
            let refused = try await run(command, dataDir: directory.path)
            #expect(refused.status == 1 && refused.output.contains("lacks 1 schema step(s)") && refused.output.contains(newest)
                    && refused.output.contains("limsqueue migrate"), "\(command): \(refused.status) \(refused.output.suffix(400))")
            #expect(try await !appliedNewest(), "\(command) migrated the database")
        }
        let migrated = try await run(["migrate"], dataDir: directory.path)
        #expect(migrated.status == 0 && migrated.output.contains("1 step(s) applied, the newest \(newest)"), "\(migrated.output)")
        #expect(try await appliedNewest())
        #expect(try await run(["status"], dataDir: directory.path).status == 0)
        let reindexed = try await run(["reindex"], dataDir: directory.path)
        #expect(reindexed.status == 0 && reindexed.output.contains("reindexed") && reindexed.output.contains("0 search index rows"), "\(reindexed.output)")
    }

    /// Found by a fresh user: `requeue --status queued` beside running consumers exited 1, calling the tasks they had
    /// finished meanwhile "no such task".
    @Test("requeue/delete by filter: a selected task gone before its turn is reported as left, not as a failure; a given unknown uid still fails")
    func selectedTasksThatLeft() async throws {
        try await StoreFixture.with { f in
            let kept = TaskFactory.task("noop", context: "WS-1", created: f.now)
            _ = try await f.store.add([kept], now: f.now)
            let gone = TaskUID.make(), unknown = TaskUID.make()
            let targets = [TaskAdminTarget(uid: kept.taskUID, given: false), TaskAdminTarget(uid: gone, given: false),
                           TaskAdminTarget(uid: unknown, given: true)]
            let lines = try await applyTaskAdmin(targets, on: f.store, verb: "deleted") { store, target in
                try await store.delete(target.uid, now: 0)
            }
            #expect(lines.map(\.outcome) == [.changed, .left, .refused], "\(lines)")
            #expect(lines[1].text.contains("left the queue meanwhile") && lines[2].text.contains("no such task"))
        }
    }

    /// Found by a fresh user: `delete --status queued` beside running consumers also deleted tasks they had started
    /// between the selection and the delete (their consumers then got 409 on done).
    @Test("delete/requeue --status: a task whose status changed after the selection is left as it is, and reported")
    func selectedByStatusThenStarted() async throws {
        try await StoreFixture.with { f in
            let started = TaskFactory.task("noop", context: "WS-1", created: f.now)
            let waiting = TaskFactory.task("noop", context: "WS-2", created: f.now + 1)
            _ = try await f.store.add([started, waiting], now: f.now)
            let targets = try await TaskSelection.parse(["--status", "queued"]).resolve(in: f.store)
            #expect(Set(targets.map(\.uid)) == [started.taskUID, waiting.taskUID])
            // A consumer claims the first one after the selection.
            #expect(try await f.store.pop(consumerID: "consumer-1", now: f.now)?.taskUID == started.taskUID)
            for (verb, action) in [("deleted", DeleteCommand.action), ("re-queued", RequeueCommand.action)] {
                let lines = try await applyTaskAdmin(targets.filter { $0.uid == started.taskUID }, on: f.store, verb: verb, action)
                #expect(lines.map(\.outcome) == [.left] && lines[0].text.contains("running now"), "\(lines)")
                #expect(try await f.store.task(started.taskUID)?.status == .running)
            }
            let deleted = try await applyTaskAdmin(targets.filter { $0.uid == waiting.taskUID }, on: f.store, verb: "deleted",
                                                   DeleteCommand.action)
            #expect(deleted.map(\.outcome) == [.changed])
        }
    }

    /// Found by a tryout: `limsqueue delete --status running` removed the tasks consumers were working on, without a
    /// word (their lab actions went on; their dones were then refused).
    @Test("delete/requeue spare running tasks unless --force: refused by uid, left by --name, --status running needs --force")
    func runningTasksNeedForce() async throws {
        try await StoreFixture.with { f in
            let running = TaskFactory.task("noop", context: "WS-1", created: f.now)
            let waiting = TaskFactory.task("noop", context: "WS-2", created: f.now + 1)
            _ = try await f.store.add([running, waiting], now: f.now)
            #expect(try await f.store.pop(consumerID: "consumer-1", now: f.now)?.taskUID == running.taskUID)
            let delete = DeleteCommand.action
            #expect(throws: (any Error).self) { try TaskSelection.parse(["--status", "running"]) }
            // By uid: refused (a failure), the task stays running.
            let byUID = try await applyTaskAdmin(try await TaskSelection.parse([running.taskUID]).resolve(in: f.store),
                                                 on: f.store, verb: "deleted", delete)
            #expect(byUID.map(\.outcome) == [.sparedGiven] && byUID[0].text.contains("--force"), "\(byUID)")
            #expect(try await f.store.task(running.taskUID)?.status == .running)
            // By name: the queued one goes, the running one is left (not a failure).
            let byName = try await applyTaskAdmin(try await TaskSelection.parse(["--name", "noop"]).resolve(in: f.store),
                                                  on: f.store, verb: "deleted", delete)
            #expect(Set(byName.map(\.outcome)) == [.changed, .spared], "\(byName)")
            #expect(try await f.store.task(running.taskUID)?.status == .running)
            #expect(try await f.store.task(waiting.taskUID) == nil)
            // With --force the running task goes.
            let forced = try await applyTaskAdmin(try await TaskSelection.parse(["--status", "running", "--force"]).resolve(in: f.store),
                                                  on: f.store, verb: "deleted", delete)
            #expect(forced.map(\.outcome) == [.changed], "\(forced)")
            #expect(try await f.store.task(running.taskUID) == nil)
        }
    }

    @Test("tasks, requeue, delete: listings and clear errors for bad or unknown uids")
    func tasks() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        #expect(try await run(["migrate"], dataDir: directory.path).status == 0)
        #expect(try await run(["tasks"], dataDir: directory.path).output.contains("no tasks"))
        let task = QueueTask(name: "noop", contextUID: TaskUID.make(), contextPath: "/senaite/worksheets/WS-1",
                             created: Date().timeIntervalSince1970, username: "labman")
        let environment = try await StorageEnvironment.open(dataDir: directory.path, logger: .init(label: "test"))
        _ = try await environment.store.add([task], now: task.created)
        await environment.close()
        let listed = try await run(["tasks", "--status", "queued"], dataDir: directory.path)
        #expect(listed.output.contains(task.shortUID) && listed.output.contains("1 task(s)"))
        // Control characters from a client are shown escaped, one line per task (an escape sequence cleared the screen).
        var hostile = QueueTask(name: "noop\u{1B}[2J", contextUID: TaskUID.make(), contextPath: "/senaite/worksheets/WS-2\nforged line\u{202E}gnp.exe\u{200B}\\u{41}",
                                created: Date().timeIntervalSince1970, username: "labman")
        hostile.errorMessage = "Traceback:\n" + String(repeating: "x", count: 500)
        let reopened = try await StorageEnvironment.open(dataDir: directory.path, logger: .init(label: "test"))
        _ = try await reopened.store.add([hostile], now: hostile.created)
        await reopened.close()
        let escaped = try await run(["tasks", "--status", "queued"], dataDir: directory.path).output
        #expect(!escaped.unicodeScalars.contains("\u{1B}") && escaped.contains("noop\\u{1B}[2J") && escaped.contains("WS-2\\nforged line"), "\(escaped)")
        #expect(!escaped.contains("\nforged line") && escaped.contains("Traceback:\\nxxx") && escaped.contains("x…"), "\(escaped)")
        #expect(escaped.contains("\\u{202E}gnp.exe\\u{200B}\\\\u{41}"), "\(escaped)")
        // The same in status's per-name table and in requeue's lines.
        let status = try await run(["status"], dataDir: directory.path).output
        #expect(!status.unicodeScalars.contains("\u{1B}") && status.contains("noop\\u{1B}[2J"), "\(status)")
        let requeued = try await run(["requeue", hostile.taskUID], dataDir: directory.path).output
        #expect(!requeued.unicodeScalars.contains("\u{1B}") && requeued.contains("noop\\u{1B}[2J"), "\(requeued)")
        _ = try await run(["delete", hostile.taskUID], dataDir: directory.path)
        let json = try await run(["tasks", "--json"], dataDir: directory.path)
        #expect(try JSONValue.parse(json.output).arrayValue?.first?.objectValue?["task_uid"] == .string(task.taskUID))
        #expect(try await run(["tasks", "--status", "done"], dataDir: directory.path).status != 0)
        let badUID = try await run(["requeue", "xyz"], dataDir: directory.path)
        #expect(badUID.status != 0 && badUID.output.contains("32 hex"))
        // A 5,000-character uid is quoted by its start, a control character in it escaped.
        let longUID = try await run(["delete", "\u{1B}[2J" + String(repeating: "a", count: 5_000)], dataDir: directory.path)
        #expect(longUID.status != 0 && longUID.output.contains("32 hex") && longUID.output.count < 1_000
                && !longUID.output.unicodeScalars.contains("\u{1B}"), "\(longUID.output.prefix(300))")
        let unknown = try await run(["delete", TaskUID.make()], dataDir: directory.path)
        #expect(unknown.status != 0 && unknown.output.contains("no such task"))
        #expect(try await run(["requeue", task.taskUID], dataDir: directory.path).output.contains("Task re-queued"))
        #expect(try await run(["delete", task.taskUID], dataDir: directory.path).output.contains("Task deleted"))
        #expect(try await run(["tasks"], dataDir: directory.path).output.contains("no tasks"))
    }

    @Test("commands that create LimsQueue's tables refuse a PostgreSQL URL without a database name, before connecting")
    func postgresURLWithoutDatabaseRefused() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        for url in ["postgres://postgres@127.0.0.1:1", "postgres://postgres@127.0.0.1:1/", "postgres://postgres@/?host=/nonexistent&port=1"] {
            // Run without the test database's arguments (the PostgreSQL pass would add its own URL after this one).
            let refused = try await ChildProcess.run(LimsProcess.binary, ["migrate", "--database", url, "--data-dir", directory.path])
            #expect(refused.status != 0)
            #expect(refused.output.contains("the URL names no database"), "\(refused.output)")
        }
    }

    @Test("admin commands refuse a PostgreSQL database without LimsQueue's tables instead of creating them (PostgreSQL)",
          .enabled(if: TestDatabase.postgresURL != nil, "PostgreSQL case: set LIMSQUEUE_TEST_POSTGRES_URL"))
    func emptyPostgresRefused() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let url = try #require(try await TestDatabase.url(forDataDir: directory.path, backend: .postgres))
        for command in [["status"], ["tasks"], ["settings"]] {
            let refused = try await run(command + ["--database", url], dataDir: directory.path)
            #expect(refused.status == 1 && refused.output.contains("no LimsQueue tables"), "\(command): \(refused.output.suffix(300))")
        }
        #expect(try await TestDatabase.psql(url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").trimmingCharacters(in: .whitespacesAndNewlines) == "0")
        #expect(try await run(["migrate", "--database", url], dataDir: directory.path).status == 0)
        #expect(try await run(["status", "--database", url], dataDir: directory.path).status == 0)
    }

    @Test("bench queue runs on a database of its own and puts max_consumers back; it refuses one that holds a lab's users or history (PostgreSQL)",
          .enabled(if: TestDatabase.postgresURL != nil, "PostgreSQL case: set LIMSQUEUE_TEST_POSTGRES_URL"))
    func benchRefusesLabDatabase() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let url = try #require(try await TestDatabase.url(forDataDir: directory.path, backend: .postgres))
        #expect(try await run(["migrate", "--database", url], dataDir: directory.path).status == 0)
        // A lab's own max_consumers, which the bench raises while it runs.
        #expect(try await run(["settings", "set", "max_consumers", "3", "--database", url], dataDir: directory.path).status == 0)
        func settings() async throws -> String { try await run(["settings", "--database", url], dataDir: directory.path).output }
        let before = try await settings()
        #expect(before.contains("max_consumers"), "\(before)")
        func bench() async throws -> (status: Int32, output: String) {
            let finished = try await ChildProcess.run(LimsProcess.binary, ["bench", "queue", "--database", url, "--tasks", "20",
                                                                     "--latency-tasks", "0", "--consumers", "4"])
            return (finished.status, finished.output)
        }
        let ran = try await bench()
        #expect(ran.status == 0 && ran.output.contains("tasks/s"), "\(ran.output.suffix(400))")
        #expect(try await settings() == before)
        // Interrupted (Ctrl-C) while it runs: max_consumers put back, its tasks removed (a tryout's were left raised
        // for good, with 34,000 tasks queued).
        func maxConsumers() async throws -> String {
            try await run(["settings", "get", "max_consumers", "--database", url], dataDir: directory.path).output
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let long = try ChildProcess(LimsProcess.binary, ["bench", "queue", "--database", url, "--tasks", "200000",
                                                         "--latency-tasks", "0", "--consumers", "8"],
                                    output: .file(directory.path + "/interrupted-bench.log"))
        try await eventually(60, "the bench raising max_consumers") { try await maxConsumers() == "8" }
        long.signal(SIGINT)
        #expect(await long.wait(seconds: 60) == 128 + SIGINT)
        #expect(try await maxConsumers() == "3")
        #expect(try await TestDatabase.psql(url, "SELECT count(*) FROM queue_tasks").trimmingCharacters(in: .whitespacesAndNewlines) == "0")
        // A lab with a user and nothing queued or recorded yet: refused (a tryout's bench ran beside such a lab's server).
        #expect(try await run(["users", "add", "rita", "--role", "Analyst", "--database", url], dataDir: directory.path).status == 0)
        let withUser = try await bench()
        #expect(withUser.status == 1 && withUser.output.contains("holds a lab's objects, tasks or history"), "\(withUser.output.suffix(400))")
        #expect(!withUser.output.contains("Usage:"), "a refusal, not a usage error")
        // A lab's history (one done task): refused, nothing emptied.
        _ = try await TestDatabase.psql(url, """
            INSERT INTO queue_history (entry_uid, task_uid, name, context_uid, context_path, path_key, username, consumer_id,
            outcome, error_message, created, started, finished) VALUES ('lab-entry', 'lab-task', 'task_action_submit', 'ws-uid',
            '/senaite/worksheets/WS-1', 'WS-1', 'rita', 'consumer-1', 'done', NULL, 1, 2, 3)
            """)
        let refused = try await bench()
        #expect(refused.status != 0 && refused.output.contains("holds a lab's objects, tasks or history"), "\(refused.output.suffix(400))")
        #expect(try await TestDatabase.psql(url, "SELECT count(*) FROM queue_history WHERE entry_uid = 'lab-entry'").trimmingCharacters(in: .whitespacesAndNewlines) == "1")
    }

    @Test("bench store runs on a database of its own, twice, leaving no task; it refuses one that holds a lab's queued task and leaves the task (PostgreSQL)",
          .enabled(if: TestDatabase.postgresURL != nil, "PostgreSQL case: set LIMSQUEUE_TEST_POSTGRES_URL"))
    func benchStoreRefusesLabDatabase() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let url = try #require(try await TestDatabase.url(forDataDir: directory.path, backend: .postgres))
        #expect(try await run(["migrate", "--database", url], dataDir: directory.path).status == 0)
        func bench() async throws -> (status: Int32, output: String) {
            let finished = try await ChildProcess.run(LimsProcess.binary, ["bench", "store", "--database", url, "--tasks", "20"])
            return (finished.status, finished.output)
        }
        func count(_ table: String) async throws -> String {
            try await TestDatabase.psql(url, "SELECT count(*) FROM \(table)").trimmingCharacters(in: .whitespacesAndNewlines)
        }
        // Twice: its own rows of the first run are no lab's.
        for _ in 0..<2 {
            let ran = try await bench()
            #expect(ran.status == 0 && ran.output.contains("pop + done") && ran.output.contains("PostgreSQL"), "\(ran.output.suffix(400))")
            #expect(try await count("queue_tasks") == "0")
            #expect(try await count("queue_history") == "0")
        }
        // A lab's queued task (a tryout's was claimed and reported done without running): refused, the task kept.
        _ = try await TestDatabase.psql(url, """
            INSERT INTO queue_tasks (task_uid, name, context_uid, path_key, status, top_rank, sort_key, available_at, created,
            max_seconds, body) VALUES ('0123456789abcdef0123456789abcdef', 'task_action_submit', 'ws-uid', 'WS-1', 'queued',
            0, 1, 1, 1, 120, '{}')
            """)
        let refused = try await bench()
        #expect(refused.status == 1 && refused.output.contains("holds a lab's objects, tasks or history"), "\(refused.output.suffix(400))")
        #expect(try await count("queue_tasks") == "1")
    }

    @Test("limsqueue migrate started 4 times at once on a new database: each succeeds (a tryout saw all but one fail)")
    func concurrentMigrations() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let arguments = ["migrate"] + (try await TestDatabase.arguments(dataDir: directory.path)) + ["--log-level", "warning"]
        var children: [(ChildProcess, String)] = []
        for index in 0..<4 {
            let log = directory.path + "/migrate-\(index).log"
            children.append((try ChildProcess(LimsProcess.binary, arguments, output: .file(log)), log))
        }
        for (index, (child, log)) in children.enumerated() {
            let status = await child.wait(seconds: 120)
            #expect(status == 0, "migrate \(index): \(((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").suffix(600))")
        }
        #expect(try await run(["status"], dataDir: directory.path).status == 0)
    }

    @Test("a PostgreSQL that cannot be reached is named with the network's error, not PostgresNIO's generic description")
    func unreachablePostgres() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let refused = try await run(["status", "--database", "postgres://postgres@127.0.0.1:1/lab"], dataDir: directory.path)
        #expect(refused.status == 1 && refused.output.contains("cannot connect to PostgreSQL") && refused.output.contains("Connection refused"),
                "\(refused.output.suffix(400))")
        #expect(!refused.output.contains("Generic description"))
    }

    @Test("keygen prints a Fernet key; a bad LIMSQUEUE_AUTH_KEY is refused")
    func keys() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let key = try await run(["keygen"], dataDir: directory.path).output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(key.count == 44)
        let refused = try await runLimsQueue(["consumer", "--server", "http://127.0.0.1:9"], dataDir: directory.path,
                                       environment: ["LIMSQUEUE_AUTH_KEY": "not-a-key"])
        #expect(refused.status != 0 && refused.output.contains("LIMSQUEUE_AUTH_KEY"))
    }

    /// A tryout's consumer on a machine of its own (`--no-lims`, key from the environment) left an empty `./var`.
    @Test("consumer --no-lims with LIMSQUEUE_AUTH_KEY opens no database and makes no data directory; SIGTERM stops it")
    func consumerWithoutLab() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let key = try await run(["keygen"], dataDir: directory.path).output.trimmingCharacters(in: .whitespacesAndNewlines)
        let dataDir = directory.path + "/var"
        var environment = ProcessInfo.processInfo.environment
        environment["LIMSQUEUE_AUTH_KEY"] = key
        let log = directory.path + "/consumer.log"
        // Port 9 (discard) refuses connections: the consumer backs off and goes on trying.
        let consumer = try ChildProcess(LimsProcess.binary, ["consumer", "--no-lims", "--server", "http://127.0.0.1:9",
                                                             "--consumer-id", "elsewhere-1", "--data-dir", dataDir],
                                        environment: environment, output: .file(log))
        try await eventually(60, "the consumer trying the server") {
            !((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").isEmpty
        }
        consumer.signal(SIGTERM)
        #expect(await consumer.wait(seconds: 30) == 0)
        #expect(!FileManager.default.fileExists(atPath: dataDir), "\((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        // Without the key a database must exist to read it from: a new one's key would not be the server's (a tryout's
        // consumer was answered 401 on every pop).
        guard !TestDatabase.isPostgres else { return }
        var withoutKey = ProcessInfo.processInfo.environment
        withoutKey["LIMSQUEUE_AUTH_KEY"] = nil
        let refused = try await runLimsQueue(["consumer", "--no-lims", "--server", "http://127.0.0.1:9"],
                                       dataDir: dataDir, environment: withoutKey)
        #expect(refused.status != 0 && refused.output.contains(dataDir) && refused.output.contains("LIMSQUEUE_AUTH_KEY"),
                "\(refused.output)")
        #expect(!FileManager.default.fileExists(atPath: dataDir + "/limsqueue.sqlite"))
    }

    /// Issue 13, finding 10: a wrong `--data-dir` (or none, in another directory) must not silently start an empty
    /// queue.
    @Test("status, tasks, key, settings, requeue and delete refuse a data dir without a database, naming the path; migrate creates it")
    func missingDatabaseRefused() async throws {
        guard !TestDatabase.isPostgres else { return } // the check is for the SQLite file of a data directory
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let dataDir = directory.path + "/typo"
        let path = dataDir + "/limsqueue.sqlite"
        for arguments in [["status"], ["tasks"], ["key"], ["settings"], ["settings", "get", "default"],
                          ["requeue", TaskUID.make()], ["delete", TaskUID.make()]] {
            let refused = try await run(arguments, dataDir: dataDir)
            #expect(refused.status != 0, "\(arguments) succeeded")
            #expect(refused.output.contains("no LimsQueue database at \(path)"), "\(arguments): \(refused.output)")
            #expect(!FileManager.default.fileExists(atPath: path), "\(arguments) created the database")
        }
        #expect(try await run(["migrate"], dataDir: dataDir).status == 0)
        #expect(FileManager.default.fileExists(atPath: path))
        #expect(try await run(["status"], dataDir: dataDir).status == 0)
        // --window: a negative value is read as the option's value (not as an unknown option) and refused like 0.5.
        for window in ["-5", "0.5", "1e19"] {
            let refused = try await run(["status", "--window", window], dataDir: dataDir)
            #expect(refused.status != 0 && refused.output.contains("--window must be seconds in 1..."), "\(window): \(refused.output)")
        }
        #expect(try await run(["status", "--window", "1"], dataDir: dataDir).status == 0)
    }

    /// Issue 13, finding 11: `serve` on an empty lab without a workbook fails with a clear message instead of serving
    /// a lab where every login gets 401.
    @Test("serve without users or a setup workbook exits with a message saying where it looked and what to do")
    func serveWithoutUsersRefused() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let elsewhere = directory.path + "/elsewhere"
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        var environment = ProcessInfo.processInfo.environment
        environment["SENAITE_SETUP_XLSX"] = nil
        let refused = try await runLimsQueue(["serve", "--port", "0"], dataDir: directory.path + "/data", environment: environment,
                                       directory: elsewhere, timeoutSeconds: 60)
        #expect(refused.status != 0)
        #expect(refused.output.contains("has no users") && refused.output.contains("--setup FILE.xlsx"), "\(refused.output)")
        #expect(refused.output.contains("elsewhere/data/senaite-setup-test.xlsx"), "says where it looked: \(refused.output)")
    }

    @Test("serve, server and web on a port another program holds: exit 1 naming the address, before anything is imported")
    func portInUseRefused() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        // A listening socket of this test process holds the port.
        let holder = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(holder.localAddress?.port)
        for command in ["serve", "server", "web"] {
            let data = directory.path + "/\(command)"
            let refused = try await run([command, "--port", "\(port)"], dataDir: data)
            #expect(refused.status == 1, "\(command): \(refused.output)")
            #expect(refused.output.contains("Cannot listen on 127.0.0.1:\(port)") && refused.output.contains("--port"),
                    "\(command): \(refused.output)")
            #expect(!FileManager.default.fileExists(atPath: data + "/limsqueue.sqlite"), "\(command) created a database")
        }
        try await holder.close()
    }

    /// Issue 13, finding 18: user accounts from the command line.
    @Test("users: add (random password printed once), list, set roles, reset password, deactivate and activate; bad roles named")
    func users() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        #expect(try await run(["users", "list"], dataDir: directory.path).status != 0, "no database yet")
        #expect(try await run(["migrate"], dataDir: directory.path).status == 0)
        #expect(try await run(["users", "list"], dataDir: directory.path).output.contains("no users"))
        let added = try await run(["users", "add", "boss", "--role", "LabManager", "--fullname", "Lab Boss"], dataDir: directory.path)
        #expect(added.status == 0 && added.output.contains("added: boss\tLabManager\tactive\tLab Boss"), "\(added.output)")
        let password = added.output.split(separator: "\n").first { $0.hasPrefix("password: ") }.map { String($0.dropFirst(10)) }
        #expect(password?.count == 16)
        let badRole = try await run(["users", "add", "x", "--role", "Wizard"], dataDir: directory.path)
        #expect(badRole.status != 0 && badRole.output.contains("unknown role 'Wizard'"))
        let client = try await run(["users", "add", "y", "--role", "Client"], dataDir: directory.path)
        #expect(client.status != 0 && client.output.contains("'roles'"))
        #expect(try await run(["users", "add", "boss", "--role", "Analyst"], dataDir: directory.path).status != 0, "taken")
        #expect(try await run(["users", "set", "boss", "--role", "Analyst", "--role", "Verifier"], dataDir: directory.path)
                    .output.contains("boss\tAnalyst,Verifier\tactive"))
        let reset = try await run(["users", "reset-password", "boss"], dataDir: directory.path)
        #expect(reset.status == 0 && reset.output.contains("password reset for boss") && reset.output.contains("password: "))
        #expect(try await run(["users", "deactivate", "boss"], dataDir: directory.path).output.contains("deactivated boss"))
        #expect(try await run(["users", "list"], dataDir: directory.path).output.contains("boss\tAnalyst,Verifier\tdeactivated"))
        #expect(try await run(["users", "activate", "boss"], dataDir: directory.path).output.contains("activated boss"))
        #expect(try await run(["users", "deactivate", "nobody"], dataDir: directory.path).output.contains("no user 'nobody'"))
        // A full name holding terminal controls is listed escaped.
        #expect(try await run(["users", "add", "odd", "--role", "Analyst", "--fullname", "a\u{1B}[2Jb\rEVIL"], dataDir: directory.path).status == 0)
        let listed = try await run(["users", "list"], dataDir: directory.path).output
        #expect(listed.contains("a\\u{1B}[2Jb\\rEVIL") && !listed.contains("\u{1B}"), "\(listed)")
    }

    /// Issue 13, finding 14: requeue and delete take several uids and filters.
    @Test("requeue and delete take several uids, or --status/--name filters")
    func bulkTaskCommands() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let now = Date().timeIntervalSince1970
        let environment = try await StorageEnvironment.open(dataDir: directory.path, database: try await TestDatabase.url(for: directory), logger: .init(label: "test"))
        let tasks = (0..<4).map { QueueTask(name: $0 < 3 ? "task_a" : "task_b", contextUID: TaskUID.make(), contextPath: "/senaite/x/\($0)",
                                            created: now + Double($0), username: "labman") }
            + (0..<25).map { QueueTask(name: "task_c", contextUID: TaskUID.make(), contextPath: "/senaite/y/\($0)",
                                       created: now + 10 + Double($0), username: "labman") }
        _ = try await environment.store.add(tasks, now: now)
        await environment.close()
        let two = try await run(["requeue", tasks[0].taskUID, tasks[1].taskUID], dataDir: directory.path)
        #expect(two.status == 0 && two.output.contains("2 of 2 task(s) re-queued"), "\(two.output)")
        let byName = try await run(["delete", "--status", "queued", "--name", "task_a"], dataDir: directory.path)
        #expect(byName.status == 0 && byName.output.contains("3 of 3 task(s) deleted"), "\(byName.output)")
        // A tryout's `delete --name X` of 30,000 tasks printed a line each: 20 are listed, the others counted.
        let many = try await run(["delete", "--name", "task_c"], dataDir: directory.path)
        #expect(many.status == 0 && many.output.contains("25 of 25 task(s) deleted") && many.output.contains("... and 5 more deleted"),
                "\(many.output)")
        #expect(many.output.components(separatedBy: "Task deleted: ").count == 21, "\(many.output)")
        #expect(try await run(["tasks"], dataDir: directory.path).output.contains("1 task(s)"))
        #expect(try await run(["delete"], dataDir: directory.path).status != 0, "nothing selected")
        #expect(try await run(["delete", "--status", "done"], dataDir: directory.path).output.contains("--status must be"))
    }

    @Test("backup: a consistent copy of the live SQLite database (the write-ahead log's commits included) that a new data dir runs on; refusals named")
    func backup() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let now = Date().timeIntervalSince1970
        if try await TestDatabase.url(for: directory) != nil {
            // PostgreSQL: the server's tools back up.
            let refused = try await run(["backup", directory.path + "/copy.sqlite"], dataDir: directory.path)
            #expect(refused.status != 0 && refused.output.contains("pg_dump"), "\(refused.output)")
            return
        }
        // Tasks written by a process that keeps the database open: their commits are in the -wal file, not yet in
        // the database file a plain copy would take.
        let environment = try await StorageEnvironment.open(dataDir: directory.path, logger: .init(label: "test"))
        let tasks = (0..<12).map { QueueTask(name: "task_a", contextUID: TaskUID.make(), contextPath: "/senaite/x/\($0)",
                                             created: now + Double($0), username: "labman") }
        _ = try await environment.store.add(tasks, now: now)
        let copies = directory.path + "/copies"
        try FileManager.default.createDirectory(atPath: copies, withIntermediateDirectories: true)
        let written = try await run(["backup", copies], dataDir: directory.path)
        await environment.close()
        #expect(written.status == 0 && written.output.contains("tasks: 12 queued, 0 running, 0 failed") && written.output.contains("check ok"),
                "\(written.output)")
        let files = try FileManager.default.contentsOfDirectory(atPath: copies)
        #expect(files.count == 1 && files[0].hasPrefix("limsqueue-") && files[0].hasSuffix(".sqlite"), "\(files)")
        // Restored as another data dir's database, it serves the same queue.
        let restored = directory.path + "/restored"
        try FileManager.default.createDirectory(atPath: restored, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: copies + "/" + files[0], toPath: restored + "/limsqueue.sqlite")
        let listed = try await run(["tasks"], dataDir: restored)
        #expect(listed.status == 0 && listed.output.contains("12 task(s)"), "\(listed.output)")
        // Refusals: an existing file is never overwritten, a missing directory or database is named; nothing is left behind.
        let again = try await run(["backup", restored + "/limsqueue.sqlite"], dataDir: directory.path)
        #expect(again.status != 0 && again.output.contains("exists"), "\(again.output)")
        let nowhere = try await run(["backup", directory.path + "/no/such/dir/copy.sqlite"], dataDir: directory.path)
        #expect(nowhere.status != 0 && nowhere.output.contains("does not exist"), "\(nowhere.output)")
        let empty = try await run(["backup", directory.path + "/copy.sqlite"], dataDir: directory.path + "/empty")
        #expect(empty.status != 0 && empty.output.contains("no LimsQueue database"), "\(empty.output)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: copies).count == 1)
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/copy.sqlite"))
        // A second backup into the directory within the same second takes the next dated name; the partial copy of a
        // backup that was killed is removed; a name SQLite could read as a URI is a plain file; a dangling symbolic
        // link and a missing directory written with a trailing / are refused.
        FileManager.default.createFile(atPath: copies + "/.limsqueue-backup-2147483647.partial", contents: Data("stale".utf8))
        let beside = try await run(["backup", copies], dataDir: directory.path)
        let besideAgain = try await run(["backup", copies], dataDir: directory.path)
        #expect(beside.status == 0 && besideAgain.status == 0, "\(beside.output) \(besideAgain.output)")
        let names = try FileManager.default.contentsOfDirectory(atPath: copies).sorted()
        #expect(names.count == 3 && !names.contains { $0.hasPrefix(".") }, "\(names)")
        let uri = try await run(["backup", "file:copy.sqlite"], dataDir: directory.path, in: copies)
        #expect(uri.status == 0 && FileManager.default.fileExists(atPath: copies + "/file:copy.sqlite"), "\(uri.output)")
        try FileManager.default.createSymbolicLink(atPath: copies + "/dangling", withDestinationPath: directory.path + "/nowhere/x.sqlite")
        let dangling = try await run(["backup", copies + "/dangling"], dataDir: directory.path)
        #expect(dangling.status != 0 && dangling.output.contains("exists"), "\(dangling.output)")
        let journal = try await run(["backup", StorageEnvironment.sqlitePath(dataDir: directory.path) + "-journal"], dataDir: directory.path)
        #expect(journal.status != 0 && journal.output.contains("SQLite uses"), "\(journal.output)")
        let slash = try await run(["backup", directory.path + "/newdir/"], dataDir: directory.path)
        #expect(slash.status != 0 && slash.output.contains("does not exist"), "\(slash.output)")
    }

    @Test("restore: refused while a process has the database open; puts a checked backup in place and keeps the replaced database; refusals leave everything as it was")
    func restore() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let now = Date().timeIntervalSince1970
        func tasks(_ name: String, _ count: Int) -> [QueueTask] {
            (0..<count).map { QueueTask(name: name, contextUID: TaskUID.make(), contextPath: "/senaite/x/\($0)",
                                        created: now + Double($0), username: "labman") }
        }
        if try await TestDatabase.url(for: directory) != nil {
            // PostgreSQL: the server's tools restore.
            let refused = try await run(["restore", directory.path + "/copy.sqlite"], dataDir: directory.path)
            #expect(refused.status != 0 && refused.output.contains("pg_restore"), "\(refused.output)")
            return
        }
        let live = StorageEnvironment.sqlitePath(dataDir: directory.path)
        let environment = try await StorageEnvironment.open(dataDir: directory.path, logger: .init(label: "test"))
        _ = try await environment.store.add(tasks("task_a", 12), now: now)
        let backup = directory.path + "/backup.sqlite"
        #expect(try await run(["backup", backup], dataDir: directory.path).status == 0)
        // A process has the database open: refused, nothing changed, no partial copy left.
        let busy = try await run(["restore", backup], dataDir: directory.path)
        // (This test process holds it: named by its pid.)
        #expect(busy.status != 0 && busy.output.contains(live) && busy.output.contains("pid \(getpid())")
                && busy.output.contains("nothing was changed"), "\(busy.output)")
        _ = try await environment.store.add(tasks("task_b", 3), now: now)
        await environment.close()
        func entries() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() }
        #expect(try !entries().contains { $0.hasPrefix(".limsqueue-restore-") })
        #expect(try await run(["tasks"], dataDir: directory.path).output.contains("15 task(s)"))

        // Refusals, each naming what is wrong and leaving the database and the directory as they were.
        let notADatabase = directory.path + "/notes.sqlite"
        FileManager.default.createFile(atPath: notADatabase, contents: Data("not a database".utf8))
        let foreign = directory.path + "/foreign"
        try FileManager.default.createDirectory(atPath: foreign, withIntermediateDirectories: true)
        let foreignDatabase = try InlineSQLiteConnection(path: foreign + "/other.sqlite", logger: .init(label: "test"),
                                                         eventLoop: MultiThreadedEventLoopGroup.singleton.next())
        try await foreignDatabase.raw("CREATE TABLE samples (id TEXT)").run()
        foreignDatabase.close()
        let newer = directory.path + "/newer"
        #expect(try await run(["migrate"], dataDir: newer).status == 0)
        let newerEnvironment = try await StorageEnvironment.open(dataDir: newer, logger: .init(label: "test"))
        try await #require(newerEnvironment.store.database as? any SQLDatabase).raw("""
            INSERT INTO _fluent_migrations (id, name, batch, created_at, updated_at)
            VALUES ('00000000-0000-0000-0000-000000000001', 'limsqueue-9999-future', 99, NULL, NULL)
            """).run()
        await newerEnvironment.close()
        let empty = foreign + "/empty.sqlite"
        FileManager.default.createFile(atPath: empty, contents: Data())
        let withLog = foreign + "/with-log.sqlite"
        try FileManager.default.copyItem(atPath: backup, toPath: withLog)
        FileManager.default.createFile(atPath: withLog + "-wal", contents: Data(repeating: 1, count: 64))
        let refusals: [(String, String)] = [
            ("", "argument is empty"), (directory.path + "/missing.sqlite", "No such file"), (foreign, "is a directory"),
            (live, "database itself"), (notADatabase, "not a LimsQueue database"), (foreign + "/other.sqlite", "not a LimsQueue database"),
            (StorageEnvironment.sqlitePath(dataDir: newer), "limsqueue-9999-future"), (withLog, "-wal lies beside"),
            (empty, "is empty"),
        ]
        let before = try entries()
        for (file, reason) in refusals {
            let refused = try await run(["restore", file], dataDir: directory.path)
            #expect(refused.status != 0 && refused.output.contains(reason), "\(file): \(refused.output)")
        }
        #expect(try entries() == before)
        #expect(try await run(["tasks"], dataDir: directory.path).output.contains("15 task(s)"))

        // Restored: the backup's 12 tasks; the replaced database, with all 15, kept beside it.
        let restored = try await run(["restore", backup], dataDir: directory.path)
        #expect(restored.status == 0 && restored.output.contains("12 queued") && restored.output.contains("check ok"), "\(restored.output)")
        #expect(try await run(["tasks"], dataDir: directory.path).output.contains("12 task(s)"))
        let after = try entries()
        let kept = after.filter { $0.hasPrefix("limsqueue-replaced-") && $0.hasSuffix(".sqlite") }
        #expect(kept.count == 1 && restored.output.contains(kept.first ?? "?"), "\(after) \(restored.output)")
        let keptDir = directory.path + "/kept"
        try FileManager.default.createDirectory(atPath: keptDir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: directory.path + "/" + kept[0], toPath: StorageEnvironment.sqlitePath(dataDir: keptDir))
        #expect(try await run(["tasks"], dataDir: keptDir).output.contains("15 task(s)"))
        #expect(try !entries().contains { $0.hasPrefix(".limsqueue-restore-") || $0.hasSuffix("-wal") })
        // A data directory without a database (a new machine) gets the backup as its database; a file name holding a
        // newline is printed escaped, on one line.
        let fresh = directory.path + "/fresh/var"
        let oddName = directory.path + "/odd\nname.sqlite"
        try FileManager.default.copyItem(atPath: backup, toPath: oddName)
        let first = try await run(["restore", oddName], dataDir: fresh)
        #expect(first.status == 0 && first.output.contains("had no database") && first.output.contains("odd\\nname.sqlite"), "\(first.output)")
        #expect(try await run(["tasks"], dataDir: fresh).output.contains("12 task(s)"))

        // A relative symbolic link to the backup is followed (a tryout's link was copied as a link, read from the data
        // directory); the restored file keeps the replaced database's permissions.
        let links = directory.path + "/links"
        try FileManager.default.createDirectory(atPath: links, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: backup, toPath: links + "/real.sqlite")
        try FileManager.default.createSymbolicLink(atPath: links + "/latest.sqlite", withDestinationPath: "real.sqlite")
        chmod(StorageEnvironment.sqlitePath(dataDir: fresh), 0o640)
        let viaLink = try await run(["restore", links + "/latest.sqlite"], dataDir: fresh)
        #expect(viaLink.status == 0 && viaLink.output.contains(links + "/real.sqlite"), "\(viaLink.output)")
        let restoredFile = try FileManager.default.attributesOfItem(atPath: StorageEnvironment.sqlitePath(dataDir: fresh))
        #expect(restoredFile[.type] as? FileAttributeType == .typeRegular && (restoredFile[.posixPermissions] as? Int) == 0o640,
                "\(restoredFile)")
        // A write-ahead log left beside a database that is gone is set aside, not applied to the backup.
        let orphaned = directory.path + "/orphaned"
        try FileManager.default.createDirectory(atPath: orphaned, withIntermediateDirectories: true)
        let orphanLog = StorageEnvironment.sqlitePath(dataDir: orphaned) + "-wal"
        FileManager.default.createFile(atPath: orphanLog, contents: Data(repeating: 7, count: 4_096))
        let setAside = try await run(["restore", backup], dataDir: orphaned)
        #expect(setAside.status == 0 && setAside.output.contains("set aside") && !FileManager.default.fileExists(atPath: orphanLog),
                "\(setAside.output)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: orphaned).contains { $0.hasPrefix("limsqueue-orphaned-") && $0.hasSuffix(".sqlite-wal") })
        #expect(try await run(["tasks"], dataDir: orphaned).output.contains("12 task(s)"))
        // A server whose database file was deleted under it still writes into it: refused, naming it (a tryout's
        // restore went ahead and two databases were served).
        let deleted = directory.path + "/deleted"
        let holder = try await StorageEnvironment.open(dataDir: deleted, logger: .init(label: "test"))
        _ = try await holder.store.add(tasks("task_c", 2), now: now)
        unlink(StorageEnvironment.sqlitePath(dataDir: deleted))
        let whileDeleted = try await run(["restore", backup], dataDir: deleted)
        await holder.close()
        #expect(whileDeleted.status != 0 && whileDeleted.output.contains("pid \(getpid())") && whileDeleted.output.contains("nothing was changed"),
                "\(whileDeleted.output)")
        #expect(!FileManager.default.fileExists(atPath: StorageEnvironment.sqlitePath(dataDir: deleted)))
        // A database too damaged to open is set aside and replaced (it is what a restore is for).
        let damaged = directory.path + "/damaged"
        try FileManager.default.createDirectory(atPath: damaged, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: StorageEnvironment.sqlitePath(dataDir: damaged), contents: Data("garbage, not SQLite".utf8))
        let replacedDamaged = try await run(["restore", backup], dataDir: damaged)
        #expect(replacedDamaged.status == 0 && replacedDamaged.output.contains("damaged"), "\(replacedDamaged.output)")
        #expect(try await run(["tasks"], dataDir: damaged).output.contains("12 task(s)"))
    }

    /// Issue 13, finding 16: `demo run > file` shows its progress as it goes, not when it ends.
    @Test("demo run > file: the progress lines reach the file while the run still goes")
    func demoRunFlushesProgress() async throws {
        let router = Router()
        router.get("/@@API/senaite/v1/queue_status") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"],
                     body: .init(byteBuffer: .init(string: #"{"success": true, "status": "ready", "queued": 0}"#)))
        }
        router.get("/@@API/senaite/v1/User") { _, _ -> Response in
            try await Task.sleep(for: .seconds(5)) // the demo then waits here, still running
            return Response(status: .ok)
        }
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: logger)
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/demo.txt"
        FileManager.default.createFile(atPath: path, contents: nil)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            // As `demo run > file`.
            let process = try ChildProcess(LimsProcess.binary, ["demo", "run", "--server", "http://127.0.0.1:\(port)", "--log-level", "error"],
                                           output: .file(path), errors: .null)
            defer { process.signal(SIGTERM) }
            var output = ""
            for _ in 0..<100 where !output.contains("queue status") {
                try await Task.sleep(for: .milliseconds(100))
                output = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            }
            #expect(output.contains("• queue status: ready"), "got: \(output)")
            #expect(process.isRunning, "the line reached the file while the run was still going")
        }
    }
}

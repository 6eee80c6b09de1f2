// swift-tools-version:6.2
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

/// What the test targets that run the real store and the HTTP stack import.
let integrationTestDependencies: [Target.Dependency] = [
    "TestSupport", "QueueCore", "QueueAuth", "Storage", "QueueServer", "Consumer", "LimsQueueCLI", "QueueTesting", "LimsTasks",
    "LIMSCore", "LimsAPI", "WebUI", "LabActions", "InlineSQLite",
    .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
    .product(name: "FluentKit", package: "fluent-kit"),
    .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
    .product(name: "FluentSQLiteDriver", package: "fluent-sqlite-driver"),
    .product(name: "HummingbirdTesting", package: "hummingbird"),
    .product(name: "AsyncHTTPClient", package: "async-http-client"),
]

let package = Package(
    name: "LimsQueue",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "limsqueue", targets: ["LimsQueueCLI"]),
        .library(name: "QueueCore", targets: ["QueueCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.0"),
        .package(url: "https://github.com/vapor/fluent-kit.git", from: "1.57.0"),
        .package(url: "https://github.com/vapor/fluent-sqlite-driver.git", from: "4.9.0"),
        .package(url: "https://github.com/vapor/fluent-postgres-driver.git", from: "2.14.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/vapor/postgres-kit.git", from: "2.17.0"),
        .package(url: "https://github.com/vapor/sql-kit.git", from: "3.36.0"),
        .package(url: "https://github.com/vapor/sqlite-kit.git", from: "4.5.2"),
        .package(url: "https://github.com/vapor/sqlite-nio.git", from: "1.13.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation.git", from: "0.9.20"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/CoreOffice/XMLCoder.git", from: "0.18.2"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // Pure queue rules: task model, settings, ordering, claim rules, state changes. Foundation only.
        .target(name: "QueueCore", swiftSettings: swiftSettings),
        // Pure SENAITE core: lab objects, workflows with guards, worksheet layout and templates, permissions.
        .target(name: "LIMSCore", dependencies: ["QueueCore"], swiftSettings: swiftSettings),
        // The use cases: what each lab action does and queues, over a LabRepository; domain errors without HTTP
        // statuses; the LIMS task kinds. Used by the LIMS API, the web pages and the task handlers.
        .target(name: "LabActions", dependencies: ["LIMSCore", "QueueCore"], swiftSettings: swiftSettings),
        // The LIMS task kinds: TaskHandlers acting on the lab through a LabRepository.
        .target(name: "LimsTasks", dependencies: ["LIMSCore", "QueueCore", "Consumer", "LabActions"], swiftSettings: swiftSettings),
        // Reader of SENAITE's setup-data workbook (.xlsx).
        .target(
            name: "SetupWorkbook",
            dependencies: [
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
                .product(name: "XMLCoder", package: "XMLCoder"),
            ],
            swiftSettings: swiftSettings
        ),
        // SENAITE setup-data workbook -> lab objects (validate everything, then apply; idempotent).
        .target(name: "SetupImport", dependencies: ["LIMSCore", "SetupWorkbook"], swiftSettings: swiftSettings),
        // Fernet tokens (X-Queue-Auth-Token), shared by server and consumer.
        .target(
            name: "QueueAuth",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // FluentKit + SQLKit storage (one code path for every SQL database).
        .target(
            name: "Storage",
            dependencies: [
                "QueueCore", "LIMSCore", "PostgresStatements",
                .product(name: "FluentKit", package: "fluent-kit"),
                .product(name: "FluentSQL", package: "fluent-kit"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // PostgreSQL's statement cache: frequent statements run as named prepared statements (PostgresNIO's API),
        // the SQL unchanged.
        .target(
            name: "PostgresStatements",
            dependencies: [
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "PostgresKit", package: "postgres-kit"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The single writer's SQLite connection: statements run on the calling thread from prepared statements, on
        // the SQLite library sqlite-nio vendors (one copy of SQLite per process), under SQLKit.
        .target(
            name: "InlineSQLite",
            dependencies: [
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "SQLiteKit", package: "sqlite-kit"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Hummingbird 2 queue server speaking senaite.queue's JSON protocol.
        .target(
            name: "QueueServer",
            dependencies: [
                "QueueCore", "QueueAuth",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        // LIMS JSON API (senaite.jsonapi style) over a LabRepository; never imports Storage.
        .target(
            name: "LimsAPI",
            dependencies: [
                "LIMSCore", "QueueCore", "QueueAuth", "QueueServer", "LabActions",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // Server-rendered web pages (swift-mustache): login, queue monitor and settings, worksheets, samples.
        // Never imports Storage: it works on a LabRepository and a QueueStore.
        .target(
            name: "WebUI",
            dependencies: [
                "LIMSCore", "QueueCore", "QueueServer", "LimsAPI", "LabActions",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Consumer: long-polls pop over HTTP and runs task handlers.
        .target(
            name: "Consumer",
            dependencies: [
                "QueueCore", "QueueAuth",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Test helpers (manual clock, task factory); never a dependency of production targets.
        .target(name: "QueueTesting", dependencies: ["QueueCore"], swiftSettings: swiftSettings),
        // Composition root: the `limsqueue` command.
        .executableTarget(
            name: "LimsQueueCLI",
            dependencies: [
                "QueueCore", "QueueAuth", "Storage", "QueueServer", "Consumer", "LIMSCore", "SetupWorkbook", "SetupImport", "LimsTasks",
                "LimsAPI", "WebUI", "LabActions", "InlineSQLite",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "FluentSQLiteDriver", package: "fluent-sqlite-driver"),
                .product(name: "FluentPostgresDriver", package: "fluent-postgres-driver"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        // Test helpers shared by the test targets (store fixture and backends, HTTP test clients, the seeded lab,
        // the `limsqueue` process harness). Test-only: built with the tests, never a product's dependency.
        .target(
            name: "TestSupport",
            dependencies: [
                "QueueCore", "QueueTesting", "Storage", "LIMSCore", "LimsAPI", "WebUI", "LimsQueueCLI",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ],
            path: "Tests/TestSupport",
            swiftSettings: swiftSettings
        ),
        // One test target per library; the storage conformance suites take the backend as a test argument.
        .testTarget(name: "QueueCoreTests", dependencies: ["QueueCore", "QueueTesting"], swiftSettings: swiftSettings),
        .testTarget(name: "QueueAuthTests", dependencies: ["QueueAuth", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "StorageTests", dependencies: integrationTestDependencies, swiftSettings: swiftSettings),
        .testTarget(name: "QueueServerTests", dependencies: integrationTestDependencies, swiftSettings: swiftSettings),
        .testTarget(name: "ConsumerTests", dependencies: integrationTestDependencies + [
            .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
        ], swiftSettings: swiftSettings),
        .testTarget(name: "LimsAPITests", dependencies: integrationTestDependencies, swiftSettings: swiftSettings),
        .testTarget(name: "LimsTasksTests", dependencies: integrationTestDependencies, swiftSettings: swiftSettings),
        .testTarget(name: "WebUITests", dependencies: integrationTestDependencies, swiftSettings: swiftSettings),
        // Separate `limsqueue` processes (kill, restart, failover), the command line and end-to-end runs.
        .testTarget(name: "ProcessEndToEndTests", dependencies: integrationTestDependencies, swiftSettings: swiftSettings),
        .testTarget(name: "LIMSCoreTests", dependencies: ["LIMSCore"], swiftSettings: swiftSettings),
        .testTarget(
            name: "PostgresStatementsTests",
            dependencies: [
                "PostgresStatements",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "InlineSQLiteTests",
            dependencies: [
                "InlineSQLite",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "SQLiteKit", package: "sqlite-kit"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "LabActionsTests", dependencies: ["LabActions"], swiftSettings: swiftSettings),
        .testTarget(
            name: "SetupImportTests",
            dependencies: ["SetupImport", "LIMSCore", "SetupWorkbook", .product(name: "ZIPFoundation", package: "ZIPFoundation")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SetupWorkbookTests",
            dependencies: ["SetupWorkbook", .product(name: "ZIPFoundation", package: "ZIPFoundation")],
            swiftSettings: swiftSettings
        ),
    ]
)

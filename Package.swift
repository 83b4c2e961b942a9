// swift-tools-version:6.0
import PackageDescription

// Imports point one way: ucp → DevTools → UCPCommands → APIServer (`ucp serve`) → HTTPAPI and features (Sync,
// Schedules, Watchdog) → stores (Inventory, Queue) → wrappers (Postgres, Transport, LDAP, Runtime) → C modules. scripts/check-layout.sh
// checks that each target declares exactly the modules it imports.
let package = Package(
    name: "UCProvision",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "ucp", targets: ["ucp"]),
        .executable(name: "ucp-fuzz", targets: ["UCPFuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        // `ucp serve`: the HTTP server of the REST API and the status page.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        // Metrics: the API every module records through, and its Prometheus backend (Telemetry only).
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // Order files (`ucp order plan|submit -f FILE`): YAML with line numbers (Orders only).
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        // Thin system-library targets: a module map and a shim header each.
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CLDAP", pkgConfig: "ldap", providers: [.apt(["libldap2-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CLibXML2", pkgConfig: "libxml-2.0", providers: [.apt(["libxml2-dev"])]),

        // Clock, backoff, child processes, the bridge from blocking C calls to async, periodic services.
        .target(name: "Runtime", dependencies: [
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // libpq only: connections on their own threads, statements, transactions, COPY, LISTEN, a pool.
        .target(name: "Postgres", dependencies: ["CLibPQ", "Runtime"]),
        // A private PostgreSQL cluster (initdb + pg_ctl): the embedded default, tests, benchmarks.
        .target(name: "PostgresCluster", dependencies: ["Postgres", "Runtime"]),
        // Every job type's contract (parameters, name, kind, attempts), without handlers.
        .target(name: "JobCatalog", dependencies: ["Runtime"]),
        // The job queue: its store, the audit API, status, worker and coordinator.
        .target(name: "Queue", dependencies: [
            "Postgres", "JobCatalog", "Runtime",
            .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // The migrator: numbered SQL files of migrations/, under an advisory lock.
        .target(name: "Schema", dependencies: ["Postgres", "Queue", "Runtime"]),
        // Pure logic: schedule definitions, frequencies, the granular sync syntax and its preview.
        .target(name: "ScheduleRules", dependencies: ["JobCatalog", "Runtime"]),
        // libcurl: HTTP(S) requests and SMTP mail.
        .target(name: "Transport", dependencies: [
            "CCurl", "Runtime",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // libldap: bind, paged search, modify, connection test; blocking calls on threads of their own.
        .target(name: "LDAP", dependencies: [
            "CLDAP", "Secrets", "Runtime", .product(name: "CoreMetrics", package: "swift-metrics"),
        ]),
        // A generated test directory and a private slapd serving it (tests, benchmark, demo).
        .target(name: "DirectoryFixtures", dependencies: ["Runtime"]),
        // The AXL/CUPI object catalog shared by the client and the device simulator; AXL XML on the wire.
        .target(name: "AXL", dependencies: ["CLibXML2"]),
        // The device clients: AXL (SOAP, streamed) and CUPI (REST, JSON) over libcurl.
        .target(name: "DeviceClients", dependencies: [
            "AXL", "Transport", "Runtime", "Secrets", .product(name: "CoreMetrics", package: "swift-metrics"),
        ]),
        // `ucp devsim`: a simulated Unified CM (AXL) and Unity Connection (CUPI) over its own HTTP(S) server.
        .target(name: "DeviceSimulator", dependencies: ["AXL", "COpenSSL"]),
        // OpenSSL: AES-256-GCM for passwords at rest.
        .target(name: "Secrets", dependencies: ["COpenSSL"]),
        // Pure logic of directories and domains: RFC 4515 filters (parse, escape, evaluate), the simple
        // query, phone masks, the field mapping per server type.
        .target(name: "Directory", dependencies: ["Runtime"]),
        // Devices, domains, users, device objects, settings: the inventory's stores.
        .target(name: "Inventory", dependencies: ["Postgres", "Queue", "JobCatalog", "Secrets", "Directory", "ScheduleRules", "Runtime"]),
        // Stored schedules and their runs (migrations 004, 005, 009), and domains' own LDAP sync firing.
        .target(name: "Schedules", dependencies: ["ScheduleRules", "JobCatalog", "Postgres", "Queue", "Inventory", "Runtime"]),
        // The sync job handlers.
        .target(name: "Sync", dependencies: [
            "JobCatalog", "Queue", "Postgres", "Inventory", "DeviceClients", "AXL", "LDAP", "Secrets", "Directory", "Runtime",
            .product(name: "CoreMetrics", package: "swift-metrics"),
        ]),
        // Orders: the order file, planning, the saga steps against Unified CM and Unity Connection, and
        // their store (migration 024).
        .target(name: "Orders", dependencies: [
            "JobCatalog", "Queue", "Postgres", "Inventory", "Sync", "DeviceClients", "AXL", "Runtime", "LDAP", "Directory",
            .product(name: "Yams", package: "Yams"),
        ]),
        // The stuck-sync watchdog and the alert outbox, sent by mail.
        .target(name: "Watchdog", dependencies: [
            "Queue", "Postgres", "Transport", "Secrets", "Inventory", "Runtime",
            .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // `ucp serve`'s pure parts: API tokens and roles (migration 017), the route table, the throttle.
        .target(name: "HTTPAPI", dependencies: ["Postgres", "Queue", "Secrets", "Runtime"]),
        // The Prometheus backend of swift-metrics, the `/metrics` and `/healthz` listener of worker and
        // coordinator (and the routes `serve` mounts), and the log format (text or JSON lines).
        .target(name: "Telemetry", dependencies: [
            "Runtime",
            .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // `ucp serve` itself: the Hummingbird server of the REST API, its probes and the status page,
        // calling the same stores and validation as the commands.
        .target(name: "APIServer", dependencies: [
            "Directory", "HTTPAPI", "Inventory", "JobCatalog", "Postgres", "Queue", "Runtime", "Schedules", "ScheduleRules",
            "Secrets", "Watchdog", "Orders",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The operator commands.
        .target(name: "UCPCommands", dependencies: [
            "Postgres", "PostgresCluster", "Schema", "JobCatalog", "Queue", "Sync", "Watchdog", "Secrets", "Inventory", "Runtime",
            "Schedules", "ScheduleRules", "Directory", "HTTPAPI", "Telemetry", "APIServer", "Orders",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // Tooling carried by `ucp`: the demo, benchmarks, the simulators' commands, stand-in job types.
        .target(name: "DevTools", dependencies: [
            "UCPCommands", "Postgres", "PostgresCluster", "Schema", "JobCatalog", "Queue", "Sync", "Inventory",
            "Schedules", "Secrets", "DeviceSimulator", "DirectoryFixtures", "DeviceClients", "AXL", "HTTPAPI", "Runtime", "Orders", "Transport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "ucp", dependencies: ["UCPCommands", "DevTools"]),
        // The bodies of the fuzz targets, one per parser of outside input (replayed by FuzzCorpusTests),
        // and `ucp-fuzz`, which runs them under libFuzzer (scripts/fuzz.sh).
        .target(name: "FuzzEntries", dependencies: [
            "AXL", "DeviceClients", "Directory", "Inventory", "Postgres", "Queue", "Runtime", "ScheduleRules",
        ]),
        .executableTarget(name: "UCPFuzz", dependencies: ["FuzzEntries"]),

        .testTarget(name: "RuntimeTests", dependencies: [
            "Runtime",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
        ]),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres", "TestSupport"]),
        .testTarget(name: "QueueTests", dependencies: [
            "Queue", "JobCatalog", "Postgres", "Runtime", "TestSupport", .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "SchemaTests", dependencies: ["Schema", "Queue", "Postgres", "TestSupport"]),
        .testTarget(name: "EndToEndTests", dependencies: ["Postgres", "PostgresCluster", "Schema", "Queue", "JobCatalog", "Runtime", "TestSupport"]),
        .testTarget(name: "WatchdogTests", dependencies: ["Watchdog", "Queue", "Inventory", "JobCatalog", "Postgres", "Runtime", "TestSupport"]),
        .testTarget(name: "ScheduleRulesTests", dependencies: ["ScheduleRules", "JobCatalog", "Runtime"]),
        .testTarget(name: "TransportTests", dependencies: ["Transport", "CCurl", "Runtime", "TestSupport"]),
        .testTarget(name: "SecretsTests", dependencies: ["Secrets"]),
        .testTarget(name: "AXLTests", dependencies: ["AXL"]),
        .testTarget(name: "DeviceSimulatorTests", dependencies: ["AXL", "Postgres", "Runtime", "TestSupport"]),
        .testTarget(name: "InventoryTests", dependencies: [
            "Inventory", "Directory", "Queue", "Postgres", "ScheduleRules", "Secrets", "Runtime", "TestSupport",
        ]),
        .testTarget(name: "DirectoryTests", dependencies: ["Directory", "Runtime"]),
        .testTarget(name: "SchedulesTests", dependencies: [
            "Schedules", "ScheduleRules", "JobCatalog", "Queue", "Inventory", "Postgres", "Secrets", "Runtime", "TestSupport",
        ]),
        .testTarget(name: "DeviceClientsTests", dependencies: ["DeviceClients", "AXL", "Postgres", "Secrets", "TestSupport"]),
        .testTarget(name: "DeviceSyncTests", dependencies: [
            "Inventory", "Queue", "JobCatalog", "AXL", "Secrets", "Postgres", "Transport", "TestSupport", "Orders",
            "LDAP", "DirectoryFixtures", "Runtime", .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "LDAPTests", dependencies: ["LDAP", "Secrets", "DirectoryFixtures", "TestSupport"]),
        .testTarget(name: "DirectorySyncTests", dependencies: [
            "Sync", "LDAP", "DirectoryFixtures", "Postgres", "Secrets", "Inventory", "Directory", "Runtime", "TestSupport", "Queue",
        ]),
        .testTarget(name: "FuzzCorpusTests", dependencies: ["FuzzEntries"]),
        .testTarget(name: "HTTPAPITests", dependencies: ["HTTPAPI", "Queue", "Postgres", "Secrets", "TestSupport"]),
        .testTarget(name: "TelemetryTests", dependencies: [
            "Telemetry", "Runtime",
            .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "APIServerTests", dependencies: [
            "APIServer", "HTTPAPI", "Postgres", "Queue", "Transport", "TestSupport", .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "SystemLibraryTests", dependencies: ["CLDAP", "CCurl", "COpenSSL", "CLibPQ"]),
        .target(name: "TestSupport", dependencies: [
            "Postgres", "PostgresCluster", "Schema", "Queue", "Runtime", "DirectoryFixtures", "Telemetry",
        ], path: "Tests/TestSupport"),
    ],
    swiftLanguageModes: [.v6]
)

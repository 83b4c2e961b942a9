// swift-tools-version:6.0
import PackageDescription

// Imports point one way: ucp → UCPCommands → features (Sync) → Queue → Postgres → C modules.
let package = Package(
    name: "UCProvision",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "ucp", targets: ["ucp"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
    ],
    targets: [
        // Thin system-library targets: a module map and a shim header each.
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CLDAP", pkgConfig: "ldap", providers: [.apt(["libldap2-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CLibXML2", pkgConfig: "libxml-2.0", providers: [.apt(["libxml2-dev"])]),

        .target(name: "Postgres", dependencies: [
            "CLibPQ",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Queue", dependencies: [
            "Postgres",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // Pure logic: schedule definitions, frequencies, the granular sync syntax and its preview.
        .target(name: "Schedules", dependencies: []),
        // libcurl: HTTP(S) requests and SMTP mail.
        .target(name: "Transport", dependencies: [
            "CCurl",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // libldap: bind, paged search, modify, connection test; blocking calls on threads of their own.
        .target(name: "LDAP", dependencies: ["CLDAP", "Secrets"]),
        // A generated test directory and a private slapd serving it (tests, benchmark, demo).
        .target(name: "DirectoryFixtures", dependencies: ["Postgres"]),
        // The AXL/CUPI object catalog shared by the client and the device simulator; AXL XML on the wire.
        .target(name: "AXL", dependencies: ["CLibXML2"]),
        // The device clients: AXL (SOAP, streamed) and CUPI (REST, JSON) over libcurl.
        .target(name: "DeviceClients", dependencies: ["AXL", "Transport", "Postgres", "Secrets"]),
        // `ucp devsim`: a simulated Unified CM (AXL) and Unity Connection (CUPI) over its own HTTP(S) server.
        .target(name: "DeviceSimulator", dependencies: ["AXL", "COpenSSL"]),
        // OpenSSL: AES-256-GCM for passwords at rest.
        .target(name: "Secrets", dependencies: ["COpenSSL"]),
        // Pure logic of directories and domains: RFC 4515 filters (parse, escape, evaluate), the simple
        // query, phone masks, the field mapping per server type.
        .target(name: "Directory", dependencies: []),
        // Devices, domains (and later service areas, users, services, device objects): the stores.
        .target(name: "Inventory", dependencies: ["Postgres", "Queue", "Secrets", "Directory", "Schedules"]),
        // Stored schedules (migrations/004_schedules.sql) and the inventory catalog their previews use.
        .target(name: "Scheduling", dependencies: ["Schedules", "Postgres", "Queue", "Inventory"]),
        .target(name: "Sync", dependencies: [
            "Queue", "Postgres", "Inventory", "DeviceClients", "AXL", "LDAP", "Secrets", "Directory",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The stuck-sync watchdog and the alert outbox, sent by mail.
        .target(name: "Watchdog", dependencies: [
            "Queue", "Postgres", "Transport", "Secrets",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .target(name: "UCPCommands", dependencies: [
            "Postgres", "Queue", "Sync", "Watchdog", "Transport", "Secrets", "Inventory", "Scheduling", "Directory",
            "DeviceSimulator", "DeviceClients", "AXL", "LDAP", "DirectoryFixtures",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .executableTarget(name: "ucp", dependencies: ["UCPCommands"]),

        .testTarget(name: "PostgresTests", dependencies: ["Postgres", "TestSupport"]),
        .testTarget(name: "QueueTests", dependencies: ["Queue", "Sync", "TestSupport"]),
        .testTarget(name: "EndToEndTests", dependencies: ["Postgres", "Queue", "TestSupport"]),
        .testTarget(name: "WatchdogTests", dependencies: ["Watchdog", "Queue", "TestSupport"]),
        .testTarget(name: "SchedulesTests", dependencies: ["Schedules"]),
        .testTarget(name: "TransportTests", dependencies: ["Transport", "TestSupport"]),
        .testTarget(name: "SecretsTests", dependencies: ["Secrets"]),
        .testTarget(name: "AXLTests", dependencies: ["AXL"]),
        .testTarget(name: "DeviceSimulatorTests", dependencies: ["AXL", "TestSupport"]),
        .testTarget(name: "InventoryTests", dependencies: ["Inventory", "Directory", "Queue", "TestSupport"]),
        .testTarget(name: "DirectoryTests", dependencies: ["Directory"]),
        .testTarget(name: "SchedulingTests", dependencies: ["Scheduling", "Queue", "Inventory", "TestSupport"]),
        .testTarget(name: "DeviceClientsTests", dependencies: ["DeviceClients", "AXL", "Transport", "TestSupport"]),
        .testTarget(name: "DeviceSyncTests", dependencies: ["Sync", "Inventory", "Queue", "DeviceClients", "AXL", "Secrets", "Postgres", "TestSupport"]),
        .testTarget(name: "LDAPTests", dependencies: ["LDAP", "Secrets", "TestSupport"]),
        .testTarget(name: "DirectorySyncTests", dependencies: [
            "Sync", "LDAP", "DirectoryFixtures", "Postgres", "Queue", "Secrets", "Inventory", "Directory", "TestSupport",
        ]),
        .testTarget(name: "SystemLibraryTests", dependencies: ["CLDAP", "CCurl", "COpenSSL", "CLibPQ"]),
        .target(name: "TestSupport", dependencies: ["Postgres", "Queue", "DirectoryFixtures"], path: "Tests/TestSupport"),
    ],
    swiftLanguageModes: [.v6]
)

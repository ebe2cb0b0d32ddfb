// swift-tools-version: 6.2
import PackageDescription

// One settings block for every Swift target (ARCHITECTURE.md, "Modules").
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny")
]

let package = Package(
    name: "compliance-watch",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "CurlHTTP", targets: ["CurlHTTP"]),
        .library(name: "PlivoCompliance", targets: ["PlivoCompliance"]),
        .library(name: "PlivoSandbox", targets: ["PlivoSandbox"]),
        .library(name: "WatchCore", targets: ["WatchCore"]),
        .library(name: "WatchSinks", targets: ["WatchSinks"]),
        .library(name: "WatchSystemd", targets: ["WatchSystemd"]),
        .library(name: "WatchPostgres", targets: ["WatchPostgres"]),
        .executable(name: "plivo-sandbox", targets: ["plivo-sandbox"]),
        .executable(name: "compliance-watch", targets: ["compliance-watch"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swhitty/FlyingFox", from: "0.27.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        // Already in postgres-nio's graph; named so WatchPostgres can use its event loops and TLS.
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        // C: system libraries plus typed shims for the variadic calls Swift cannot make.
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .systemLibrary(
            name: "CSystemd",
            pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]
        ),
        // glibc's <malloc.h>, for mallopt.
        .systemLibrary(name: "CMalloc"),

        // The version and commit, stamped before each build from VERSION and git.
        .plugin(name: "VersionStamp", capability: .buildTool()),
        .target(name: "BuildInfo", swiftSettings: swiftSettings, plugins: ["VersionStamp"]),

        .target(name: "CurlHTTP", dependencies: ["CCurl", "BuildInfo"], swiftSettings: swiftSettings),
        .target(name: "PlivoCompliance", dependencies: ["CurlHTTP"], swiftSettings: swiftSettings),
        .target(
            name: "PlivoSandbox",
            dependencies: [.product(name: "FlyingFox", package: "FlyingFox")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "WatchCore",
            dependencies: [
                "PlivoCompliance",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "WatchSinks",
            dependencies: [
                "WatchCore", "CurlHTTP",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "WatchSystemd",
            dependencies: [
                "CSystemd", "WatchCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The PostgreSQL backend of the state store, and the HA lease (ARCHITECTURE.md, "Store").
        .target(
            name: "WatchPostgres",
            dependencies: [
                "WatchCore", "CurlHTTP",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "WatchDaemon",
            dependencies: [
                "WatchCore", "WatchSinks", "WatchSystemd", "WatchPostgres", "CurlHTTP", "PlivoCompliance",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "FlyingFox", package: "FlyingFox"),
            ],
            swiftSettings: swiftSettings
        ),
        // Test doubles and fixtures every test target shares (not a product).
        .target(
            name: "WatchTesting",
            dependencies: [
                "WatchCore", "WatchSinks", "WatchPostgres", "PlivoCompliance", "PlivoSandbox", "CurlHTTP",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "compliance-watch",
            dependencies: [
                "WatchDaemon", "WatchCore", "WatchSinks", "WatchSystemd", "CurlHTTP", "PlivoCompliance", "CMalloc",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "compliance-watch-bench",
            dependencies: [
                "WatchDaemon", "WatchCore", "WatchSinks", "PlivoSandbox", "PlivoCompliance", "CurlHTTP", "WatchTesting",
                .product(name: "FlyingFox", package: "FlyingFox"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "plivo-sandbox",
            dependencies: [
                "PlivoSandbox",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),

        .testTarget(
            name: "CurlHTTPTests",
            dependencies: ["CurlHTTP", "PlivoSandbox", .product(name: "FlyingFox", package: "FlyingFox")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PlivoComplianceTests",
            dependencies: ["PlivoCompliance", "PlivoSandbox", "CurlHTTP", "WatchTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PlivoSandboxTests",
            dependencies: ["PlivoSandbox", "CurlHTTP", "PlivoCompliance", "WatchTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WatchSinksTests",
            dependencies: [
                "WatchSinks", "WatchCore", "CurlHTTP", "PlivoCompliance", "WatchTesting",
                .product(name: "FlyingFox", package: "FlyingFox"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WatchCoreTests",
            dependencies: [
                "WatchCore", "WatchSinks", "WatchTesting", "PlivoSandbox", "PlivoCompliance", "CurlHTTP",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WatchDaemonTests",
            dependencies: [
                "WatchDaemon", "WatchCore", "WatchSinks", "WatchPostgres", "WatchTesting", "PlivoSandbox",
                "PlivoCompliance", "CurlHTTP",
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WatchSystemdTests",
            dependencies: ["WatchSystemd", "WatchCore", "WatchTesting", "PlivoSandbox"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ComplianceWatchTests",
            dependencies: [
                "WatchCore", "WatchSinks", "WatchSystemd", "WatchTesting", "PlivoSandbox", "PlivoCompliance",
            ],
            swiftSettings: swiftSettings
        ),
    ]
)

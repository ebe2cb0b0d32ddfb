// swift-tools-version: 6.1
import PackageDescription

// One settings block for every Swift target (see README, "Package hygiene").
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "compliance-watch",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "CurlHTTP", targets: ["CurlHTTP"]),
        .library(name: "PlivoCompliance", targets: ["PlivoCompliance"]),
        .library(name: "PlivoSandbox", targets: ["PlivoSandbox"]),
        .executable(name: "plivo-sandbox", targets: ["plivo-sandbox"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swhitty/FlyingFox", from: "0.27.1"),
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

        .target(name: "CurlHTTP", dependencies: ["CCurl"], swiftSettings: swiftSettings),
        .target(name: "PlivoCompliance", dependencies: ["CurlHTTP"], swiftSettings: swiftSettings),
        .target(
            name: "PlivoSandbox",
            dependencies: [.product(name: "FlyingFox", package: "FlyingFox")],
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
            dependencies: ["PlivoCompliance", "PlivoSandbox", "CurlHTTP"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PlivoSandboxTests",
            dependencies: ["PlivoSandbox", "CurlHTTP", "PlivoCompliance"],
            swiftSettings: swiftSettings
        ),
    ]
)

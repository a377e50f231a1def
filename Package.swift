// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "Larch",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Larch", targets: ["Larch"]),
        .executable(name: "larch", targets: ["LarchCLI"]),
        .executable(name: "larch-crashlab", targets: ["larch-crashlab"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.2.0"),
        // `swift package generate-documentation --target Larch` builds the DocC catalog (CI does).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.4.0"),
    ],
    targets: [
        // Tiny C shim for what Swift cannot reach portably: hardware CRC32C with a runtime CPU check.
        .target(name: "CLarchSupport"),
        .target(
            name: "Larch",
            dependencies: [
                "CLarchSupport",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Atomics", package: "swift-atomics"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // The text side of the `larch` tool: mdb_dump's format both ways, the byte encodings, line
        // input, buffered output. A module of its own, with no dependency, so that a fuzz target can
        // be built from it alone (scripts/fuzz-dump.sh).
        .target(
            name: "LarchDumpFormat",
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // The `larch` command-line tool: stat, get/put/del/scan, dump/load (LMDB text format), check,
        // copy, demo (which uses the crash lab's simulated disk).
        .executableTarget(
            name: "LarchCLI",
            dependencies: ["Larch", "LarchCrashLab", "LarchDumpFormat", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "LarchTests",
            dependencies: ["Larch"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // Crash-testing support: a simulated disk with a volatile cache, crash-image policies, a
        // deterministic workload and the crash lab that checks every crash point.
        .target(
            name: "LarchCrashLab",
            dependencies: ["Larch"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // Runs the crash lab and prints its table; also the child process that real-kill tests SIGKILL.
        .executableTarget(
            name: "larch-crashlab",
            dependencies: ["Larch", "LarchCrashLab"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "LarchCrashTests",
            dependencies: ["Larch", "LarchCrashLab", "larch-crashlab"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // Runs the built `larch` executable and checks its output and exit codes.
        .testTarget(
            name: "LarchCLITests",
            dependencies: ["LarchCLI", "LarchCrashLab", "LarchDumpFormat"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)

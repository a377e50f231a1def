// swift-tools-version:6.2
// Larch examples: small programs that use the library as an application would. A separate package
// so that the library's own build never needs Hummingbird.
//
//     scripts/examples.sh         # from the repository root: builds, runs contacts, exercises kv-server over HTTP
//     swift run contacts          # the typed API: Codable records and a secondary index
//     swift run kv-server --port 8080 --path kv.larch
import PackageDescription

let package = Package(
    name: "LarchExamples",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Larch", path: ".."),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
    ],
    targets: [
        // A contacts book: Codable records, a secondary index by city, prefix scans (README "Typed data").
        .executableTarget(
            name: "contacts",
            dependencies: [.product(name: "Larch", package: "Larch")],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // An HTTP key-value service on Hummingbird 2, backed by Larch's async read and write.
        .executableTarget(
            name: "kv-server",
            dependencies: [
                .product(name: "Larch", package: "Larch"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)

// swift-tools-version:6.2
// The Larch benchmark suite: the same workloads on Larch, on LMDB (liblmdb) and on SQLite, in one
// process. A separate package so that the library's own build never needs liblmdb or libsqlite3.
//
//     scripts/bench.sh            # from the repository root: installs, builds in release, runs
//     swift build -c release && .build/release/larch-bench --help
import PackageDescription

let package = Package(
    name: "LarchBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Larch", path: ".."),
    ],
    targets: [
        // liblmdb (Debian: liblmdb-dev).
        .systemLibrary(
            name: "CLMDB",
            pkgConfig: "lmdb",
            providers: [.apt(["liblmdb-dev"]), .brew(["lmdb"])]
        ),
        // libsqlite3 (Debian: libsqlite3-dev).
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"]), .brew(["sqlite"])]
        ),
        .executableTarget(
            name: "larch-bench",
            dependencies: [
                .product(name: "Larch", package: "Larch"),
                "CLMDB",
                "CSQLite",
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)

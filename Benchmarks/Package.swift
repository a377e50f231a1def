// swift-tools-version:6.2
// The Larch benchmark suite: the same workloads on Larch, on LMDB (liblmdb), on SQLite and (the
// durable workloads only) on RocksDB, in one process. A separate package so that the library's own
// build never needs liblmdb, libsqlite3 or librocksdb.
//
//     scripts/bench.sh            # from the repository root: installs, builds in release, runs
//     swift build -c release && .build/release/larch-bench --help
import PackageDescription

let package = Package(
    name: "LarchBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Larch", path: ".."),
        // GRDB's Codable records on SQLite, for the `typed` workload.
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
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
        // librocksdb's C API (Debian: librocksdb-dev, which ships rocksdb.pc).
        .systemLibrary(
            name: "CRocksDB",
            pkgConfig: "rocksdb",
            providers: [.apt(["librocksdb-dev"]), .brew(["rocksdb"])]
        ),
        // Counts the process's sync calls (fsync, fdatasync, writes to O_DSYNC files...) for workload
        // 12: it defines those libc functions in the executable, so every caller's calls go through it.
        .target(name: "CSyncCount"),
        .executableTarget(
            name: "larch-bench",
            dependencies: [
                .product(name: "Larch", package: "Larch"),
                "CLMDB",
                "CSQLite",
                "CRocksDB",
                "CSyncCount",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)

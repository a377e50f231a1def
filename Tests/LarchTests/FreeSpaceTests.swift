import Foundation
import Testing
@testable import Larch

// Page reuse: freed pages go back into use, so the file stays bounded under steady overwrites,
// and dropping, clearing and deleting give their pages back.

/// A 16-byte key: an 8-byte prefix and the big-endian index.
private func freeSpaceKey(_ i: Int, prefix: UInt64 = 0x4B45_595F_5F5F_5F5F) -> [UInt8] {
    var k = [UInt8](repeating: 0, count: 16)
    k.withUnsafeMutableBytes { b in
        b.storeBytes(of: prefix.bigEndian, toByteOffset: 0, as: UInt64.self)
        b.storeBytes(of: UInt64(i).bigEndian, toByteOffset: 8, as: UInt64.self)
    }
    return k
}

/// A 100-byte value that depends on the key and the round.
private func freeSpaceValue(_ i: Int, round: Int) -> [UInt8] {
    var v = [UInt8](repeating: UInt8(truncatingIfNeeded: round), count: 100)
    v.withUnsafeMutableBytes { b in
        b.storeBytes(of: UInt64(i).littleEndian, toByteOffset: 0, as: UInt64.self)
        b.storeBytes(of: UInt64(round).littleEndian, toByteOffset: 8, as: UInt64.self)
    }
    return v
}

/// A value of `count` bytes whose every 8-byte word holds its own offset mixed with `seed`, so that
/// any misplaced, shifted or stale page shows up.
private func freeSpacePattern(count: Int, seed: UInt64) -> [UInt8] {
    [UInt8](unsafeUninitializedCapacity: count) { buf, n in
        let raw = UnsafeMutableRawBufferPointer(buf)
        var off = 0
        while off + 8 <= count {
            raw.storeBytes(of: (UInt64(off) &* 0x9E37_79B9_7F4A_7C15 ^ seed).littleEndian, toByteOffset: off, as: UInt64.self)
            off += 8
        }
        while off < count {
            raw[off] = UInt8(truncatingIfNeeded: off ^ Int(truncatingIfNeeded: seed))
            off += 1
        }
        n = count
    }
}

/// Whether the value under `key` equals `expected`, compared in place (no copy).
private func freeSpaceValueEquals(_ txn: borrowing Transaction<some TransactionMode>, _ key: [UInt8], _ expected: [UInt8]) throws -> Bool {
    try txn.withValue(forKey: key) { span in
        span.withUnsafeBytes { stored in
            expected.withUnsafeBytes { e in stored.count == e.count && memcmp(stored.baseAddress!, e.baseAddress!, e.count) == 0 }
        }
    } ?? false
}

@Suite struct FreeSpaceTests {
    /// 10,000 keys (16-byte keys, 100-byte values) overwritten in full, transaction after
    /// transaction, with no reader holding old pages: the file reaches a steady size and stays there.
    @Test func steadyOverwritesKeepTheFileBounded() throws {
        let dir = try TemporaryDirectory("free-steady")
        let env = try Environment(path: dir.file(), options: Options(durability: .noSync))
        let keys = 10_000
        let rounds = 150 * TestEnvironment.scale
        let checkEvery = 25
        var bound: UInt64 = 0
        var largest: UInt64 = 0
        let start = Date()
        for round in 0..<rounds {
            try env.write { txn in
                for i in 0..<keys { try txn.put(freeSpaceValue(i, round: round), forKey: freeSpaceKey(i)) }
            }
            let stats = env.lastCommit!   // this commit's statistics
            largest = max(largest, stats.pageCount)
            if round == 2 {
                bound = 2 * stats.pageCount
                print("after round 3: \(stats)")
            }
            if round > 2 {
                #expect(stats.pageCount <= bound, "round \(round): \(stats.pageCount) pages, bound \(bound)")
            }
            if round % checkEvery == checkEvery - 1 || round == rounds - 1 {
                let report = try assertClean(env, "round \(round)")
                #expect(report.pagesAwaitingReuse == 0)
                #expect(report.reachablePages + report.freePages == report.pageCount - 2)
            }
        }
        let stats = try env.stats()
        print("after \(rounds) rounds in \(String(format: "%.1f", Date().timeIntervalSince(start))) s: largest page count \(largest), \(stats)")
        #expect(stats.main.entries == UInt64(keys))
        #expect(stats.pageCount == largest)
        try env.read { txn throws in
            for i in stride(from: 0, to: keys, by: 37) {
                #expect(try txn.get(freeSpaceKey(i)) == freeSpaceValue(i, round: rounds - 1))
            }
        }
        // The steady state is about two copies of the data (the live one and the one just freed).
        let dataPages = stats.main.leafPages + stats.main.branchPages
        #expect(stats.pageCount <= 3 * dataPages + 50, "\(stats.pageCount) pages for \(dataPages) pages of data")
    }

    /// Dropping a named database with thousands of entries and overflow values frees all of its
    /// pages, and later writes reuse them.
    /// One-put commits write the pages of their path and no free-tree page: what they free and
    /// reuse stays in the meta's free list (FORMAT.md §4.1).
    @Test func smallCommitsWriteOnlyTheirPath() throws {
        let dir = try TemporaryDirectory("free-list")
        let env = try Environment(path: dir.file(), options: Options(durability: .noSync))
        try env.write { txn in for i in 0..<20_000 { try txn.put(freeSpaceValue(i, round: 0), forKey: freeSpaceKey(i)) } }
        // The load's pages came from the end of the file, in order: one write per 16 pages.
        let load = try #require(env.lastCommit)
        #expect(load.pageRuns == (load.pagesWritten + 15) / 16, "\(load)")
        let depth = try env.read { Int($0.core.meta.main.depth) }
        #expect(depth == 3)
        var g = SeededGenerator(seed: 12)
        var freeTreeChanges = 0, listLengths: [Int] = []
        let commits = 2_000
        for step in 0..<commits {
            let before = try env.read { $0.core.meta.free }
            let i = Int.random(in: 0..<20_000, using: &g)
            try env.write { txn in try txn.put(freeSpaceValue(i, round: step + 1), forKey: freeSpaceKey(i)) }
            let stats = try #require(env.lastCommit)
            let meta = try env.read { $0.core.meta }
            // An overwrite of a value of the same size splits nothing: the path, nothing else.
            #expect(stats.pagesWritten == depth, "commit \(step): \(stats)")
            if meta.free != before { freeTreeChanges += 1 }
            listLengths.append(meta.freeList.count)
            if step % 500 == 499 { #expect(try env.check().isClean, "after commit \(step)") }
        }
        print("small commits: free tree changed by \(freeTreeChanges) of \(commits), free list up to \(listLengths.max()!) entries")
        #expect(freeTreeChanges <= 2, "the free tree changed in \(freeTreeChanges) of \(commits) one-put commits")
        #expect(listLengths.max()! < MetaPage.maxFreeListEntries)
    }

    /// With a reader holding an old snapshot, the meta's free list fills and moves into the free
    /// tree; after the reader ends, every page comes back into use and the checker is clean.
    @Test func theMetaFreeListSpillsIntoTheFreeTree() throws {
        let dir = try TemporaryDirectory("free-list-spill")
        let env = try Environment(path: dir.file(), options: Options(durability: .noSync))
        try env.write { txn in for i in 0..<5_000 { try txn.put(freeSpaceValue(i, round: 0), forKey: freeSpaceKey(i)) } }
        var g = SeededGenerator(seed: 13)
        var spills = 0
        do {
            let reader = try env.beginRead()
            for step in 0..<600 {
                let before = try env.read { $0.core.meta.freeList.count }
                try env.write { txn in
                    for _ in 0..<3 {
                        let i = Int.random(in: 0..<5_000, using: &g)
                        try txn.put(freeSpaceValue(i, round: step + 1), forKey: freeSpaceKey(i))
                    }
                }
                let after = try env.read { $0.core.meta.freeList.count }
                if after < before { spills += 1 }
            }
            #expect(try reader.get(freeSpaceKey(0)) == freeSpaceValue(0, round: 0))
            #expect(try env.check().isClean)
        }
        #expect(spills >= 2, "the free list spilled \(spills) times")
        let pages = try env.read { $0.core.meta.pageCount }
        for step in 0..<2_000 {
            let i = Int.random(in: 0..<5_000, using: &g)
            try env.write { txn in try txn.put(freeSpaceValue(i, round: 1_000 + step), forKey: freeSpaceKey(i)) }
        }
        #expect(try env.read { $0.core.meta.pageCount } == pages, "pages freed while the reader was open are reused")
        #expect(try env.check().isClean)
    }

    @Test func droppingADatabaseFreesAllItsPages() throws {
        let dir = try TemporaryDirectory("free-drop")
        let env = try Environment(path: dir.file(), options: Options(durability: .noSync))
        var g = SeededGenerator(seed: 0xD209_0001)
        func fill(_ txn: inout WriteTransaction, _ db: Database) throws {
            for i in 0..<5000 { try txn.put(g.bytes(60), forKey: freeSpaceKey(i, prefix: 0x4249_4700_0000_0000), in: db) }
            for i in 0..<40 { try txn.put(g.bytes(10_000), forKey: freeSpaceKey(100_000 + i), in: db) }
        }
        let dbStats = try env.write { txn in
            for i in 0..<20 { try txn.put("main \(i)", forKey: "m\(i)") }
            let db = try txn.openDatabase("big", create: true)
            try fill(&txn, db)
            return try txn.stats(db)
        }
        let dbPages = dbStats.branchPages + dbStats.leafPages + dbStats.overflowPages
        #expect(dbStats.entries == 5040)
        #expect(dbStats.overflowPages == 40 * 3)
        let full = try assertClean(env)
        #expect(full.databaseCount == 1)
        #expect(full.reachablePages >= dbPages)

        try env.write { txn in
            try txn.dropDatabase(try txn.openDatabase("big"))
        }
        let drop = env.lastCommit!   // this commit's statistics
        #expect(drop.pagesFreed >= Int(dbPages))
        let dropped = try assertClean(env)
        print("before drop: \(full)\nafter drop: \(dropped)")
        #expect(dropped.databaseCount == 0)
        #expect(dropped.reachablePages + dbPages <= full.reachablePages + 5, "reachable pages did not fall by the database's \(dbPages)")
        #expect(dropped.freePages >= dbPages, "\(dropped.freePages) free pages, the database had \(dbPages)")
        #expect(dropped.pagesAwaitingReuse == 0)
        #expect(dropped.pageCount <= full.pageCount + 5)
        let stats = try env.stats()
        #expect(stats.freePages == dropped.freePages)
        #expect(stats.databaseCount == 0)
        try env.read { txn throws in
            #expect(try txn.databaseNames().isEmpty)
            #expect(throws: LarchError.databaseNotFound(name: "big")) { try txn.openDatabase("big") }
            #expect(try txn.getString("m7") == "main 7")
        }

        // The next commit keeps them free (and the file does not grow).
        try env.write { txn in try txn.put("x", forKey: "after drop") }
        let next = try assertClean(env)
        #expect(next.pageCount == dropped.pageCount)
        #expect(next.freePages + 10 >= dropped.freePages)
        #expect(next.reachablePages <= dropped.reachablePages + 5)

        // Re-creating the same database takes its pages from the free space.
        try env.write { txn in
            let db = try txn.openDatabase("big", create: true)
            try fill(&txn, db)
        }
        let refilled = try assertClean(env)
        print("refilled: \(refilled)")
        #expect(refilled.pageCount <= full.pageCount + dbPages / 10, "the refill grew the file from \(full.pageCount) to \(refilled.pageCount) pages")
    }

    /// `clear()` on the main database empties it and frees its pages.
    @Test func clearingTheMainDatabaseFreesItsPages() throws {
        let dir = try TemporaryDirectory("free-clear")
        let env = try Environment(path: dir.file(), options: Options(durability: .noSync))
        var g = SeededGenerator(seed: 0xC1EA_0001)
        let db = try env.write { txn in
            let db = try txn.openDatabase("kept", create: true)
            for i in 0..<100 { try txn.put("kept \(i)", forKey: "k\(i)", in: db) }
            for i in 0..<6000 { try txn.put(g.bytes(i % 100 == 0 ? 7000 : 80), forKey: freeSpaceKey(i)) }
            return db
        }
        let before = try assertClean(env)
        let mainBefore = try env.stats().main
        let mainPages = mainBefore.branchPages + mainBefore.leafPages + mainBefore.overflowPages
        #expect(mainBefore.entries == 6000)
        #expect(mainBefore.depth >= 2 && mainBefore.overflowPages > 0)

        try env.write { txn in try txn.clear() }
        let cleared = try assertClean(env)
        let stats = try env.stats()
        #expect(stats.main == DatabaseStats(TreeRoot.empty))
        #expect(stats.main.entries == 0 && stats.main.depth == 0)
        try env.read { txn throws in
            #expect(try !txn.cursor().first())
            #expect(try txn.get(freeSpaceKey(10)) == nil)
            #expect(try txn.entries().collect().isEmpty)
            #expect(try txn.getString("k5", in: db) == "kept 5")
            #expect(try txn.stats(db).entries == 100)
        }
        #expect(cleared.reachablePages + mainPages <= before.reachablePages + 5)
        #expect(cleared.freePages >= mainPages)
        #expect(stats.freePages == cleared.freePages)

        // Refilling reuses the freed pages.
        try env.write { txn in for i in 0..<6000 { try txn.put(g.bytes(i % 100 == 0 ? 7000 : 80), forKey: freeSpaceKey(i)) } }
        let refilled = try assertClean(env)
        #expect(refilled.pageCount <= before.pageCount + mainPages / 10, "\(before.pageCount) → \(refilled.pageCount)")
        // Clearing an empty database is harmless.
        try env.write { txn in
            try txn.clear()
            try txn.clear()
        }
        try assertClean(env)
        #expect(try env.stats().main.entries == 0)
    }

    /// One 64 MiB value round-trips byte for byte; after it is deleted, a second 64 MiB value
    /// reuses its pages instead of doubling the file.
    @Test func largeValueRoundTripsAndItsPagesAreReused() throws {
        let dir = try TemporaryDirectory("free-large")
        let env = try Environment(path: dir.file(), options: Options(durability: .noSync))
        let size = 64 << 20
        let key = Array("large".utf8)
        let first = freeSpacePattern(count: size, seed: 0x1111_2222_3333_4444)
        try env.write { txn in
            try txn.put(first, forKey: key)
            try txn.put("small", forKey: "neighbour")
        }
        let stats1 = env.lastCommit!   // this commit's statistics
        let runPages = UInt64(OverflowLayout.pageCount(valueLength: size, pageSize: 4096))
        #expect(stats1.pageCount >= runPages + 2)
        try env.read { txn throws in
            #expect(try freeSpaceValueEquals(txn, key, first), "the 64 MiB value did not round-trip")
            #expect(try txn.stats().overflowPages == runPages)
        }
        try assertClean(env)

        try env.write { txn throws in #expect(try txn.delete(key)) }
        let afterDelete = try assertClean(env)
        #expect(afterDelete.freePages >= runPages)
        try env.read { txn throws in #expect(try txn.get(key) == nil) }

        let second = freeSpacePattern(count: size, seed: 0x5555_6666_7777_8888)
        try env.write { txn in
            try txn.put(second, forKey: key)
        }
        let stats2 = env.lastCommit!   // this commit's statistics
        print("first: \(stats1)\nsecond: \(stats2)")
        #expect(stats2.pageCount <= stats1.pageCount + 16, "a second 64 MiB value grew the file from \(stats1.pageCount) to \(stats2.pageCount) pages")
        try env.read { txn throws in
            #expect(try freeSpaceValueEquals(txn, key, second), "the second 64 MiB value did not round-trip")
            #expect(try txn.getString("neighbour") == "small")
        }
        try assertClean(env)
        try env.sync()
    }

    /// `EnvironmentStats.freePages` (and `CheckReport.freePages`) are documented as the free pages
    /// the next writer may reuse: when they cover the pages the next commit writes, that commit
    /// must not grow the file. In every durability mode the file stays bounded.
    @Test(arguments: [Durability.full, .noMetaSync, .noSync])
    func reportedFreePagesAreReusableByTheNextWriter(durability: Durability) throws {
        let dir = try TemporaryDirectory("free-reported")
        let env = try Environment(path: dir.file(), options: Options(durability: durability))
        var history: [String] = []
        var firstRound: UInt64 = 0
        for round in 0..<8 {
            let before = try env.stats()
            // Two full writes, then half-size ones: the pages freed by the last commit cover them.
            let keys = round < 2 ? 2000 : 1000
            try env.write { txn in
                for i in 0..<keys { try txn.put(freeSpaceValue(i, round: round), forKey: freeSpaceKey(i)) }
            }
            let stats = env.lastCommit!   // this commit's statistics
            history.append("round \(round): \(before.freePages) free before, wrote \(stats.pagesWritten), page count \(before.pageCount) → \(stats.pageCount)")
            if round == 0 { firstRound = stats.pageCount }
            if round > 0 && before.freePages >= UInt64(stats.pagesWritten) + 8 {
                #expect(stats.pageCount <= before.pageCount + 8,
                        "\(durability): \(before.freePages) pages were reported reusable, yet the commit grew the file: \(history.last!)")
            }
            #expect(try env.check().freePages == env.stats().freePages)
        }
        print("\(durability):\n  " + history.joined(separator: "\n  "))
        #expect(try env.stats().pageCount <= 3 * firstRound + 8, "\(history)")
        try assertClean(env)
    }

    /// Each durability mode commits correctly, survives a reopen and passes the checker; the
    /// commit statistics count 1, 1 and 0 syncs (one sync per commit makes noMetaSync redundant).
    @Test(arguments: [(Durability.full, 1), (.noMetaSync, 1), (.noSync, 0)])
    func durabilityModesCommitAndCountSyncs(durability: Durability, syncs: Int) throws {
        let dir = try TemporaryDirectory("free-durability")
        let path = dir.file()
        var expected: [[UInt8]: [UInt8]] = [:]
        var g = SeededGenerator(seed: 0xD0_5EED)
        do {
            let env = try Environment(path: path, options: Options(durability: durability))
            for round in 0..<30 {
                try env.write { txn in
                    for j in 0..<50 {
                        let k = freeSpaceKey(Int.random(in: 0..<500, using: &g))
                        if j % 5 == 4 {
                            try txn.delete(k)
                            expected.removeValue(forKey: k)
                        } else {
                            let v = g.bytes(j == 0 ? 6000 : 90)
                            try txn.put(v, forKey: k)
                            expected[k] = v
                        }
                    }
                }
                let stats = env.lastCommit!   // this commit's statistics
                #expect(stats.syncs == syncs, "round \(round)")
                #expect(env.lastCommit == stats)
                #expect(stats.pagesWritten > 0)
                #expect(stats.bytesWritten == (stats.pagesWritten + 1) * 4096)
            }
            try assertClean(env)
            try env.sync()
        }
        let env = try Environment(path: path, options: Options(durability: durability))
        let contents = try env.read { txn in
            var out: [[UInt8]: [UInt8]] = [:]
            for (k, v) in try txn.entries().collect() { out[k] = v }
            return out
        }
        #expect(contents == expected)
        #expect(try env.stats().transactionID == 31)
        let report = try assertClean(env)
        #expect(report.freePages + report.pagesAwaitingReuse > 0)
    }
}

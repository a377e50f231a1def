import Foundation
import Synchronization
import Testing
@testable import Larch

// Issue 9: freed pages are reused whatever readers came before, so once the readers are gone the file
// stops growing. Before the fix, one long reader left a free tree of more than one leaf; from then on
// the free tree's own copy-on-write pages came from the end of the file in most commits, and the file
// grew by about one page every three commits for ever, nearly all of it free.

/// Commits advanced by the writer, watched by reader threads.
private final class CommitCounter: Sendable {
    private let value = Atomic<Int>(0)
    private let stopped = Atomic<Bool>(false)
    func increment() { value.add(1, ordering: .sequentiallyConsistent) }
    var current: Int { value.load(ordering: .sequentiallyConsistent) }
    func stop() { stopped.store(true, ordering: .sequentiallyConsistent) }
    var isStopped: Bool { stopped.load(ordering: .sequentiallyConsistent) }
}

private final class FailureLog: Sendable {
    private let failures = Mutex<[String]>([])
    private let readers = Mutex<(short: Int, long: Int)>((0, 0))
    func fail(_ message: String) { failures.withLock { $0.append(message) } }
    func ended(long: Bool) { readers.withLock { if long { $0.long += 1 } else { $0.short += 1 } } }
    var all: [String] { failures.withLock { $0 } }
    var counts: (short: Int, long: Int) { readers.withLock { $0 } }
}

/// A digest of every entry of the main database, in order.
private func snapshotDigest(_ txn: borrowing Transaction<some TransactionMode>) throws -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    try txn.forEach { key, value in
        key.withUnsafeBytes { k in for b in k { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 } }
        h = (h ^ 0xFF) &* 0x100_0000_01B3
        value.withUnsafeBytes { v in for b in v { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 } }
        h = (h ^ 0xFE) &* 0x100_0000_01B3
        return true
    }
    return h
}

@Suite struct FileGrowthTests {
    static let modes: [Durability] = [.noSync, .noMetaSync, .full]

    /// The reproduction: 1,000 keys, commits that each overwrite 4 values, one reader held
    /// across 100 commits. Afterwards the file must not grow at all: more than 500 of its pages are
    /// free. (Before the fix: 584 pages after the reader, then +750 pages every 2,000 commits.)
    @Test(arguments: modes)
    func oneLongReaderThenTheFileStaysFlat(durability: Durability) throws {
        let dir = try TemporaryDirectory("growth-one-reader")
        let env = try Environment(path: dir.file(), options: Options(durability: durability))
        let synced = durability != .noSync
        let warmup = synced ? 300 : 2_000
        let rounds = synced ? 3 : 5
        let perRound = synced ? 400 : 2_000
        func key(_ i: Int) -> [UInt8] { Array("k\(100000 + i)".utf8) }
        try env.write { t in for i in 0..<1000 { try t.put([UInt8](repeating: 1, count: 50), forKey: key(i)) } }
        var n = 0
        func commits(_ count: Int) throws {
            for _ in 0..<count {
                n += 1
                try env.write { t in
                    for j in 0..<4 { try t.put([UInt8](repeating: UInt8(n & 255), count: 50), forKey: key((n * 7 + j * 331) % 1000)) }
                }
            }
        }
        try commits(warmup)
        let beforeReader = try env.stats().pageCount
        let reader = try env.beginRead()
        try commits(100)
        reader.abort()
        let afterReader = try assertClean(env, "after the reader")
        print("\(durability): \(beforeReader) pages before the reader, \(afterReader.pageCount) after it (\(afterReader.freePages) free)")
        #expect(afterReader.pageCount > beforeReader, "the reader pinned the pages freed while it was open")
        for round in 1...rounds {
            try commits(perRound)
            let report = try assertClean(env, "round \(round)")
            print("  round \(round): \(report.pageCount) pages, \(report.freePages) free")
            #expect(report.pageCount == afterReader.pageCount,
                    "round \(round): the file grew from \(afterReader.pageCount) to \(report.pageCount) pages with \(afterReader.freePages) free")
        }
    }

    /// Random write workloads with reader threads of random lifetimes (many short, some held across
    /// hundreds of commits), then a quiet phase with no reader. The stated bound: the quiet phase may
    /// grow the file by at most twice the pages of its largest commit (only while the pages the last
    /// readers pinned are not yet all reusable), and after its first 100 commits not at all. The
    /// checker runs throughout and the database equals the model at the end of each phase.
    @Test(arguments: modes)
    func randomReadersThenQuietPhase(durability: Durability) throws {
        let seed = TestEnvironment.seed(default: 0x9_6000 + UInt64(Self.modes.firstIndex(of: durability)!))
        print("randomReadersThenQuietPhase(\(durability)): seed \(seed) (set LARCH_SEED to repeat)")
        var g = SeededGenerator(seed: seed)
        let dir = try TemporaryDirectory("growth-random")
        let env = try Environment(path: dir.file(), options: Options(durability: durability))
        let synced = durability != .noSync
        let mixedCommits = (synced ? 400 : 1_200) * TestEnvironment.scale
        let quietCommits = (synced ? 800 : 3_000) * TestEnvironment.scale
        let keySpace = 2_000
        func key(_ i: Int) -> [UInt8] { Array("key-\(String(i * 7919 % 100_003, radix: 16))".utf8) }
        var model: [Int: [UInt8]] = [:]

        // Reader threads: each holds a read transaction for a random number of commits, 0–2 (short)
        // or 20–400 (long), and checks that its snapshot did not change meanwhile.
        let counter = CommitCounter()
        let log = FailureLog()
        let group = DispatchGroup()
        for r in 0..<3 {
            let readerSeed = g.next()
            group.enter()
            Thread {
                defer { group.leave() }
                var rg = SeededGenerator(seed: readerSeed)
                while !counter.isStopped {
                    let long = rg.chance(0.15)
                    let lifetime = long ? Int.random(in: 20...400, using: &rg) : Int.random(in: 0...2, using: &rg)
                    do {
                        let txn = try env.beginRead()
                        let digest = try snapshotDigest(txn)
                        let start = counter.current
                        while counter.current < start + lifetime && !counter.isStopped { usleep(200) }
                        if try snapshotDigest(txn) != digest { log.fail("reader \(r): its snapshot changed over \(lifetime) commits") }
                        txn.abort()
                        log.ended(long: long)
                    } catch {
                        log.fail("reader \(r): \(error)")
                        return
                    }
                    usleep(UInt32.random(in: 100...2_000, using: &rg))
                }
            }.start()
        }

        func randomValue(_ g: inout SeededGenerator) -> [UInt8] {
            let roll = Int.random(in: 0..<100, using: &g)
            let size = roll < 85 ? Int.random(in: 0...200, using: &g)
                : roll < 97 ? Int.random(in: 500...1_500, using: &g) : Int.random(in: 4_000...20_000, using: &g)
            return g.bytes(size)
        }
        var largestMixedCommit = 0
        for c in 0..<mixedCommits {
            try env.write { txn in
                for _ in 0..<Int.random(in: 1...(g.chance(0.05) ? 200 : 12), using: &g) {
                    let k = Int.random(in: 0..<keySpace, using: &g)
                    if g.chance(0.3) {
                        let present = try txn.delete(key(k))
                        #expect(present == (model[k] != nil))
                        model[k] = nil
                    } else {
                        let v = randomValue(&g)
                        try txn.put(v, forKey: key(k))
                        model[k] = v
                    }
                }
            }
            let stats = env.lastCommit!   // this commit's statistics
            largestMixedCommit = max(largestMixedCommit, stats.pagesWritten)
            counter.increment()
            if c % 100 == 99 { try assertClean(env, "mixed commit \(c)") }
        }
        counter.stop()
        #expect(group.wait(timeout: .now() + 120) == .success)
        #expect(log.all.isEmpty, "\(log.all)")
        let readers = log.counts
        #expect(readers.long > 0, "no long reader ran")
        try expectEqualToModel(env, model, key)
        let quietStart = try assertClean(env, "end of the mixed phase")
        print("  mixed phase: \(readers.short) short and \(readers.long) long readers, largest commit \(largestMixedCommit) pages; \(quietStart)")

        // The quiet phase overwrites existing keys with values of the same sizes, so the live data
        // keeps its size and shape: any growth is free space not reused.
        let present = model.keys.sorted()
        var largestQuietCommit = 0
        var pagesAfterSettling: UInt64 = 0
        for c in 0..<quietCommits {
            try env.write { txn in
                for _ in 0..<Int.random(in: 1...8, using: &g) {
                    let k = present[Int.random(in: 0..<present.count, using: &g)]
                    let v = g.bytes(model[k]!.count)
                    try txn.put(v, forKey: key(k))
                    model[k] = v
                }
            }
            let stats = env.lastCommit!   // this commit's statistics
            largestQuietCommit = max(largestQuietCommit, stats.pagesWritten)
            if c == 99 { pagesAfterSettling = stats.pageCount }
            if c >= 100 {
                #expect(stats.pageCount <= pagesAfterSettling, "quiet commit \(c): the file grew to \(stats.pageCount) pages from \(pagesAfterSettling)")
                if stats.pageCount > pagesAfterSettling { break }
            }
            if c % 500 == 499 { try assertClean(env, "quiet commit \(c)") }
        }
        let end = try assertClean(env, "end of the quiet phase")
        try expectEqualToModel(env, model, key)
        print("  quiet phase: \(quietStart.pageCount) → \(end.pageCount) pages (largest commit \(largestQuietCommit) pages); \(end)")
        #expect(end.pageCount <= quietStart.pageCount + UInt64(2 * largestQuietCommit),
                "the quiet phase grew the file from \(quietStart.pageCount) to \(end.pageCount) pages")
    }

    private func expectEqualToModel(_ env: Environment, _ model: [Int: [UInt8]], _ key: (Int) -> [UInt8]) throws {
        try env.read { txn in
            let expected = model.map { (key($0.key), $0.value) }.sorted { keyPrecedes($0.0, $1.0) }
            var i = 0
            var mismatches = 0
            try txn.forEach { k, v in
                let key = k.withUnsafeBytes { Array($0) }
                let value = v.withUnsafeBytes { Array($0) }
                if i < expected.count, expected[i].0 == key, expected[i].1 == value {} else { mismatches += 1 }
                i += 1
                return true
            }
            #expect(i == expected.count && mismatches == 0, "database has \(i) entries (\(mismatches) differ), model \(expected.count)")
        }
    }
}

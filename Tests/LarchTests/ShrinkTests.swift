import Foundation
import Synchronization
import Testing
@testable import Larch

/// `Environment.shrink`: after large deletes the file gives space back while readers and writers
/// go on; pages a reader or a snapshot needs stay.
@Suite struct ShrinkTests {
    static func key(_ i: Int) -> [UInt8] { Array("key-\(100_000 + i)".utf8) }
    static func value(_ i: Int) -> [UInt8] { (0..<100).map { UInt8(truncatingIfNeeded: $0 &+ i) } }

    static func fill(_ env: Environment, count: Int) throws {
        try env.write { txn in
            for i in 0..<count { try txn.put(value(i), forKey: key(i)) }
            for i in stride(from: 0, to: count, by: 50) { try txn.put([UInt8](repeating: UInt8(i & 0xff), count: 9_000), forKey: Array("big-\(i)".utf8)) }
        }
    }

    static func contents(_ txn: borrowing ReadTransaction) throws -> [[UInt8]: [UInt8]] {
        var d: [[UInt8]: [UInt8]] = [:]
        for (k, v) in try txn.entries().collect() { d[k] = v }
        return d
    }

    @Test func afterLargeDeletesTheFileShrinks() throws {
        let dir = try TemporaryDirectory("shrink")
        let env = try Environment(path: dir.file(), options: Options(durability: .noSync))
        try Self.fill(env, count: 20_000)
        // Delete three keys in four, all over the key space: free pages everywhere.
        try env.write { txn in
            for i in 0..<20_000 where i % 4 != 0 { try txn.delete(Self.key(i)) }
            for i in stride(from: 0, to: 20_000, by: 100) { try txn.delete(Array("big-\(i)".utf8)) }
        }
        let expected = try env.read { try Self.contents($0) }
        let before = try env.stats()
        #expect(before.freePages > before.pageCount / 3, "\(before)")
        let stats = try env.shrink()
        #expect(stats.pagesRelocated > 0, "\(stats)")
        // The file keeps its live pages and at most an eighth of the free space (room for the copies).
        let free = before.freePages + before.pagesAwaitingReuse
        #expect(stats.pagesAfter <= before.pageCount - free + free / 8 + 8, "\(stats)")
        #expect(stats.fileBytesAfter < stats.fileBytesBefore && stats.fileBytesAfter == Int(stats.pagesAfter) * 4096, "\(stats)")
        let size = try FileManager.default.attributesOfItem(atPath: dir.file())[.size] as? Int
        #expect(size == stats.fileBytesAfter)
        #expect(try env.read { try Self.contents($0) } == expected)
        #expect(try env.check().isClean)
        // The metas agree on the page count, and the file reopens.
        env.close()
        let reopened = try Environment(path: dir.file())
        #expect(try reopened.check().isClean)
        let metas = try reopened.metaPages()
        #expect(metas.allSatisfy { $0.problem == nil }, "\(metas)")
        #expect(try reopened.read { try Self.contents($0) } == expected)
        // Shrinking again finds little more to do.
        let second = try reopened.shrink()
        #expect(second.pagesAfter <= stats.pagesAfter + 2, "\(second)")
    }

    /// A reader open across the shrink keeps its snapshot whole; what it pins is given back by a
    /// later shrink, once it ends. A writer thread commits all along.
    /// Churn under a long reader leaves the free tree's own pages at the end of the file; one pass
    /// moves the databases' pages but cannot cut past those, and a first `larch shrink` gave back
    /// almost nothing (454 → 449 pages; a second run 449 → 43). `shrink` now makes further passes
    /// while they gain: once is enough.
    @Test func oneShrinkIsEnoughAfterChurnUnderAReader() throws {
        let dir = try TemporaryDirectory("shrink-churn")
        let env = try Environment(path: dir.file(), options: Options(durability: .noSync))
        try env.write { txn in for i in 0..<3_000 { try txn.put(Self.value(i), forKey: Self.key(i)) } }
        var g = SeededGenerator(seed: 0x5421)
        var expected = try env.read { try Self.contents($0) }
        do {
            let reader = try env.beginRead()   // keeps every page freed meanwhile from reuse
            for _ in 0..<150 {
                try env.write { txn in
                    for _ in 0..<20 {
                        let i = Int.random(in: 0..<3_000, using: &g)
                        let v = g.bytes(Int.random(in: 50...3_000, using: &g))
                        try txn.put(v, forKey: Self.key(i))
                        expected[Self.key(i)] = v
                    }
                }
            }
            reader.abort()
        }
        try env.write { txn in try txn.put(Self.value(1), forKey: Self.key(1)) }   // the reader's pages become free
        expected[Self.key(1)] = Self.value(1)
        let before = try env.stats()
        let s = try env.shrink()
        let after = try env.stats()
        print("shrink after churn: \(before.pageCount) pages (\(before.freePages) free) -> \(after.pageCount) (\(after.freePages) free), \(s.commits) commits")
        #expect(before.freePages > Int(before.pageCount) / 2, "the churn left most of the file free: \(before)")
        #expect(after.freePages <= max(16, Int(after.pageCount) / 8), "one shrink gave the free space back: \(after)")
        #expect(try env.read { try Self.contents($0) } == expected)
        try assertClean(env)
    }

    @Test func readersAndWritersGoOnDuringAShrink() throws {
        let dir = try TemporaryDirectory("shrink-online")
        let env = try Environment(path: dir.file(), options: Options(durability: .noSync))
        try Self.fill(env, count: 20_000)
        let snapshotBefore = try env.read { try Self.contents($0) }
        let reader = try env.beginRead()
        try env.write { txn in for i in 0..<20_000 where i % 3 != 0 { try txn.delete(Self.key(i)) } }
        let stop = Atomic<Bool>(false)
        let written = Mutex<[Int]>([])
        let writer = Thread {
            var i = 0
            while !stop.load(ordering: .relaxed) {
                do {
                    try env.write { txn in try txn.put(Self.value(i), forKey: Array("new-\(i)".utf8)) }
                    written.withLock { $0.append(i) }
                } catch {
                    Issue.record("writer: \(error)")
                    return
                }
                i += 1
            }
        }
        writer.start()
        let first = try env.shrink()
        stop.store(true, ordering: .relaxed)
        while !writer.isFinished { usleep(1_000) }
        #expect(try Self.contents(reader) == snapshotBefore, "the old reader's snapshot is intact")
        reader.abort()
        #expect(try env.check().isClean)
        let second = try env.shrink()
        #expect(second.pagesAfter < first.pagesAfter, "after the reader ended more is given back: \(first) then \(second)")
        let news = written.withLock { $0 }
        #expect(news.count > 0)
        try env.read { txn throws in
            for i in news { #expect(try txn.get(Array("new-\(i)".utf8)) == Self.value(i)) }
            for i in stride(from: 0, to: 20_000, by: 3) { #expect(try txn.get(Self.key(i)) == Self.value(i)) }
        }
        #expect(try env.check().isClean)
    }

    /// Pages a named snapshot holds are not moved or cut; the snapshot reads whole afterwards, and
    /// dropping it lets the next shrink give them back.
    @Test func snapshotsKeepTheirPagesThroughAShrink() throws {
        let dir = try TemporaryDirectory("shrink-snapshot")
        let env = try Environment(path: dir.file(), options: Options(durability: .noSync))
        try Self.fill(env, count: 10_000)
        try env.createSnapshot("full")
        let full = try env.read(snapshot: "full") { try Self.contents($0) }
        try env.write { txn in for i in 0..<10_000 where i % 2 == 0 { try txn.delete(Self.key(i)) } }
        let withSnapshot = try env.shrink()
        #expect(try env.read(snapshot: "full") { try Self.contents($0) } == full)
        #expect(try env.check().isClean)
        try env.dropSnapshot("full")
        let after = try env.shrink()
        #expect(after.pagesAfter < withSnapshot.pagesAfter, "\(withSnapshot) then \(after)")
        #expect(try env.check().isClean)
    }

    /// With `shrinkWithCommits`, ordinary commits give space back: rewritten pages move to the
    /// lowest free pages, the free end of the file leaves the page count, and the file is cut.
    @Test func commitsGiveSpaceBackWithTheOption() throws {
        let dir = try TemporaryDirectory("shrink-commits")
        var options = Options(durability: .noSync)
        options.shrinkWithCommits = true
        let env = try Environment(path: dir.file(), options: options)
        try Self.fill(env, count: 20_000)
        // The large values, written last, end the file: deleting them frees its end (in a few
        // runs, which the meta's free list holds).
        try env.write { txn in
            for i in stride(from: 0, to: 20_000, by: 50) { try txn.delete(Array("big-\(i)".utf8)) }
        }
        let before = try env.stats()
        var g = SeededGenerator(seed: 21)
        for round in 0..<300 {
            try env.write { txn in
                for _ in 0..<20 {
                    let i = Int.random(in: 0..<20_000, using: &g)
                    try txn.put(Self.value(i &+ round), forKey: Self.key(i))
                }
            }
        }
        let after = try env.stats()
        #expect(after.pageCount < before.pageCount * 2 / 3, "\(before.pageCount) → \(after.pageCount) pages")
        #expect(after.fileSizeBytes < before.fileSizeBytes, "\(before.fileSizeBytes) → \(after.fileSizeBytes) bytes")
        let size = try FileManager.default.attributesOfItem(atPath: dir.file())[.size] as? Int
        #expect(size == after.fileSizeBytes)
        #expect(try env.check().isClean)
        env.close()
        #expect(try Environment(path: dir.file()).check().isClean)
    }

    /// With `shrinkWithCommits`, commits that touch only a few hot keys still move the cold data
    /// out of the end of the file, a few leaves per commit, and the file shrinks; without it, not.
    @Test func commitsMoveColdDataWithTheOption() throws {
        func run(_ shrinking: Bool) throws -> (before: UInt64, after: UInt64) {
            let dir = try TemporaryDirectory("shrink-cold")
            var options = Options(durability: .noSync)
            options.shrinkWithCommits = shrinking
            let env = try Environment(path: dir.file(), options: options)
            try env.write { txn in for i in 0..<20_000 { try txn.put(Self.value(i), forKey: Self.key(i)) } }
            // Free pages everywhere: delete every other run of 500 keys (whole leaves); the last
            // keys, at the end of the file, stay.
            try env.write { txn in for i in 0..<20_000 where (i / 500) % 2 == 0 { try txn.delete(Self.key(i)) } }
            let expected = try env.read { try Self.contents($0) }
            let before = try env.stats().pageCount
            for round in 0..<1_500 {
                try env.write { txn in try txn.put(Self.value(round), forKey: Array("hot-\(round % 10)".utf8)) }
            }
            var contents = try env.read { try Self.contents($0) }
            for r in 0..<10 { contents[Array("hot-\(r)".utf8)] = nil }
            #expect(contents == expected)
            #expect(try env.check().isClean)
            return (before, try env.stats().pageCount)
        }
        let off = try run(false)
        let on = try run(true)
        #expect(off.after >= off.before, "without the option: \(off)")
        #expect(on.after < on.before * 3 / 4, "with the option: \(on)")
    }
}

import Foundation
import Synchronization
import Testing
@testable import Larch

/// `Environment.copy(to:compact:)`: consistent snapshots while a writer goes on, compaction,
/// refusal to overwrite, and no half-written copy left behind on failure.
@Suite struct CopyTests {
    /// Every entry of every database, for comparing files.
    static func contents(_ txn: borrowing Transaction<some TransactionMode>) throws -> [String: [[UInt8]: [UInt8]]] {
        var all: [String: [[UInt8]: [UInt8]]] = [:]
        for (name, db) in [("", Database.main)] + (try txn.databaseNames().map { ($0, try txn.openDatabase($0)) }) {
            var m: [[UInt8]: [UInt8]] = [:]
            for (k, v) in try txn.entries(in: db).collect() { m[k] = v }
            all[name] = m
        }
        return all
    }

    static func fill(_ env: Environment, seed: UInt64, pageSize: Int) throws {
        var g = SeededGenerator(seed: seed)
        try env.write { txn in
            let named = try txn.openDatabase("named", create: true)
            let empty = try txn.openDatabase("empty", create: true)
            _ = empty
            for i in 0..<4000 {
                let large = i % 400 == 0
                try txn.put(g.bytes(large ? 3 * pageSize : Int(g.next() % 120)), forKey: bytes("k\(i)"))
                if i % 3 == 0 { try txn.put(g.bytes(20), forKey: bytes("n\(i)"), in: named) }
            }
        }
        // Churn: deletes and overwrites leave free pages behind.
        for round in 0..<5 {
            try env.write { txn in
                for i in stride(from: round, to: 4000, by: 2) where i % 5 != 0 { _ = try txn.delete(bytes("k\(i)")) }
                for i in stride(from: 0, to: 4000, by: 7) { try txn.put(g.bytes(50), forKey: bytes("k\(i)")) }
            }
        }
    }

    @Test(arguments: [4096, 16384])
    func plainAndCompactCopiesMatchAndPassCheck(pageSize: Int) throws {
        let dir = try TemporaryDirectory("copy")
        let env = try Environment(path: dir.file("src.larch"), options: Options(pageSize: pageSize))
        try Self.fill(env, seed: 3, pageSize: pageSize)
        let expected = try env.read { try Self.contents($0) }
        let source = try env.stats()
        #expect(source.freePages > 0, "the source has free pages to drop")

        let plain = try env.copy(to: dir.file("plain.larch"))
        let compact = try env.copy(to: dir.file("compact.larch"), compact: true)
        #expect(plain.snapshotID == source.transactionID && compact.snapshotID == source.transactionID)
        #expect(plain.pages == source.pageCount && !plain.compacted)
        #expect(compact.pages == source.pageCount - source.freePages - source.pagesAwaitingReuse - source.freeTreePages,
                "only the pages of the databases are copied (not the free tree's)")
        for (name, stats) in [("plain.larch", plain), ("compact.larch", compact)] {
            let copy = try Environment(path: dir.file(name), options: Options(verifyChecksums: true))
            let report = try assertClean(copy, "\(name)")
            #expect(report.transactionID == source.transactionID + 1)
            #expect(try copy.read { try Self.contents($0) } == expected, "\(name) content")
            #expect(try copy.metaPages().allSatisfy { $0.transactionID != nil }, "both meta pages of a copy are valid")
            #expect(try copy.stats().pageCount == stats.pages)
            #expect(try copy.stats().main == source.main, "tree shapes are kept")
            // A copy is an ordinary database.
            try copy.write { txn in try txn.put(bytes("after"), forKey: bytes("copy")) }
            try assertClean(copy)
        }
    }

    @Test func copyIsConsistentWhileAWriterGoesOn() throws {
        let dir = try TemporaryDirectory("copy-live")
        let env = try Environment(path: dir.file("live.larch"), options: Options(durability: .noSync))
        try Self.fill(env, seed: 4, pageSize: 4096)
        let stop = Mutex(false)
        let writer = Thread {
            var g = SeededGenerator(seed: 9)
            var n = 0
            while !stop.withLock({ $0 }) {
                try? env.write { txn in
                    for _ in 0..<200 {
                        let i = Int(g.next() % 8000)
                        if g.next() % 3 == 0 { _ = try txn.delete(bytes("k\(i)")) } else { try txn.put(g.bytes(Int(g.next() % 300)), forKey: bytes("k\(i)")) }
                    }
                }
                n += 1
            }
        }
        writer.start()
        defer { stop.withLock { $0 = true } }
        for round in 0..<6 {
            for compact in [false, true] {
                let txn = try env.beginRead()
                let expected = try Self.contents(txn)
                let path = dir.file("snap\(round)-\(compact).larch")
                let stats = try txn.copy(to: path, compact: compact)
                #expect(stats.snapshotID == txn.snapshotID)
                txn.abort()
                let copy = try Environment(path: path)
                try assertClean(copy, "round \(round) compact \(compact)")
                #expect(try copy.read { try Self.contents($0) } == expected, "round \(round) compact \(compact): the copy is the snapshot")
                copy.close()
            }
        }
        stop.withLock { $0 = true }
        try assertClean(env)
    }

    @Test func refusesExistingDestinationsAndRemovesFailedCopies() throws {
        let dir = try TemporaryDirectory("copy-fail")
        let env = try Environment(path: dir.file("src.larch"))
        try Self.fill(env, seed: 5, pageSize: 4096)
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: dir.file("exists")))
        #expect(throws: LarchError.self) { try env.copy(to: dir.file("exists")) }
        #expect(try String(contentsOfFile: dir.file("exists"), encoding: .utf8) == "keep me")
        #expect(throws: LarchError.self) { try env.copy(to: dir.file("no/such/dir/copy.larch")) }
        env.close()

        // Damage a page the main tree reaches: a compact copy verifies checksums and fails, leaving no file.
        var image = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir.file("src.larch"))))
        let reopened = try Environment(path: dir.file("src.larch"))
        let root = try reopened.read { $0.core.meta.main.root.rawValue }
        reopened.close()
        image[Int(root) * 4096 + 4000] ^= 0xff
        try Data(image).write(to: URL(fileURLWithPath: dir.file("src.larch")))
        let damaged = try Environment(path: dir.file("src.larch"))
        #expect {
            try damaged.copy(to: dir.file("bad.larch"), compact: true)
        } throws: { error in
            guard case LarchError.checksumMismatch(let page, _, _) = error else { return false }
            return page == root
        }
        #expect(!FileManager.default.fileExists(atPath: dir.file("bad.larch")), "a failed copy is removed")
    }
}

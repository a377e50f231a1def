import Foundation
import Testing
@testable import Larch

/// `Environment.entries(in:_:reverse:batchSize:)`: async scans in batches, each in its own short
/// read transaction.
@Suite struct AsyncEntriesTests {
    static func key(_ i: Int) -> String { "k" + String(repeating: "0", count: 5 - String(i).count) + String(i) }

    static func filled(_ dir: TemporaryDirectory, count: Int) async throws -> (Environment, Database) {
        let env = try Environment(path: dir.file(), options: Options(durability: .noSync))
        let db = try await env.write { txn in
            let db = try txn.openDatabase("d", create: true)
            for i in 0..<count {
                try txn.put("v\(i)", forKey: key(i), in: db)
                try txn.put("m\(i)", forKey: key(i))
            }
            return db
        }
        return (env, db)
    }

    @Test func batchesMatchOneTransactionScan() async throws {
        let dir = try TemporaryDirectory("async-entries")
        defer { dir.remove() }
        let (env, db) = try await Self.filled(dir, count: 5_000)
        for (range, reverse) in [(KeyRange.all, false), (.all, true), (.prefix(Array("k012".utf8)), false),
                                 (KeyRange("k00100"..<"k03333"), true), (KeyRange("zz"...), false)] {
            for batch in [1, 7, 512, 10_000] {
                var got: [[UInt8]] = []
                var values: [[UInt8]] = []
                for try await (k, v) in env.entries(in: db, range, reverse: reverse, batchSize: batch) {
                    got.append(k)
                    values.append(v)
                }
                let expected = try await env.read { txn in try txn.entries(in: db, range, reverse: reverse).collect() }
                #expect(got == expected.map(\.key), "range \(range) reverse \(reverse) batch \(batch)")
                #expect(values == expected.map(\.value))
            }
        }
        // The main database and a Swift range.
        var n = 0
        for try await (k, v) in env.entries("k00010"..<"k00020") {
            #expect(String(decoding: v, as: UTF8.self) == "m" + String(Int(String(decoding: k.dropFirst(), as: UTF8.self))!))
            n += 1
        }
        #expect(n == 10)
    }

    @Test func writesBetweenBatchesAndNoReaderHeld() async throws {
        let dir = try TemporaryDirectory("async-entries")
        defer { dir.remove() }
        let (env, db) = try await Self.filled(dir, count: 1_000)
        var seen: [[UInt8]] = []
        var it = env.entries(in: db, batchSize: 100).makeAsyncIterator()
        var i = 0
        while let (k, _) = try await it.next() {
            seen.append(k)
            i += 1
            if i % 100 == 50 {
                // Between entries of a batch, and so between batches, no read transaction is open.
                #expect(try env.stats().readers == 0)
                let behind = i / 2, ahead = 1_000 + i
                try await env.write { txn in
                    _ = try txn.delete(Self.key(behind), in: db)   // already scanned
                    try txn.put("new", forKey: Self.key(ahead), in: db)   // ahead of the scan
                    _ = try txn.delete(Self.key(min(i + 120, 999)), in: db)   // ahead, in a later batch
                }
            }
        }
        #expect(seen == seen.sorted { $0.lexicographicallyPrecedes($1) })
        #expect(Set(seen).count == seen.count)
        #expect(seen.contains(Array(Self.key(1_050).utf8)))          // inserted ahead: seen
        #expect(!seen.contains(Array(Self.key(170).utf8)))           // deleted ahead (i = 50 → 170): not seen
        #expect(seen.contains(Array(Self.key(25).utf8)))             // deleted behind: seen before
    }

    actor Indexer {
        var count = 0
        func run(_ env: Environment) async throws {
            for try await (_, _) in env.entries(batchSize: 64) { count += 1 }
        }
    }

    @Test func usableFromAnActorAndErrorsEndTheScan() async throws {
        let dir = try TemporaryDirectory("async-entries")
        defer { dir.remove() }
        let (env, db) = try await Self.filled(dir, count: 300)
        let indexer = Indexer()
        try await indexer.run(env)
        #expect(await indexer.count == 300)
        var it = env.entries(in: db, batchSize: 10).makeAsyncIterator()
        _ = try await it.next()
        try await env.write { txn in try txn.dropDatabase(db) }
        for _ in 0..<9 { _ = try await it.next() }   // the rest of the first batch, already copied
        await #expect(throws: LarchError.self) { _ = try await it.next() }
        let after = try await it.next()
        #expect(after == nil)
    }
}

import Foundation
import Testing
@testable import Larch

/// Sorted-duplicates databases (LMDB's `MDB_DUPSORT`): the API, conversion between inline lists
/// and duplicate trees, typed errors for misuse, and what every other subsystem does with them.
@Suite("Sorted duplicates")
struct DuplicateSortTests {
    private func values(_ n: Int, prefix: String = "v") -> [[UInt8]] {
        (0..<n).map { bytes(prefix + String(format: "%06d", $0)) }
    }

    @Test("put, count, first/last, values, delete pair, delete key")
    func basics() throws {
        try withTemporaryDirectory { dir in
            let env = try Environment(path: dir.file())
            try env.write { txn in
                let db = try txn.openDatabase("byCity", create: true, duplicates: .sorted)
                #expect(try txn.putDuplicate(bytes("b"), forKey: bytes("Paris"), in: db))
                #expect(try txn.putDuplicate(bytes("a"), forKey: bytes("Paris"), in: db))
                #expect(try txn.putDuplicate(bytes("c"), forKey: bytes("Paris"), in: db))
                #expect(try !txn.putDuplicate(bytes("a"), forKey: bytes("Paris"), in: db))
                #expect(throws: LarchError.duplicateExists) { try txn.putDuplicate(bytes("a"), forKey: bytes("Paris"), in: db, allowExisting: false) }
                try txn.putDuplicate(bytes("x"), forKey: bytes("Oslo"), in: db)
                #expect(try txn.count(forKey: bytes("Paris"), in: db) == 3)
                #expect(try txn.values(forKey: bytes("Paris"), in: db) == [bytes("a"), bytes("b"), bytes("c")])
                #expect(try txn.firstValue(forKey: bytes("Paris"), in: db) == bytes("a"))
                #expect(try txn.lastValue(forKey: bytes("Paris"), in: db) == bytes("c"))
                #expect(try txn.get(bytes("Paris"), in: db) == bytes("a"))
                #expect(try txn.stats(db).entries == 4)
            }
            try assertClean(env)
            try env.write { txn in
                let db = try txn.openDatabase("byCity", create: false, duplicates: .sorted)
                #expect(try txn.deleteDuplicate(bytes("b"), forKey: bytes("Paris"), in: db))
                #expect(try !txn.deleteDuplicate(bytes("b"), forKey: bytes("Paris"), in: db))
                #expect(try txn.deleteAllValues(forKey: bytes("Oslo"), in: db) == 1)
                #expect(try txn.count(forKey: bytes("Oslo"), in: db) == 0)
            }
            try env.read { txn in
                let db = try txn.openDatabase("byCity", duplicates: .sorted)
                #expect(try txn.values(forKey: bytes("Paris"), in: db) == [bytes("a"), bytes("c")])
                #expect(try txn.stats(db).entries == 2)
            }
            try assertClean(env)
        }
    }

    @Test("A key's values move to a duplicate tree and back", arguments: [4096, 65536])
    func conversion(pageSize: Int) throws {
        try withTemporaryDirectory { dir in
            var options = Options(pageSize: pageSize)
            options.strictChecks = .full
            let env = try Environment(path: dir.file(), options: options)
            let many = values(5_000)
            try env.write { txn in
                let db = try txn.openDatabase("d", create: true, duplicates: .sorted)
                for v in many.shuffled() { try txn.putDuplicate(v, forKey: bytes("k"), in: db) }
                try txn.putDuplicate(bytes("one"), forKey: bytes("single"), in: db)
                #expect(try txn.count(forKey: bytes("k"), in: db) == many.count)
            }
            try assertClean(env)
            try env.read { txn in
                let db = try txn.openDatabase("d", duplicates: .sorted)
                #expect(try txn.values(forKey: bytes("k"), in: db) == many)
                let s = try txn.stats(db)
                #expect(s.entries == UInt64(many.count + 1))
                #expect(s.leafPages > 1)
            }
            // Delete all but a few: back inline.
            try env.write { txn in
                let db = try txn.openDatabase("d", create: false, duplicates: .sorted)
                for v in many.dropFirst(3) { #expect(try txn.deleteDuplicate(v, forKey: bytes("k"), in: db)) }
                #expect(try txn.values(forKey: bytes("k"), in: db) == Array(many.prefix(3)))
                #expect(try txn.stats(db).leafPages == 1)
            }
            try assertClean(env)
            let stats = try env.stats()
            #expect(stats.pageCount > 2)
        }
    }

    /// A value too large to sit inline beside its key starts a duplicate tree at once, even in an empty database.
    @Test func largeFirstValueStartsATree() throws {
        try withTemporaryDirectory { dir in
            let env = try Environment(path: dir.file())
            let key = [UInt8](repeating: 7, count: 1024)
            let value = [UInt8](repeating: 9, count: 1024)
            try env.write { txn in
                let db = try txn.openDatabase("d", create: true, duplicates: .sorted)
                try txn.putDuplicate(value, forKey: key, in: db)
                #expect(try txn.stats(db).leafPages == 2)
            }
            try assertClean(env)
            try env.write { txn in
                let db = try txn.openDatabase("d", create: false, duplicates: .sorted)
                #expect(try txn.values(forKey: key, in: db) == [value])
                #expect(try txn.deleteDuplicate(value, forKey: key, in: db))
                #expect(try txn.stats(db) == DatabaseStats(TreeRoot.empty(flags: TreeRoot.flagSortedDuplicates)))
            }
            try assertClean(env)
        }
    }

    @Test("Cursor moves within and across keys")
    func cursor() throws {
        try withTemporaryDirectory { dir in
            let env = try Environment(path: dir.file())
            try env.write { txn in
                let db = try txn.openDatabase("d", create: true, duplicates: .sorted)
                for k in ["a", "b", "c"] {
                    for v in ["1", "2", "3"] { try txn.putDuplicate(bytes(v), forKey: bytes(k), in: db) }
                }
                for v in values(1000) { try txn.putDuplicate(v, forKey: bytes("big"), in: db) }
            }
            try env.read { txn in
                let db = try txn.openDatabase("d", duplicates: .sorted)
                let c = try txn.duplicateCursor(db)
                var pairs: [String] = []
                var more = try c.first()
                while more {
                    pairs.append(String(decoding: try c.key!, as: UTF8.self) + "=" + String(decoding: try c.value!, as: UTF8.self))
                    more = try c.next()
                }
                #expect(pairs.count == 1009)
                #expect(pairs.first == "a=1" && pairs.last == "c=3")
                #expect(try c.seek(toKey: bytes("b")))
                #expect(try c.value == bytes("1"))
                #expect(try c.count == 3)
                #expect(try c.nextDuplicate())
                #expect(try c.value == bytes("2"))
                #expect(try c.lastDuplicate())
                #expect(try !c.nextDuplicate())
                #expect(try c.value == bytes("3"))
                #expect(try c.nextKey())
                #expect(try c.key == bytes("big") && c.value == values(1)[0])
                #expect(try c.previousKey())
                #expect(try c.key == bytes("b") && c.value == bytes("3"))
                #expect(try c.seek(toKey: bytes("big"), valueAtLeast: bytes("v000500x")))
                #expect(try c.value == bytes("v000501"))
                #expect(try c.previous())
                #expect(try c.value == bytes("v000500"))
                #expect(try c.seek(toKey: bytes("big"), value: bytes("v000999")))
                #expect(try c.next())
                #expect(try c.key == bytes("c") && c.value == bytes("1"))
                #expect(try !c.seek(toKey: bytes("big"), value: bytes("nope")))
                #expect(try c.seek(atLeastKey: bytes("bb")))
                #expect(try c.key == bytes("big"))
                #expect(try c.count == 1000)
            }
        }
    }

    @Test("Misuse gets typed errors")
    func misuse() throws {
        try withTemporaryDirectory { dir in
            let env = try Environment(path: dir.file())
            try env.write { txn in
                let plain = try txn.openDatabase("plain", create: true)
                let dups = try txn.openDatabase("dups", create: true, duplicates: .sorted)
                #expect(throws: LarchError.self) { try txn.putDuplicate(bytes("v"), forKey: bytes("k"), in: plain) }
                #expect(throws: LarchError.self) { _ = try txn.openDatabase("plain", create: false, duplicates: .sorted) }
                #expect(throws: LarchError.self) { _ = try txn.openDatabase("dups", create: false) }
                #expect(throws: LarchError.self) { _ = try txn.cursor(dups) }
                #expect(throws: LarchError.self) { _ = try txn.entries(in: dups) }
                #expect(throws: LarchError.duplicateValueSize(size: 0, limit: 1024)) { try txn.putDuplicate([UInt8](), forKey: bytes("k"), in: dups) }
                #expect(throws: LarchError.duplicateValueSize(size: 1025, limit: 1024)) {
                    try txn.putDuplicate([UInt8](repeating: 1, count: 1025), forKey: bytes("k"), in: dups)
                }
                // The transaction is still usable after rejected input.
                try txn.putDuplicate(bytes("v"), forKey: bytes("k"), in: dups)
                #expect(try txn.databaseKind("dups") == .sorted)
                #expect(try txn.databaseKind("plain") == Duplicates.none)
            }
            try assertClean(env)
        }
    }
}

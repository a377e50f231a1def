import Foundation
import Testing
@testable import Larch

/// What the other subsystems do with sorted-duplicates databases: clear and drop free every page
/// of their duplicate trees, the compacting copy, named snapshots (dead extents of duplicate-tree
/// pages), shrink relocating duplicate-tree pages, and send/receive.
@Suite("Sorted duplicates in every subsystem")
struct DuplicateSubsystemTests {
    /// Keys with thousands of values (duplicate trees), keys with a few (inline lists).
    static func fill(_ txn: inout WriteTransaction, _ db: Database, heavy: Int = 3, values: Int = 3000, offset: Int = 0) throws {
        for h in 0..<heavy {
            for i in 0..<values { try txn.putDuplicate(bytes(String(format: "value-%07d", i + offset)), forKey: bytes("heavy\(h)"), in: db) }
        }
        for k in 0..<200 {
            for i in 0..<(k % 4 + 1) { try txn.putDuplicate(bytes("v\(i + offset)"), forKey: bytes(String(format: "light%04d", k)), in: db) }
        }
    }

    /// Every (key, value) pair of `name`.
    static func pairs(_ txn: borrowing Transaction<some TransactionMode>, _ name: String = "dups") throws -> [[UInt8]] {
        let db = try txn.openDatabase(name, duplicates: .sorted)
        var out: [[UInt8]] = []
        try txn.forEachDuplicate(in: db) { k, v in
            out.append(k.withUnsafeBytes { Array($0) } + [0] + v.withUnsafeBytes { Array($0) })
            return true
        }
        return out
    }

    @Test func clearAndDropFreeDuplicateTrees() throws {
        try withTemporaryDirectory { dir in
            let env = try Environment(path: dir.file())
            try env.write { txn in
                let db = try txn.openDatabase("dups", create: true, duplicates: .sorted)
                try Self.fill(&txn, db)
            }
            let before = try env.check()
            #expect(before.isClean)
            try env.write { txn in
                let db = try txn.openDatabase("dups", create: false, duplicates: .sorted)
                try txn.clear(db)
                #expect(try txn.stats(db) == DatabaseStats(TreeRoot.empty(flags: TreeRoot.flagSortedDuplicates)))
                // Still a sorted-duplicates database.
                try txn.putDuplicate(bytes("a"), forKey: bytes("k"), in: db)
                try txn.putDuplicate(bytes("b"), forKey: bytes("k"), in: db)
            }
            let afterClear = try assertClean(env)
            #expect(afterClear.reachablePages < before.reachablePages)
            try env.write { txn in
                let db = try txn.openDatabase("dups", create: false, duplicates: .sorted)
                try Self.fill(&txn, db)
                try txn.dropDatabase(db)
            }
            try assertClean(env)
            #expect(try env.read { txn in try txn.databaseNames() }.isEmpty)
        }
    }

    @Test func compactingCopy() throws {
        try withTemporaryDirectory { dir in
            let env = try Environment(path: dir.file())
            try env.write { txn in
                let db = try txn.openDatabase("dups", create: true, duplicates: .sorted)
                try Self.fill(&txn, db)
                _ = try txn.openDatabase("plain", create: true)
            }
            let expected = try env.read { txn in try Self.pairs(txn) }
            for compact in [true, false] {
                let path = dir.file("copy-\(compact).larch")
                _ = try env.copy(to: path, compact: compact)
                let copy = try Environment(path: path)
                try assertClean(copy)
                #expect(try copy.read { txn in try Self.pairs(txn) } == expected)
                #expect(try copy.read { txn in try txn.databaseKind("dups") } == .sorted)
                copy.close()
            }
        }
    }

    @Test func snapshotsKeepDuplicateTrees() throws {
        try withTemporaryDirectory { dir in
            let env = try Environment(path: dir.file())
            try env.write { txn in
                let db = try txn.openDatabase("dups", create: true, duplicates: .sorted)
                try Self.fill(&txn, db)
            }
            let original = try env.read { txn in try Self.pairs(txn) }
            _ = try env.createSnapshot("before")
            try env.write { txn in
                let db = try txn.openDatabase("dups", create: false, duplicates: .sorted)
                for i in 0..<2500 { try txn.deleteDuplicate(bytes(String(format: "value-%07d", i)), forKey: bytes("heavy0"), in: db) }
                try txn.deleteAllValues(forKey: bytes("heavy1"), in: db)
                try Self.fill(&txn, db, heavy: 1, values: 500, offset: 10_000)
            }
            try assertClean(env)
            _ = try env.createSnapshot("after")
            try env.write { txn in try txn.dropDatabase(try txn.openDatabase("dups", create: false, duplicates: .sorted)) }
            try assertClean(env)
            #expect(try env.read(snapshot: "before") { txn in try Self.pairs(txn) } == original)
            let heavy0 = try env.read(snapshot: "after") { txn in
                try txn.count(forKey: bytes("heavy0"), in: txn.openDatabase("dups", duplicates: .sorted))
            }
            #expect(heavy0 == 500 + 500)
            try env.dropSnapshot("before")
            try assertClean(env)
            try env.dropSnapshot("after")
            let report = try assertClean(env)
            #expect(report.snapshotPages == 0)
        }
    }

    @Test func shrinkMovesDuplicateTreePages() throws {
        try withTemporaryDirectory { dir in
            let env = try Environment(path: dir.file())
            // Plain data first (low pages), duplicate trees after it (high pages), then the plain data goes.
            try env.write { txn in
                let plain = try txn.openDatabase("plain", create: true)
                for i in 0..<20_000 { try txn.put(bytes("value \(i) padding padding padding"), forKey: bytes(String(format: "key%08d", i)), in: plain) }
            }
            try env.write { txn in
                let db = try txn.openDatabase("dups", create: true, duplicates: .sorted)
                try Self.fill(&txn, db, heavy: 4, values: 4000)
            }
            let expected = try env.read { txn in try Self.pairs(txn) }
            try env.write { txn in try txn.dropDatabase(try txn.openDatabase("plain", create: false)) }
            let stats = try env.shrink()
            #expect(stats.pagesAfter < stats.pagesBefore, "\(stats)")
            #expect(stats.pagesRelocated > 0, "\(stats)")
            try assertClean(env)
            #expect(try env.read { txn in try Self.pairs(txn) } == expected)
            // Most of the freed space is given back: the file is not much larger than its live pages.
            let report = try env.check()
            #expect(report.pageCount < report.reachablePages + report.reachablePages / 2 + 64, "\(report)")
        }
    }

    /// Open's check of the newest commit (FORMAT.md §13) descends into duplicate trees: after a
    /// machine crash, a duplicate-tree page of the newest commit that is not as written makes the
    /// file open at the commit before it.
    @Test func openChecksTheNewestCommitsDuplicateTreePages() throws {
        try withTemporaryDirectory { dir in
            let path = dir.file()
            let leafPage: UInt64 = try {
                let env = try Environment(path: path)
                try env.write { txn in
                    let db = try txn.openDatabase("dups", create: true, duplicates: .sorted)
                    try Self.fill(&txn, db, heavy: 1, values: 3000)
                }
                // The last commit changes only the duplicate tree of one key.
                _ = try env.write { txn in
                    try txn.putDuplicate(bytes("value-9999999"), forKey: bytes("heavy0"), in: try txn.openDatabase("dups", create: false, duplicates: .sorted))
                }
                return try env.read { txn in
                    let core = txn.core
                    let t = try core.tree(try txn.openDatabase("dups", duplicates: .sorted))
                    let entry = try bytes("heavy0").withUnsafeBytes { k in try core.lookup(tree: t, key: k) }
                    guard let entry, case .tree(let sub) = try core.duplicateSet(of: entry) else { throw LarchError.invalidOption("no duplicate tree") }
                    #expect(sub.rootBirth == core.meta.txnID, "the duplicate tree's root is born in the last commit")
                    env.close()
                    return sub.root.rawValue
                }
            }()
            var bytesOfPage = try RawFileIO.read(path, at: Int(leafPage) * 4096 + 3000, count: 1)
            bytesOfPage[0] ^= 0x5A
            try RawFileIO.write(path, bytesOfPage, at: Int(leafPage) * 4096 + 3000)
            try FileManager.default.removeItem(atPath: path + "-lock")   // what a reboot forgets
            let env = try Environment(path: path)
            #expect(try env.read { txn in try txn.contains(bytes("value-9999999"), forKey: bytes("heavy0"), in: txn.openDatabase("dups", duplicates: .sorted)) } == false)
            #expect(try env.read { txn in try txn.count(forKey: bytes("heavy0"), in: txn.openDatabase("dups", duplicates: .sorted)) } == 3000)
            try assertClean(env)
        }
    }

    @Test func sendAndReceive() throws {
        try withTemporaryDirectory { dir in
            let primary = try Environment(path: dir.file("primary.larch"))
            let replica = try Environment(path: dir.file("replica.larch"))
            try primary.write { txn in
                let db = try txn.openDatabase("dups", create: true, duplicates: .sorted)
                try Self.fill(&txn, db)
            }
            _ = try primary.createSnapshot("s1")
            let s1 = ReplicationTests.Stream()
            _ = try primary.send(snapshot: "s1") { s1.write($0) }
            _ = try replica.receive { s1.read($0) }
            #expect(try replica.read { txn in try Self.pairs(txn) } == primary.read { txn in try Self.pairs(txn) })
            try primary.write { txn in
                let db = try txn.openDatabase("dups", create: false, duplicates: .sorted)
                for i in stride(from: 0, to: 3000, by: 3) { try txn.deleteDuplicate(bytes(String(format: "value-%07d", i)), forKey: bytes("heavy2"), in: db) }
                try txn.deleteAllValues(forKey: bytes("light0005"), in: db)
                try txn.putDuplicate(bytes("new"), forKey: bytes("light0007"), in: db)
                try txn.putDuplicate(bytes("new"), forKey: bytes("brand new"), in: db)
                // A plain database that becomes a sorted-duplicates one of the same name.
                _ = try txn.openDatabase("kind", create: true)
            }
            _ = try primary.createSnapshot("s2")
            try primary.write { txn in
                try txn.dropDatabase(try txn.openDatabase("kind", create: false))
                let k = try txn.openDatabase("kind", create: true, duplicates: .sorted)
                try txn.putDuplicate(bytes("1"), forKey: bytes("x"), in: k)
            }
            _ = try primary.createSnapshot("s3")
            for (from, to) in [("s1", "s2"), ("s2", "s3")] {
                let s = ReplicationTests.Stream()
                let sent = try primary.send(snapshot: to, from: from) { s.write($0) }
                _ = try replica.receive { s.read($0) }
                #expect(sent.records < 600, "an incremental stream sends the changed keys only: \(sent.records) records")
                #expect(try replica.read { txn in try Self.pairs(txn) } == primary.read { txn in try Self.pairs(txn) })
            }
            #expect(try replica.read { txn in try Self.pairs(txn, "kind") } == [bytes("x") + [0] + bytes("1")])
            try assertClean(replica)
        }
    }
}

import Foundation
import Testing
@testable import Larch

/// Transactions larger than memory (issue 14): a write transaction whose dirty pages pass
/// `Options.maxDirtyBytes` writes leaves and overflow runs to the file before commit and reads them
/// back when needed. With a budget of a few pages, spilling, reading back, re-dirtying and
/// releasing spilled pages happen on nearly every operation.
///
/// Reproduce a failure with the seed printed: `LARCH_SEED=<seed> swift test --filter SpillTests`.
@Suite("Spilling dirty pages (transactions larger than memory)")
struct SpillTests {
    static let defaultSeed: UInt64 = 0x5350_494C_4C00_0001

    @Test("Model run with a 4-page dirty budget, 4 KiB pages: every result, every commit checked, aborts leave used pages byte-identical")
    func modelTinyBudget4K() {
        let run = ModelRun(seed: TestEnvironment.seed(default: Self.defaultSeed), pageSize: 4096,
                           transactions: 260 * TestEnvironment.scale, maxDirtyBytes: 4 * 4096)
        run.run()
        #expect(run.spilledPages > 100, "the budget should make transactions spill (\(run.spilledPages) pages)")
        #expect(run.abortsCompared > 10)
    }

    @Test("Model run with a 2-page dirty budget, 8 KiB pages")
    func modelTinyBudget8K() {
        let run = ModelRun(seed: TestEnvironment.seed(default: Self.defaultSeed) ^ 0x88, pageSize: 8192,
                           transactions: 120 * TestEnvironment.scale, maxDirtyBytes: 2 * 8192)
        run.run()
        #expect(run.spilledPages > 50, "\(run.spilledPages) pages spilled")
    }

    static func options(budgetPages: Int, pageSize: Int = 4096) -> Options {
        var o = Options(pageSize: pageSize, durability: .noSync)
        o.maxDirtyBytes = budgetPages * pageSize
        o.strictChecks = .full
        return o
    }

    static func key(_ i: Int) -> [UInt8] { Array("key-\(String(i, radix: 16))".utf8) }
    static func value(_ i: Int, size: Int = 100) -> [UInt8] {
        var g = SeededGenerator(seed: UInt64(i) &* 0x9E37_79B9_7F4A_7C15)
        return g.bytes(size)
    }

    @Test("One transaction far larger than its budget: inline and overflow values read back before and after commit")
    func largeTransaction() throws {
        try withTemporaryDirectory("spill-large") { dir in
            let env = try Environment(path: dir.file(), options: Self.options(budgetPages: 16))
            let n = 6_000
            var txn = try env.beginWrite()
            for i in 0..<n {
                let size = i % 97 == 0 ? 9_000 + i % 5_000 : 60 + i % 200
                try txn.put(Self.value(i, size: size), forKey: Self.key(i))
                if i % 1_000 == 999 {
                    // Read back through spilled pages, in the transaction.
                    for j in stride(from: 0, through: i, by: 7) {
                        let size = j % 97 == 0 ? 9_000 + j % 5_000 : 60 + j % 200
                        #expect(try txn.get(Self.key(j), as: [UInt8].self) == Self.value(j, size: size), "key \(j) after \(i) puts")
                    }
                }
            }
            let spilledBeforeCommit = txn.core.writeBox!.state.spilled?.count ?? 0
            #expect(txn.core.writeBox!.state.dirty.heldPages < 200, "dirty pages stay near the budget: \(txn.core.writeBox!.state.dirty.heldPages)")
            // Delete a third (frees spilled pages, merges leaves) and overwrite a third (re-dirties spilled leaves).
            for i in stride(from: 0, to: n, by: 3) { #expect(try txn.delete(Self.key(i))) }
            for i in stride(from: 1, to: n, by: 3) { try txn.put(Self.value(i + 1, size: 80), forKey: Self.key(i)) }
            let stats = try txn.commit()
            #expect(spilledBeforeCommit > 100 && stats.pagesSpilled > 100, "\(spilledBeforeCommit) pages spilled, \(stats.pagesSpilled) written early")
            try assertClean(env)
            do { let r = try env.beginRead()
                var count = 0
                for i in 0..<n {
                    let expected: [UInt8]? = i % 3 == 0 ? nil : i % 3 == 1 ? Self.value(i + 1, size: 80)
                        : Self.value(i, size: i % 97 == 0 ? 9_000 + i % 5_000 : 60 + i % 200)
                    #expect(try r.get(Self.key(i), as: [UInt8].self) == expected, "key \(i)")
                    if expected != nil { count += 1 }
                }
                #expect(try r.stats(.main).entries == UInt64(count))
            }
        }
    }

    @Test("A spilled page damaged in the file is a typed checksum error, never wrong bytes")
    func corruptSpilledPageIsDetected() throws {
        try withTemporaryDirectory("spill-corrupt") { dir in
            let env = try Environment(path: dir.file(), options: Self.options(budgetPages: 8))
            var txn = try env.beginWrite()
            let n = 3_000
            for i in 0..<n { try txn.put(Self.value(i), forKey: Self.key(i)) }
            let spilled = Array(txn.core.writeBox!.state.spilled!.table.keys)
            #expect(spilled.count > 50)
            // Damage every spilled page in the file, behind the transaction's back.
            let fd = open(dir.file(), O_RDWR)
            #expect(fd >= 0)
            for p in spilled {
                var junk = [UInt8](repeating: 0xA5, count: 64)
                _ = junk.withUnsafeMutableBytes { pwrite(fd, $0.baseAddress!, 64, off_t(Int(p.rawValue) * 4096 + 1000)) }
            }
            close(fd)
            var mismatches = 0, right = 0
            for i in 0..<n {
                do {
                    let v = try txn.get(Self.key(i), as: [UInt8].self)
                    #expect(v == Self.value(i), "key \(i): wrong bytes returned from a damaged spilled page")
                    right += 1
                } catch LarchError.checksumMismatch(let page, _, _) {
                    #expect(spilled.contains(PageNumber(page)))
                    mismatches += 1
                }
            }
            #expect(mismatches > 0 && right > 0, "\(mismatches) typed errors, \(right) keys from pages still in memory")
            // Re-dirtying a damaged spilled page fails too, and the transaction can only be aborted.
            var failed = false
            for i in 0..<n where !failed {
                do { try txn.put([1], forKey: Self.key(i)) } catch LarchError.checksumMismatch { failed = true }
            }
            #expect(failed)
            txn.abort()
            try assertClean(env)
            #expect(try env.read { try $0.stats(.main).entries } == 0)
        }
    }

    @Test("Abort after spilling gives the file's growth back and leaves the committed state intact")
    func abortGivesGrowthBack() throws {
        try withTemporaryDirectory("spill-abort") { dir in
            let env = try Environment(path: dir.file(), options: Self.options(budgetPages: 8))
            try env.write { t in for i in 0..<100 { try t.put(Self.value(i), forKey: Self.key(i)) } }
            let size = try FileManager.default.attributesOfItem(atPath: dir.file())[.size] as! Int
            var txn = try env.beginWrite()
            for i in 100..<20_000 { try txn.put(Self.value(i), forKey: Self.key(i)) }
            let grown = try FileManager.default.attributesOfItem(atPath: dir.file())[.size] as! Int
            #expect(grown > size, "spills grew the file (\(size) → \(grown))")
            txn.abort()
            #expect(try FileManager.default.attributesOfItem(atPath: dir.file())[.size] as! Int == size)
            try assertClean(env)
            do { let r = try env.beginRead()
                #expect(try r.stats(.main).entries == 100)
                for i in 0..<100 { #expect(try r.get(Self.key(i), as: [UInt8].self) == Self.value(i)) }
            }
            // A commit that fails after spilling (a throwing body) gives it back too.
            #expect(throws: LarchError.self) {
                try env.write { t in
                    for i in 100..<20_000 { try t.put(Self.value(i), forKey: Self.key(i)) }
                    throw LarchError.keyExists
                }
            }
            #expect(try FileManager.default.attributesOfItem(atPath: dir.file())[.size] as! Int == size)
            try assertClean(env)
        }
    }

    @Test("Open's commit check covers spilled pages: a damaged one makes open fall back to the commit before")
    func commitVerifierSeesSpilledPages() throws {
        try withTemporaryDirectory("spill-verify") { dir in
            var spilled: [PageNumber] = []
            do {
                let env = try Environment(path: dir.file(), options: Self.options(budgetPages: 8))
                try env.write { t in try t.put("old", forKey: "marker") }
                var txn = try env.beginWrite()
                for i in 0..<3_000 { try txn.put(Self.value(i), forKey: Self.key(i)) }
                spilled = Array(txn.core.writeBox!.state.spilled!.table.keys)
                let stats = try txn.commit()
                #expect(stats.pagesSpilled > 50)
                env.close()
            }
            // A copy (no lock file: open must check the newest commit) with one spilled page damaged.
            let copy = dir.file("copy.larch")
            try FileManager.default.copyItem(atPath: dir.file(), toPath: copy)
            let intact = try Environment(path: copy, options: Options(readOnly: true, createIfMissing: false))
            #expect(try intact.read { try $0.stats(.main).entries } == 3_001)
            intact.close()
            try FileManager.default.removeItem(atPath: copy)
            try FileManager.default.removeItem(atPath: copy + "-lock")
            try FileManager.default.copyItem(atPath: dir.file(), toPath: copy)
            let fd = open(copy, O_RDWR)
            var junk = [UInt8](repeating: 0x5A, count: 16)
            _ = junk.withUnsafeMutableBytes { pwrite(fd, $0.baseAddress!, 16, off_t(Int(spilled[spilled.count / 2].rawValue) * 4096 + 2000)) }
            close(fd)
            let fellBack = try Environment(path: copy, options: Options(readOnly: true, createIfMissing: false))
            do { let r = try fellBack.beginRead()
                #expect(try r.stats(.main).entries == 1, "open took the commit before the damaged one")
                #expect(try r.getString("marker") == "old")
            }
            try assertClean(fellBack)
        }
    }

    @Test("Named databases and overflow values spill; dropping a database frees its spilled pages")
    func namedDatabasesAndDrop() throws {
        try withTemporaryDirectory("spill-named") { dir in
            let env = try Environment(path: dir.file(), options: Self.options(budgetPages: 6))
            var txn = try env.beginWrite()
            let a = try txn.openDatabase("a", create: true)
            let b = try txn.openDatabase("b", create: true)
            for i in 0..<2_000 {
                try txn.put(Self.value(i, size: i % 50 == 0 ? 12_000 : 150), forKey: Self.key(i), in: a)
                try txn.put(Self.value(i + 100_000, size: 150), forKey: Self.key(i), in: b)
            }
            #expect((txn.core.writeBox!.state.spilled?.count ?? 0) > 50)
            try txn.dropDatabase(a)
            _ = try txn.commit()
            try assertClean(env)
            do { let r = try env.beginRead()
                #expect(try r.databaseNames() == ["b"])
                let b = try r.openDatabase("b")
                for i in stride(from: 0, to: 2_000, by: 13) { #expect(try r.get(Self.key(i), as: [UInt8].self, in: b) == Self.value(i + 100_000, size: 150)) }
            }
        }
    }

    @Test("Cursors of a write transaction see the same entries with and without spills")
    func cursorsAcrossSpills() throws {
        // Each step puts a key after the cursor: changes (and spills) between the cursor's moves.
        func visit(budgetPages: Int) throws -> [Int] {
            try withTemporaryDirectory("spill-cursor") { dir in
                let env = try Environment(path: dir.file(), options: Self.options(budgetPages: budgetPages))
                var txn = try env.beginWrite()
                for i in stride(from: 0, to: 4_000, by: 2) { try txn.put(Self.value(i), forKey: Array(String(format: "%06d", i).utf8)) }
                let cursor = try txn.cursor()
                var seen: [Int] = []
                var more = try cursor.first()
                while more {
                    let i = Int(String(decoding: try cursor.key!, as: UTF8.self))!
                    seen.append(i)
                    if i % 2 == 0 && i + 1 < 4_000 { try txn.put(Self.value(i + 1), forKey: Array(String(format: "%06d", i + 1).utf8)) }
                    more = try cursor.next()
                }
                #expect((txn.core.writeBox!.state.spilled?.count ?? 0) > 0 || budgetPages == Int.max / 4096)
                _ = try txn.commit()
                try assertClean(env)
                return seen
            }
        }
        let spilling = try visit(budgetPages: 4)
        #expect(spilling.count > 3_000)
        #expect(spilling == (try visit(budgetPages: Int.max / 4096)))
    }

    @Test("Branches spill once leaves are not enough, and come back right when their children change again")
    func branchesSpill() throws {
        try withTemporaryDirectory("spill-branches") { dir in
            let env = try Environment(path: dir.file(), options: Self.options(budgetPages: 2))
            var g = SeededGenerator(seed: TestEnvironment.seed(default: Self.defaultSeed))
            var txn = try env.beginWrite()
            let n = 20_000
            var order = Array(0..<n)
            order.shuffle(using: &g)
            // Random order: spilled leaves and branches are read back and changed again constantly.
            for i in order { try txn.put(Self.value(i, size: 200), forKey: Self.key(i)) }
            let branches = txn.core.writeBox!.state.spilled?.branchPagesWritten ?? 0
            #expect(branches > 20, "\(branches) branch pages spilled")
            for i in order.prefix(n / 2) { #expect(try txn.delete(Self.key(i))) }
            for i in order.suffix(n / 2).prefix(1_000) {
                #expect(try txn.get(Self.key(i), as: [UInt8].self) == Self.value(i, size: 200), "key \(i)")
            }
            _ = try txn.commit()
            try assertClean(env)
            do {
                let r = try env.beginRead()
                #expect(try r.stats(.main).entries == UInt64(n / 2))
                for i in order.suffix(n / 2) { #expect(try r.get(Self.key(i), as: [UInt8].self) == Self.value(i, size: 200), "key \(i)") }
            }
        }
    }

    /// Nested transactions under a tiny budget: a child that releases and re-dirties pages its
    /// parent spilled, allocates their numbers again and spills its own pages (overflow runs
    /// included), then is rolled back, leaves the parent exactly as it was — every spilled
    /// version of the parent's pages intact in the file, read back checked — and the commit clean.
    @Test("A rolled-back child never overwrites what its parent spilled")
    func nestedChildrenAndSpills() throws {
        try withTemporaryDirectory("spill-nested") { dir in
            let env = try Environment(path: dir.file(), options: Self.options(budgetPages: 4))
            try env.write { txn throws in
                for i in 0..<1_500 { try txn.put(Self.value(i, size: i % 50 == 0 ? 6_000 : 120), forKey: Self.key(i)) }
                #expect((txn.core.writeBox!.state.spilled?.count ?? 0) > 20, "the parent spilled")
                for round in 0..<6 {
                    struct RolledBack: Error {}
                    #expect(throws: RolledBack.self) {
                        try txn.nested { child throws in
                            for i in stride(from: round, to: 1_500, by: 2) { _ = try child.delete(Self.key(i)) }
                            for i in 0..<900 { try child.put(Self.value(i + 7_000, size: i % 40 == 0 ? 7_000 : 150), forKey: Self.key(i + 10_000)) }
                            try child.nested { grandchild throws in
                                for i in stride(from: 1, to: 1_500, by: 2) { try grandchild.put(Self.value(i, size: 90), forKey: Self.key(i)) }
                            }
                            throw RolledBack()
                        }
                    }
                    for i in stride(from: round % 3, to: 1_500, by: 3) {
                        #expect(try txn.get(Self.key(i), as: [UInt8].self) == Self.value(i, size: i % 50 == 0 ? 6_000 : 120), "round \(round), key \(i)")
                    }
                    #expect(try txn.get(Self.key(10_000)) == nil)
                }
                // A committed child's spills stay.
                try txn.nested { child throws in
                    for i in 0..<600 { try child.put(Self.value(i + 20_000, size: 130), forKey: Self.key(i + 20_000)) }
                }
            }
            try env.read { txn throws in
                for i in 0..<1_500 { #expect(try txn.get(Self.key(i), as: [UInt8].self) == Self.value(i, size: i % 50 == 0 ? 6_000 : 120)) }
                for i in 0..<600 { #expect(try txn.get(Self.key(i + 20_000), as: [UInt8].self) == Self.value(i + 20_000, size: 130)) }
                #expect(try txn.stats().entries == 2_100)
            }
            #expect(try env.check().isClean)
        }
    }

    /// Sorted duplicates under a tiny budget: leaves holding duplicate trees spill only once those
    /// trees' roots are final, and record their checksums; values read back right in the
    /// transaction, after a rolled-back child, and after the commit; the checker is clean.
    @Test("Sorted-duplicates databases spill and come back right")
    func duplicatesSpill() throws {
        try withTemporaryDirectory("spill-dupsort") { dir in
            let env = try Environment(path: dir.file(), options: Self.options(budgetPages: 4))
            func value(_ k: Int, _ v: Int) -> [UInt8] { Array("v\(k)-\(String(v * 7919 % 100_003, radix: 16))".utf8) }
            func count(_ k: Int) -> Int { k % 5 == 0 ? 400 : 1 + k % 7 }   // some keys get duplicate trees
            try env.write { txn throws in
                let db = try txn.openDatabase("dups", create: true, duplicates: .sorted)
                for round in 0..<2 {
                    for k in 0..<120 {
                        for v in stride(from: round, to: count(k), by: 2) { _ = try txn.putDuplicate(value(k, v), forKey: Self.key(k), in: db) }
                    }
                }
                #expect((txn.core.writeBox!.state.spilled?.count ?? 0) > 10, "spilled")
                struct RolledBack: Error {}
                #expect(throws: RolledBack.self) {
                    try txn.nested { child throws in
                        for k in stride(from: 0, to: 120, by: 5) { _ = try child.deleteAllValues(forKey: Self.key(k), in: db) }
                        for k in 0..<120 { _ = try child.putDuplicate(Array("extra".utf8), forKey: Self.key(k), in: db) }
                        throw RolledBack()
                    }
                }
                for k in 0..<120 {
                    #expect(try txn.values(forKey: Self.key(k), in: db) == (0..<count(k)).map { value(k, $0) }.sorted { $0.lexicographicallyPrecedes($1) }, "key \(k)")
                }
            }
            try env.read { txn throws in
                let db = try txn.openDatabase("dups", duplicates: .sorted)
                for k in 0..<120 {
                    #expect(try txn.values(forKey: Self.key(k), in: db) == (0..<count(k)).map { value(k, $0) }.sorted { $0.lexicographicallyPrecedes($1) }, "key \(k)")
                }
            }
            #expect(try env.check().isClean)
            let reopened = try Environment(path: dir.file(), options: Self.options(budgetPages: 4))
            #expect(try reopened.check().isClean)
        }
    }
}

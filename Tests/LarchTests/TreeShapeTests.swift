import Testing
@testable import Larch

/// The tree keeps its shape: deletes rebalance (merge or borrow), sequential inserts fill pages,
/// and maximum-size keys split and merge branches correctly.
@Suite struct TreeShapeTests {
    /// Bytes a leaf cell of this key and value takes, with its slot.
    func cellBytes(key: Int, value: Int) -> Int { LeafCell.headerSize + key + value + PageLayout.slotSize }

    @Test func deleteHeavyWorkloadKeepsLeavesAtLeastAQuarterFull() throws {
        let dir = try TemporaryDirectory("shape-delete")
        let env = try Environment(path: dir.file(), options: Options(durability: .noSync))
        var g = SeededGenerator(seed: 0x5EED_0001)
        var keys: [[UInt8]] = []
        for i in 0..<40_000 {
            var k = [UInt8](repeating: 0, count: 16)
            for j in 0..<8 { k[j] = UInt8.random(in: 0...255, using: &g) }
            k[8] = UInt8(i & 0xFF); k[9] = UInt8(i >> 8); k[10] = UInt8(i >> 16)
            keys.append(k)
        }
        let value = [UInt8](repeating: 7, count: 100)
        try env.write { txn in for k in keys { try txn.put(value, forKey: k) } }
        keys.shuffle(using: &g)
        // Delete 95% in several transactions, checking shape after each.
        let toDelete = keys.count * 95 / 100
        for chunk in stride(from: 0, to: toDelete, by: 5_000) {
            try env.write { txn in for k in keys[chunk..<min(chunk + 5_000, toDelete)] { _ = try txn.delete(k) } }
            let s = try env.read { try $0.stats() }
            let usable = 4096 - PageLayout.headerSize
            let liveBytes = Int(s.entries) * cellBytes(key: 16, value: 100)
            // Every non-root leaf is at least a quarter full after a delete, or merged away.
            #expect(Int(s.leafPages) <= max(1, liveBytes * 4 / usable + 2),
                    "\(s.leafPages) leaves for \(s.entries) entries after deleting \(chunk + 5_000)")
            #expect(try env.check().isClean)
        }
        // Deleting the rest empties the tree completely: no pages left, all free.
        try env.write { txn in for k in keys[toDelete...] { _ = try txn.delete(k) } }
        let s = try env.read { try $0.stats() }
        #expect(s.entries == 0 && s.depth == 0 && s.leafPages == 0 && s.branchPages == 0)
        let report = try env.check()
        #expect(report.isClean, "\(report)")
        let freeTreePages = try env.stats().freeTreePages
        #expect(report.reachablePages == freeTreePages, "only free-tree pages remain reachable: \(report)")
    }

    @Test func sequentialInsertsFillLeaves() throws {
        let dir = try TemporaryDirectory("shape-append")
        let env = try Environment(path: dir.file(), options: Options(durability: .noSync))
        let count = 50_000
        try env.write { txn in
            for i in 0..<count {
                var k = [UInt8](repeating: 0, count: 16)
                k[12] = UInt8(i >> 24); k[13] = UInt8((i >> 16) & 0xFF); k[14] = UInt8((i >> 8) & 0xFF); k[15] = UInt8(i & 0xFF)
                try txn.put([UInt8](repeating: 1, count: 100), forKey: k)
            }
        }
        let s = try env.read { try $0.stats() }
        let perLeaf = (4096 - PageLayout.headerSize) / cellBytes(key: 16, value: 100)
        let ideal = (count + perLeaf - 1) / perLeaf
        #expect(Int(s.leafPages) <= ideal + ideal / 50, "\(s.leafPages) leaves, ideal \(ideal): appends should fill pages")
        #expect(try env.check().isClean)
    }

    @Test func maximumKeysSplitAndMergeBranches() throws {
        let dir = try TemporaryDirectory("shape-bigkeys")
        let env = try Environment(path: dir.file(), options: Options(durability: .noSync))
        var g = SeededGenerator(seed: 0x5EED_0002)
        func bigKey(_ i: Int) -> [UInt8] {
            var k = [UInt8](repeating: UInt8(i % 251), count: 1024)
            k[0] = UInt8((i >> 8) & 0xFF); k[1] = UInt8(i & 0xFF)   // distinct, ordered by i
            return k
        }
        var present = Set<Int>()
        for round in 0..<6 {
            try env.write { txn in
                for _ in 0..<400 {
                    let i = Int.random(in: 0..<3000, using: &g)
                    if present.contains(i) && Bool.random(using: &g) {
                        let d = try txn.delete(bigKey(i)); #expect(d); present.remove(i)
                    } else {
                        try txn.put([UInt8](repeating: UInt8(i & 0xFF), count: Int.random(in: 0...3000, using: &g)), forKey: bigKey(i))
                        present.insert(i)
                    }
                }
            }
            let report = try env.check()
            #expect(report.isClean, "round \(round): \(report)")
        }
        let depth = try env.read { try $0.stats().depth }
        #expect(depth >= 3, "1 KiB keys give branches of 3 or 4 cells, so the tree is deep: depth \(depth)")
        try env.read { txn in
            var got: [Int] = []
            try txn.forEach { key, _ in
                key.withUnsafeBytes { got.append(Int($0[0]) << 8 | Int($0[1])) }
                return true
            }
            #expect(got == present.sorted())
        }
        try env.write { txn in for i in present { let d = try txn.delete(bigKey(i)); #expect(d) } }
        #expect(try env.read { try $0.stats().entries } == 0)
        #expect(try env.check().isClean)
    }
}

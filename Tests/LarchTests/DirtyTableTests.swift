import Testing
@testable import Larch

@Suite struct DirtyTableTests {
    /// Random inserts and removals agree with a Dictionary, through growth and backward-shift deletes.
    @Test func matchesDictionary() {
        var table = DirtyTable(capacity: 4)
        var model: [UInt64: Int] = [:]
        let seed = TestEnvironment.seed(default: 0xD1E7_7AB1)
        var g = SeededGenerator(seed: seed)
        let fake = UnsafeMutableRawPointer(bitPattern: 0x1000)!
        for step in 0..<50_000 {
            let key = UInt64.random(in: 2..<3000, using: &g)
            if Bool.random(using: &g) {
                let n = Int.random(in: 1...9, using: &g)
                table.insert(PageNumber(key), DirtyPage(buffer: fake, pageCount: n))
                model[key] = n
            } else {
                let removed = table.remove(PageNumber(key))
                #expect(removed?.pageCount == model.removeValue(forKey: key), "step \(step), seed \(seed)")
            }
            if step % 997 == 0 {
                #expect(table.count == model.count)
                for k in UInt64(2)..<3000 { #expect(table[PageNumber(k)]?.pageCount == model[k], "key \(k) at step \(step)") }
            }
        }
        var seen = 0
        table.forEach { p, d in seen += 1; #expect(model[p.rawValue] == d.pageCount) }
        #expect(seen == model.count)
    }

    /// `sortedByPage` returns every entry once, in ascending page order: small tables (a
    /// comparison sort), and large ones with page numbers needing one to eight radix passes.
    @Test(arguments: [5, 40, 3_000])
    func sortedByPageIsSortedAndComplete(entries: Int) {
        let seed = TestEnvironment.seed(default: 0x50_27ED)
        var g = SeededGenerator(seed: seed)
        let fake = UnsafeMutableRawPointer(bitPattern: 0x1000)!
        for bits in [8, 13, 22, 40, 63] {
            var table = DirtyTable(capacity: 4)
            var model: [UInt64: Int] = [:]
            let wanted = min(entries, (1 << bits) / 2)  // 8-bit page numbers have room for 254
            while model.count < wanted {
                let key = UInt64.random(in: 2..<(UInt64(1) << bits), using: &g)
                let n = Int.random(in: 1...9, using: &g)
                table.insert(PageNumber(key), DirtyPage(buffer: fake, pageCount: n))
                model[key] = n
            }
            let sorted = table.sortedByPage()
            #expect(sorted.map(\.page.rawValue) == model.keys.sorted(), "\(entries) entries, \(bits)-bit pages, seed \(seed)")
            #expect(sorted.allSatisfy { model[$0.page.rawValue] == $0.dirty.pageCount }, "seed \(seed)")
        }
    }
}

import Testing
@testable import Larch

@Suite struct DirtyTableTests {
    /// Random inserts and removals agree with a Dictionary, through growth and backward-shift deletes.
    @Test func matchesDictionary() {
        var table = DirtyTable(capacity: 4)
        defer { table.deallocate() }
        var model: [UInt64: Int] = [:]
        var g = SystemRandomNumberGenerator()
        let fake = UnsafeMutableRawPointer(bitPattern: 0x1000)!
        for step in 0..<50_000 {
            let key = UInt64.random(in: 2..<3000, using: &g)
            if Bool.random(using: &g) {
                let n = Int.random(in: 1...9, using: &g)
                table.insert(PageNumber(key), DirtyPage(buffer: fake, pageCount: n))
                model[key] = n
            } else {
                let removed = table.remove(PageNumber(key))
                #expect(removed?.pageCount == model.removeValue(forKey: key), "step \(step)")
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
}

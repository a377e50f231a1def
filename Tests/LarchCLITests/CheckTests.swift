import Foundation
import LarchCrashLab
import Testing

/// `larch check` on damaged and garbage files: every problem reported with its page, exit status 1,
/// and never a crash, a hang or a runaway allocation. The other read commands must fail cleanly on
/// the same files.
@Suite struct CheckTests {
    static let pageSize = 4096

    /// A valid file of `count` keys (16-byte keys, 100-byte values, some large values), made by `larch load`.
    static func makeDatabase(_ name: String, count: Int, in s: Scratch) throws -> [UInt8] {
        var dump = "VERSION=3\nformat=print\ntype=btree\nHEADER=END\n"
        for i in 0..<count {
            let key = "key:" + String(repeating: "0", count: 12 - String(i).count) + String(i)
            let value = i % 500 == 7 ? String(repeating: "L", count: 9000) : String(repeating: "v", count: 100)
            dump += " \(key)\n \(value)\n"
        }
        dump += "DATA=END\n"
        // Two commits (a load is one transaction): the newest changes only the catalog and "side",
        // so both metas share the main tree, whose damage the tests expect the checker to find.
        try CLI.larchOK(["load", name, "--quiet"], input: Array(dump.utf8), in: s)
        let side = "VERSION=3\nformat=print\ndatabase=side\ntype=btree\nHEADER=END\n a\n b\nDATA=END\n"
        try CLI.larchOK(["load", name, "--quiet"], input: Array(side.utf8), in: s)
        return [UInt8](try Data(contentsOf: URL(fileURLWithPath: s.file(name))))
    }

    static func write(_ bytes: [UInt8], to name: String, in s: Scratch) throws {
        // In place, as damage to the disk would be (the file keeps its identity, so the lock file
        // still knows its newest commit was whole when written).
        let path = s.file(name)
        guard FileManager.default.fileExists(atPath: path) else {
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            return
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.write(contentsOf: Data(bytes))
        try handle.truncate(atOffset: UInt64(bytes.count))
        try handle.close()
    }

    /// Runs check, and the other read commands, on `name`; returns check's result.
    /// With `copyMustFail`, a compact copy must refuse the file (its damage is in the pages the
    /// trees reach); otherwise it may succeed from an intact older snapshot. check exits with one
    /// of `statuses`: 1 for a file that opens with problems, 3 for one that does not open.
    static func checkDamaged(_ name: String, in s: Scratch, copyMustFail: Bool = true, statuses: Set<Int32> = [1],
                             sourceLocation: SourceLocation = #_sourceLocation) throws -> CommandResult {
        let r = try CLI.larch(["check", name], in: s, timeLimit: .seconds(120))
        #expect(!r.crashed && !r.timedOut, "check crashed or hung on \(name): \(r.stderr)", sourceLocation: sourceLocation)
        #expect(statuses.contains(r.status), "check of \(name) exited \(r.status): \(r.text) \(r.stderr)", sourceLocation: sourceLocation)
        let json = try CLI.larch(["check", name, "--json"], in: s, timeLimit: .seconds(120))
        #expect(json.status == r.status, sourceLocation: sourceLocation)
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout)) as? [String: Any]
        #expect(object?["clean"] as? Bool == false && ((object?["problems"] as? [Any])?.count ?? 0) > 0, sourceLocation: sourceLocation)
        for args in [["stat", name], ["scan", name], ["dump", name, "--all"], ["get", name, "key:000000000100"], ["copy", name, name + ".copy", "--compact"]] {
            let other = try CLI.larch(args, in: s, timeLimit: .seconds(120))
            #expect(!other.crashed && !other.timedOut, "\(args.joined(separator: " ")) crashed or hung: \(other.stderr)", sourceLocation: sourceLocation)
            #expect(other.status != 0 || args[0] != "copy" || !copyMustFail, "a compact copy of a damaged file must fail", sourceLocation: sourceLocation)
            try? FileManager.default.removeItem(atPath: s.file(name + ".copy"))
        }
        return r
    }

    @Test func cleanFileExitsZero() throws {
        let s = try Scratch("clean")
        _ = try Self.makeDatabase("ok.larch", count: 3000, in: s)
        let r = try CLI.larchOK(["check", "ok.larch"], in: s)
        #expect(r.text.contains("OK: no problems found.") && r.text.contains("meta page 0: transaction"))
        let json = try CLI.larchOK(["check", "ok.larch", "--json"], in: s).stdout
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json)) as? [String: Any])
        #expect(object["clean"] as? Bool == true && (object["problems"] as? [Any])?.isEmpty == true)
        #expect((object["reachablePages"] as? Int ?? 0) > 100)
    }

    @Test func garbageFiles() throws {
        let s = try Scratch("garbage")
        try Self.write([], to: "empty.larch", in: s)
        try Self.write([UInt8](repeating: 0, count: 16 * 4096), to: "zeros.larch", in: s)
        var g = SplitMix(seed: 5)
        try Self.write((0..<(1 << 20)).map { _ in UInt8(truncatingIfNeeded: g.next()) }, to: "random.larch", in: s)
        try Self.write(Array("VERSION=3\nthis is a text file\n".utf8), to: "text.larch", in: s)
        for name in ["empty.larch", "zeros.larch", "random.larch", "text.larch"] {
            let r = try Self.checkDamaged(name, in: s, statuses: [3])
            #expect(r.text.contains(name == "empty.larch" ? "empty file" : "not a Larch file"), "\(name): \(r.text)")
        }
    }

    @Test func truncatedFiles() throws {
        let s = try Scratch("truncated")
        let good = try Self.makeDatabase("good.larch", count: 3000, in: s)
        // The file may be longer than its pages (it grows in steps): cut relative to the pages in use.
        let used = Int(Self.u64(good, Self.currentMeta(good).offset + 24)) * Self.pageSize
        for cut in [100, 4096, 8192 + 1, used / 2, used - 4096] {
            try Self.write(Array(good.prefix(cut)), to: "cut\(cut).larch", in: s)
            let r = try Self.checkDamaged("cut\(cut).larch", in: s, copyMustFail: cut < used - 4096, statuses: [1, 3])
            #expect(r.text.contains("truncated") || r.text.contains("invalid") || r.text.contains("not a Larch file"), "cut at \(cut): \(r.text)")
        }
    }

    @Test func corruptPagesAreListedWithTheirNumbers() throws {
        let s = try Scratch("corrupt")
        var bytes = try Self.makeDatabase("c.larch", count: 3000, in: s)
        let pages = bytes.count / Self.pageSize
        let victims = [pages / 3, pages / 2, pages - 5]
        for p in victims { bytes[p * Self.pageSize + 2000] ^= 0x40 }
        try Self.write(bytes, to: "c.larch", in: s)
        let r = try Self.checkDamaged("c.larch", in: s)
        let lines = r.text.split(separator: "\n")
        // A flipped page in use is named with its checksum; a flipped free page is harmless.
        var named = 0
        for p in victims where lines.contains(where: { $0.hasPrefix("page \(p): ") && $0.contains("checksum mismatch: expected 0x") && $0.contains(" found 0x") }) {
            named += 1
        }
        #expect(named >= 1, "\(r.text)")
        #expect(r.text.contains("problem(s) found."))
    }

    /// The current meta of a file: its byte offset, and the main tree's root page and depth.
    static func currentMeta(_ bytes: [UInt8]) -> (offset: Int, root: Int, depth: Int) {
        let txn0 = u64(bytes, 16), txn1 = u64(bytes, Self.pageSize + 16)
        let offset = txn1 > txn0 ? Self.pageSize : 0
        return (offset, Int(u64(bytes, offset + 32)), Int(u16(bytes, offset + 44)))
    }

    static func u16(_ b: [UInt8], _ at: Int) -> UInt16 { UInt16(b[at]) | UInt16(b[at + 1]) << 8 }
    static func u32(_ b: [UInt8], _ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(b[at + $1]) << (8 * $1) } }
    static func u64(_ b: [UInt8], _ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(b[at + $1]) << (8 * $1) } }
    static func set32(_ b: inout [UInt8], _ at: Int, _ v: UInt32) { for i in 0..<4 { b[at + i] = UInt8(truncatingIfNeeded: v >> (8 * i)) } }
    static func set64(_ b: inout [UInt8], _ at: Int, _ v: UInt64) { for i in 0..<8 { b[at + i] = UInt8(truncatingIfNeeded: v >> (8 * i)) } }
    static func page(_ b: [UInt8], _ n: Int) -> Range<Int> { (n * pageSize)..<((n + 1) * pageSize) }

    /// Rewrites the current meta's main root checksum and the meta's own checksum.
    static func sealMeta(_ bytes: inout [UInt8], rootChecksum: UInt32) {
        let m = currentMeta(bytes)
        set32(&bytes, m.offset + 40, rootChecksum)
        // FORMAT.md §4: the checksum at 268 covers bytes 0 ..< 268, then the n free-list entries at 272.
        let entries = Int(u32(bytes, m.offset + 264))
        let covered = Array(bytes[m.offset..<(m.offset + 268)]) + Array(bytes[(m.offset + 272)..<(m.offset + 272 + 20 * entries)])
        set32(&bytes, m.offset + 268, CRC32C.checksum(covered[...]))
    }

    @Test func cyclesInPagePointersWithForgedChecksums() throws {
        let s = try Scratch("cycle")
        var bytes = try Self.makeDatabase("cycle.larch", count: 30_000, in: s)
        let meta = Self.currentMeta(bytes)
        #expect(meta.depth >= 3, "the tree must have two branch levels")
        // Root A → B (its first child, a branch); make B's first child A again. A's checksum must
        // then hold inside B and B's inside A: forge it by patching four unused bytes of A.
        let a = meta.root
        let aStart = a * Self.pageSize
        let aCell0 = aStart + Int(Self.u16(bytes, aStart + 16))
        let b = Int(Self.u64(bytes, aCell0))
        let bStart = b * Self.pageSize
        let bCell0 = bStart + Int(Self.u16(bytes, bStart + 16))
        let forgedA: UInt32 = 0x1234_5678
        Self.set64(&bytes, bCell0, UInt64(a))
        Self.set32(&bytes, bCell0 + 8, forgedA)
        Self.set32(&bytes, aCell0 + 8, CRC32C.checksum(bytes[Self.page(bytes, b)]))
        let gap = aStart + 16 + 2 * Int(Self.u16(bytes, aStart + 2))   // the free gap after the slot array
        #expect(gap + 4 <= aStart + Int(Self.u32(bytes, aStart + 4)), "the root has four unused bytes")
        CRC32C.force(&bytes, page: Self.page(bytes, a), patchAt: gap, to: forgedA)
        #expect(CRC32C.checksum(bytes[Self.page(bytes, a)]) == forgedA)
        Self.sealMeta(&bytes, rootChecksum: forgedA)
        try Self.write(bytes, to: "cycle.larch", in: s)

        let r = try Self.checkDamaged("cycle.larch", in: s)
        #expect(r.text.contains("page \(a): ") && r.text.contains("referenced twice"), "\(r.text)")
    }

    @Test func randomPagesBehindAValidMeta() throws {
        // Each round: a real file whose root is replaced by random bytes that carry a plausible header
        // and a correct checksum, so the checker must survive arbitrary slot and cell contents.
        let s = try Scratch("fuzz")
        let good = try Self.makeDatabase("base.larch", count: 3000, in: s)
        var g = SplitMix(seed: 99)
        for round in 0..<40 {
            var bytes = good
            let meta = Self.currentMeta(bytes)
            let target = round % 2 == 0 ? meta.root : 2 + Int(g.next() % UInt64(bytes.count / Self.pageSize - 2))
            let range = Self.page(bytes, target)
            for i in range { bytes[i] = UInt8(truncatingIfNeeded: g.next()) }
            bytes[range.lowerBound] = UInt8(2 + g.next() % 2)                                 // branch or leaf
            bytes[range.lowerBound + 2] = UInt8(truncatingIfNeeded: g.next() % 200)            // count
            bytes[range.lowerBound + 3] = 0
            Self.set32(&bytes, range.lowerBound + 4, UInt32(16 + g.next() % 4080))             // content start
            Self.set64(&bytes, range.lowerBound + 8, UInt64(target))                          // its own number
            if target == meta.root {
                Self.sealMeta(&bytes, rootChecksum: CRC32C.checksum(bytes[range]))
            }
            try Self.write(bytes, to: "fuzz\(round).larch", in: s)
            let r = try CLI.larch(["check", "fuzz\(round).larch"], in: s, timeLimit: .seconds(120))
            #expect(!r.crashed && !r.timedOut, "round \(round): \(r.status) \(r.stderr)")
            // A damaged root is always found; another page may have been a free one.
            #expect(target != meta.root || r.status == 1, "round \(round): exit \(r.status)")
            for args in [["scan", "fuzz\(round).larch"], ["dump", "--all", "fuzz\(round).larch"]] {
                let o = try CLI.larch(args, in: s, timeLimit: .seconds(120))
                #expect(!o.crashed && !o.timedOut, "round \(round): \(args[0]) \(o.stderr)")
            }
        }
    }
}

/// CRC32C (Castagnoli), written here independently of the library, and a forger: CRC is affine
/// over GF(2), so four chosen bytes can give a page any checksum.
enum CRC32C {
    static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        return c
    }

    static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xff)] ^ (c >> 8) }
        return ~c
    }

    /// Sets the four bytes at `patchAt` so that the checksum of `bytes[page]` becomes `target`.
    static func force(_ bytes: inout [UInt8], page: Range<Int>, patchAt: Int, to target: UInt32) {
        for i in 0..<4 { bytes[patchAt + i] = 0 }
        let base = checksum(bytes[page])
        // Column j: how flipping bit j of the patch changes the checksum.
        var columns: [UInt32] = []
        for j in 0..<32 {
            bytes[patchAt + j / 8] ^= UInt8(1 << (j % 8))
            columns.append(checksum(bytes[page]) ^ base)
            bytes[patchAt + j / 8] ^= UInt8(1 << (j % 8))
        }
        // Solve columns · x = base ^ target by Gaussian elimination over GF(2).
        var rows = columns.enumerated().map { (vector: $0.element, combination: UInt32(1) << UInt32($0.offset)) }
        var pivots: [(bit: Int, row: Int)] = []
        var used = Set<Int>()
        for bit in 0..<32 {
            guard let r = rows.indices.first(where: { !used.contains($0) && rows[$0].vector >> UInt32(bit) & 1 == 1 }) else { continue }
            used.insert(r)
            for other in rows.indices where other != r && rows[other].vector >> UInt32(bit) & 1 == 1 {
                rows[other].vector ^= rows[r].vector
                rows[other].combination ^= rows[r].combination
            }
            pivots.append((bit, r))
        }
        var want = base ^ target
        var x: UInt32 = 0
        for (bit, r) in pivots where want >> UInt32(bit) & 1 == 1 {
            want ^= rows[r].vector
            x ^= rows[r].combination
        }
        for i in 0..<4 { bytes[patchAt + i] = UInt8(truncatingIfNeeded: x >> (8 * UInt32(i))) }
    }
}

import Testing
import CLarchSupport
@testable import Larch

@Suite struct FormatTests {
    @Test func crc32cKnownVectors() {
        let check = Array("123456789".utf8)
        #expect(check.withUnsafeBytes { CRC32C.checksum($0) } == 0xE306_9283)
        #expect([UInt8](repeating: 0, count: 32).withUnsafeBytes { CRC32C.checksum($0) } == 0x8A91_36AA)
        #expect([UInt8](repeating: 0xFF, count: 32).withUnsafeBytes { CRC32C.checksum($0) } == 0x62A8_AB43)
    }

    /// Every implementation (folding, the CRC instruction, the portable table, and the copying
    /// variant) gives the same checksum, for every length up to 2,100 (each tail of the folding
    /// loops), long buffers, unaligned starts and continued checksums.
    @Test func crcImplementationsAgree() {
        let seed = TestEnvironment.seed(default: 0xC3C3_2C2C)
        var g = SeededGenerator(seed: seed)
        let pool = (0..<70_000).map { _ in UInt8.random(in: 0...255, using: &g) }
        var destination = [UInt8](repeating: 0, count: 70_016)
        let lengths = Array(0...2100) + (0..<60).map { _ in Int.random(in: 2100...69_000, using: &g) }
        pool.withUnsafeBytes { p in
            destination.withUnsafeMutableBytes { d in
                for length in lengths {
                    let offset = Int.random(in: 0...7, using: &g)
                    let start = p.baseAddress! + offset
                    let initial = UInt32.random(in: 0...UInt32.max, using: &g)
                    let expected = larch_crc32c_portable(initial, start, length)
                    #expect(larch_crc32c(initial, start, length) == expected, "length \(length) offset \(offset), seed \(seed)")
                    #expect(larch_crc32c_without_folding(initial, start, length) == expected, "length \(length), seed \(seed)")
                    let target = d.baseAddress! + (offset ^ 5)
                    #expect(larch_crc32c_copy(initial, target, start, length) == expected, "copy, length \(length), seed \(seed)")
                    #expect(UnsafeRawBufferPointer(start: target, count: length).elementsEqual(UnsafeRawBufferPointer(start: start, count: length)),
                            "copy, length \(length), seed \(seed)")
                }
            }
        }
    }

    @Test func metaRoundTripAndDamage() throws {
        var root = TreeRoot()
        root.root = PageNumber(7); root.rootChecksum = 0xDEAD_BEEF; root.depth = 3
        root.branchPages = 4; root.leafPages = 90; root.overflowPages = 2; root.entries = 12_345
        root.rootBirth = TransactionID(41)
        let meta = MetaPage(pageSize: 8192, txnID: TransactionID(42), pageCount: 100, main: root, catalog: .empty, free: root,
                            durableBase: TransactionID(40))
        var page = [UInt8](repeating: 0, count: 8192)
        page.withUnsafeMutableBytes { meta.encode(to: $0.baseAddress!) }
        let decoded = page.withUnsafeBytes { MetaPage.decode($0.baseAddress!) }
        #expect(try decoded.get() == meta)
        // Any flipped byte in the covered range is caught.
        for offset in [0, 9, 13, 20, 40, 100, 150, 210, 250, 258, 264, 268] {
            var damaged = page
            damaged[offset] ^= 0x01
            let r = damaged.withUnsafeBytes { MetaPage.decode($0.baseAddress!) }
            #expect(throws: MetaPage.DecodeFailure.self, "offset \(offset)") { try r.get() }
        }
    }

    /// The meta's free list: entries round-trip and are covered by the checksum; a list that is
    /// too long, out of order or names impossible pages or transactions is refused.
    @Test func metaFreeListRoundTripAndValidation() throws {
        func encoded(_ meta: MetaPage) -> [UInt8] {
            var page = [UInt8](repeating: 0, count: 4096)
            page.withUnsafeMutableBytes { meta.encode(to: $0.baseAddress!) }
            return page
        }
        func decode(_ page: [UInt8]) -> Result<MetaPage, MetaPage.DecodeFailure> {
            page.withUnsafeBytes { MetaPage.decode($0.baseAddress!) }
        }
        var meta = MetaPage(pageSize: 4096, txnID: TransactionID(50), pageCount: 1000, main: .empty, catalog: .empty, free: .empty,
                            durableBase: TransactionID(49))
        meta.freeList = (0..<MetaPage.maxFreeListEntries).map { i in
            FreeListEntry(txn: UInt64(i < 10 ? 0 : 2 + i / 4), extent: PageExtent(first: PageNumber(UInt64(2 + 5 * i)), count: 1 + i % 4))
        }
        #expect(MetaPage.maxFreeListEntries == 191 && MetaPage.maxEncodedSize <= 4096)
        let page = encoded(meta)
        #expect(try decode(page).get() == meta)
        // A flip in the last entry is caught; a flip after it is not covered.
        let end = MetaPage.freeListOffset + meta.freeList.count * FreeListEntry.encodedSize
        var damaged = page
        damaged[end - 3] ^= 0x10
        #expect(throws: MetaPage.DecodeFailure.self) { try decode(damaged).get() }
        damaged = page
        damaged[end] ^= 0x10
        #expect(try decode(damaged).get() == meta)

        func refused(_ change: (inout MetaPage) -> Void, _ why: String) {
            var m = meta
            m.freeList = [FreeListEntry(txn: 3, extent: PageExtent(first: PageNumber(10), count: 2)),
                          FreeListEntry(txn: 7, extent: PageExtent(first: PageNumber(4), count: 1))]
            change(&m)
            let r = decode(encoded(m))
            guard case .failure(.badFreeList(let text)) = r else {
                Issue.record("\(why): expected badFreeList, got \(r)")
                return
            }
            #expect(!text.isEmpty)
        }
        refused({ $0.freeList[1].txn = 51 }, "a transaction newer than the meta's")
        refused({ $0.freeList[1].txn = 1 }, "transaction 1 frees nothing")
        refused({ $0.freeList[0].extent = PageExtent(first: PageNumber(999), count: 2) }, "past the page count")
        refused({ $0.freeList[0].extent = PageExtent(first: PageNumber(1), count: 1) }, "a meta page")
        refused({ $0.freeList[0].extent.count = 0 }, "an empty extent")
        refused({ $0.freeList.swapAt(0, 1) }, "out of order")
        // More entries than fit: the count field says 192.
        var tooLong = page
        tooLong.withUnsafeMutableBytes { b in
            b.storeBytes(of: UInt32(MetaPage.maxFreeListEntries + 1).littleEndian, toByteOffset: MetaPage.freeListCountOffset, as: UInt32.self)
            MetaPage.seal(b.baseAddress!)
        }
        guard case .failure(.badFreeList) = decode(tooLong) else { Issue.record("192 entries accepted"); return }
    }

    /// FORMAT.md §4's test vectors: the two metas of a new 4 KiB file.
    @Test func newFileMetaTestVectors() {
        let pages = MetaPage.initialPages(pageSize: 4096)
        let head: [[UInt8]] = [
            [0x4c, 0x41, 0x52, 0x43, 0x48, 0x44, 0x42, 0x00, 0x04, 0, 0, 0, 0x00, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0],
            [0x4c, 0x41, 0x52, 0x43, 0x48, 0x44, 0x42, 0x00, 0x04, 0, 0, 0, 0x00, 0x10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0],
        ]
        let checksums: [UInt32] = [0x915D_E36E, 0xB40A_9F4B]   // computed independently (Python, bitwise CRC32C)
        for slot in 0..<2 {
            let page = Array(pages[(slot * 4096)..<((slot + 1) * 4096)])
            #expect(Array(page[0..<32]) == head[slot], "page \(slot)")
            let crc = page.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: MetaPage.checksumOffset, as: UInt32.self) }
            #expect(crc == checksums[slot], "page \(slot): \(hex32(crc))")
        }
    }

    /// FORMAT.md §20.1 and §5: the inline duplicate list's bytes, its validation, and the
    /// sorted-duplicates flag at `TreeRoot` offset 14.
    @Test func duplicateListAndTreeRootFlags() throws {
        let list = DuplicateList.encode([[0x61], [0x62, 0x63]])
        #expect(list == [0x01, 0x00, 0x61, 0x02, 0x00, 0x62, 0x63])
        list.withUnsafeBytes { b in
            let (count, problem) = DuplicateList.validate(b, maxLength: 1024)
            #expect(count == 2 && problem == nil)
        }
        for bad: [UInt8] in [[], [0x01, 0x00], [0x00, 0x00], [0x01, 0x00, 0x62, 0x01, 0x00, 0x61], [0x01, 0x00, 0x61, 0x01, 0x00, 0x61]] {
            bad.withUnsafeBytes { b in #expect(DuplicateList.validate(b, maxLength: 1024).problem != nil, "\(bad)") }
        }
        var root = TreeRoot.empty(flags: TreeRoot.flagSortedDuplicates)
        root.entries = 5
        let bytes = root.encoded
        #expect(bytes[14] == 1 && bytes[15] == 0)
        let decoded = bytes.withUnsafeBytes { TreeRoot(decoding: $0.baseAddress!) }
        #expect(decoded == root && decoded.hasSortedDuplicates && decoded.isEmpty)
    }

    @Test func mutablePageStaysPacked() throws {
        let size = 4096
        let buf = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        defer { buf.deallocate() }
        let page = MutablePage(base: buf, pageSize: size)
        page.initialize(kind: .leaf, number: PageNumber(5))
        var model: [[UInt8]] = []
        var g = SystemRandomNumberGenerator()
        for step in 0..<2000 {
            if model.isEmpty || (Bool.random(using: &g) && page.freeBytes > 80) {
                let key = (0..<Int.random(in: 1...20, using: &g)).map { _ in UInt8.random(in: 0...255, using: &g) }
                let value = [UInt8](repeating: UInt8(step & 0xFF), count: Int.random(in: 0...40, using: &g))
                let cellSize = LeafCell.size(keyLength: key.count, valueLength: value.count, overflow: false)
                guard page.freeBytes >= cellSize + 2 else { continue }
                let at = Int.random(in: 0...model.count, using: &g)
                let c = page.insertCell(at: at, size: cellSize)
                key.withUnsafeBytes { MutablePage.writeLeafCellHeader(at: c, key: $0, valueLength: value.count, overflow: false) }
                value.withUnsafeBytes { if $0.count > 0 { (c + 8 + key.count).copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
                model.insert(key, at: at)
            } else {
                let at = Int.random(in: 0..<model.count, using: &g)
                page.removeCell(at: at, leaf: true)
                model.remove(at: at)
            }
            #expect(page.count == model.count)
            var total = 0
            for i in 0..<page.count { total += page.cellSize(i, leaf: true); #expect(Array(try page.view.leafKey(i)) == model[i]) }
            #expect(total == size - page.contentStart, "cells not packed at step \(step)")
        }
    }
}

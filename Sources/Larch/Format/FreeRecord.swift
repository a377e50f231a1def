/// The free tree: which pages are free, and since which transaction.
///
/// Key (16 bytes): big-endian transaction id `T`, then the big-endian first page of the record.
/// Value: extents of 12 bytes (u64 first page, u32 page count), ascending. A record keyed `T`
/// holds pages freed by the commit of `T`: reachable from snapshots before `T` only, so reusable
/// once every reader's snapshot is `≥ T`. Records keyed 0 hold pages that are reusable at once
/// (taken from the tree by a writer that did not use them).
enum FreeRecord {
    static let keySize = 16
    static let extentSize = 12

    static func key(txn: UInt64, firstPage: UInt64) -> [UInt8] {
        var k = [UInt8](repeating: 0, count: keySize)
        k.withUnsafeMutableBytes { b in
            b.storeBytes(of: txn.bigEndian, toByteOffset: 0, as: UInt64.self)
            b.storeBytes(of: firstPage.bigEndian, toByteOffset: 8, as: UInt64.self)
        }
        return k
    }

    /// The first page a record's key names.
    static func firstPage(ofKey key: UnsafeRawBufferPointer) -> UInt64 {
        UInt64(bigEndian: key.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
    }

    /// The first page of a record value's first extent (the value holds at least one extent).
    static func firstExtentPage(ofValue value: UnsafeRawBufferPointer) -> UInt64 {
        value.baseAddress!.u64(at: 0)
    }

    static func transaction(ofKey key: UnsafeRawBufferPointer) -> UInt64 {
        UInt64(bigEndian: key.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
    }

    /// The most extents one record holds, so that records always stay inline in a leaf.
    static func maxExtents(_ limits: PageLimits) -> Int {
        (limits.maxInlineCell - PageLayout.slotSize - LeafCell.headerSize - keySize) / extentSize
    }

    /// Calls `body` with each extent of a record value; throws if the value is malformed.
    static func forEachExtent(_ value: UnsafeRawBufferPointer, page: PageNumber,
                              _ body: (PageExtent) throws(LarchError) -> Void) throws(LarchError) {
        guard value.count % extentSize == 0, value.count > 0 else {
            throw .corruptPage(page: page.rawValue, reason: "free-tree record of \(value.count) bytes is not a list of extents")
        }
        var off = 0
        while off < value.count {
            let p = value.baseAddress! + off
            try body(PageExtent(first: PageNumber(p.u64(at: 0)), count: Int(p.u32(at: 8))))
            off += extentSize
        }
    }

    /// Sorted, distinct pages compressed into extents.
    static func extents(ofSorted pages: some Collection<PageNumber>) -> [PageExtent] {
        var out: [PageExtent] = []
        for p in pages {
            if let last = out.last, last.end == p, last.count < Int(UInt32.max) {
                out[out.count - 1].count += 1
            } else {
                out.append(PageExtent(first: p, count: 1))
            }
        }
        return out
    }

    static func encode(_ extents: some Collection<PageExtent>) -> [UInt8] {
        var v = [UInt8](repeating: 0, count: extents.count * extentSize)
        v.withUnsafeMutableBytes { b in
            var off = 0
            for e in extents {
                b.baseAddress!.setU64(e.first.rawValue, at: off)
                b.baseAddress!.setU32(UInt32(e.count), at: off + 8)
                off += extentSize
            }
        }
        return v
    }
}

/// A run of consecutive pages: `count` pages from `first`.
struct PageExtent: Equatable, Sendable {
    var first: PageNumber
    var count: Int
    /// The page after the last one.
    var end: PageNumber { first + count }
    /// Each page of the run.
    var pages: some Sequence<PageNumber> { (first.rawValue..<end.rawValue).lazy.map(PageNumber.init(rawValue:)) }
}

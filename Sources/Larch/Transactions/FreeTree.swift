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

    static func transaction(ofKey key: UnsafeRawBufferPointer) -> UInt64 {
        UInt64(bigEndian: key.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
    }

    /// The most extents one record holds, so that records always stay inline in a leaf.
    static func maxExtents(_ limits: PageLimits) -> Int {
        (limits.maxInlineCell - PageLayout.slotSize - LeafCell.headerSize - keySize) / extentSize
    }

    /// Calls `body` with each extent of a record value; throws if the value is malformed.
    static func forEachExtent(_ value: UnsafeRawBufferPointer, page: PageNumber,
                              _ body: (UInt64, Int) throws(LarchError) -> Void) throws(LarchError) {
        guard value.count % extentSize == 0, value.count > 0 else {
            throw .corruptPage(page: page.rawValue, reason: "free-tree record of \(value.count) bytes is not a list of extents")
        }
        var off = 0
        while off < value.count {
            let p = value.baseAddress! + off
            try body(p.u64(at: 0), Int(p.u32(at: 8)))
            off += extentSize
        }
    }

    /// Sorted, distinct pages compressed into extents.
    static func extents(ofSorted pages: ArraySlice<UInt64>) -> [(UInt64, Int)] {
        var out: [(UInt64, Int)] = []
        for p in pages {
            if let last = out.last, last.0 + UInt64(last.1) == p, last.1 < Int(UInt32.max) {
                out[out.count - 1].1 += 1
            } else {
                out.append((p, 1))
            }
        }
        return out
    }

    static func encode(_ extents: ArraySlice<(UInt64, Int)>) -> [UInt8] {
        var v = [UInt8](repeating: 0, count: extents.count * extentSize)
        v.withUnsafeMutableBytes { b in
            var off = 0
            for (first, count) in extents {
                b.baseAddress!.setU64(first, at: off)
                b.baseAddress!.setU32(UInt32(count), at: off + 8)
                off += extentSize
            }
        }
        return v
    }
}

extension Environment {
    /// Free-tree records keyed at or below this id may be reused: no live reader, no writer, and no
    /// meta that may be the one found after a crash can reach their pages.
    func oldestNeededSnapshot(current: TransactionID) -> TransactionID {
        var o = committed.withLock { $0.durableTxn }
        if current < o { o = current }
        if let r = readers.oldestSnapshot(), r < o { o = r }
        return o
    }
}

extension TransactionCore {
    /// The oldest snapshot that may still be read: the oldest reader's, this writer's own, or the
    /// newest one whose meta is durable (with `noMetaSync`, the last commit's meta may not be).
    func oldestSnapshot(_ w: WriteState) -> TransactionID {
        if let o = w.oldestSnapshot { return o }
        let o = env.oldestNeededSnapshot(current: meta.txnID)
        w.oldestSnapshot = o
        return o
    }

    /// Takes the oldest free-tree record if no snapshot can still reach its pages: its pages join
    /// the pool and the record is deleted. Returns false when there is none to take.
    func takeFreeRecord(_ w: WriteState) throws(LarchError) -> Bool {
        guard !w.freeTreeBusy else { return false }
        let root = trees[TreeIndex.free].root
        guard !root.isEmpty else { return false }
        // The first record: leftmost leaf, first cell.
        var page = root.root
        var checksum = root.rootChecksum
        for _ in 0..<(root.depth - 1) {
            (page, checksum) = try node(page, checksum: checksum, kind: .branch).child(0)
        }
        let leaf = try node(page, checksum: checksum, kind: .leaf)
        let entry = try leaf.leafCell(0)
        guard entry.key.count == FreeRecord.keySize else {
            throw .corruptPage(page: page.rawValue, reason: "free-tree key of \(entry.key.count) bytes")
        }
        guard FreeRecord.transaction(ofKey: entry.key) <= oldestSnapshot(w).rawValue else { return false }
        let limit = meta.pageCount
        try FreeRecord.forEachExtent(try valueBytes(entry), page: page) { first, count throws(LarchError) in
            guard first >= 2, count > 0, first <= limit, UInt64(count) <= limit - first else {
                throw .corruptPage(page: page.rawValue, reason: "free extent \(first)+\(count) lies outside the file's \(limit) pages")
            }
            for p in first..<(first + UInt64(count)) { w.pool.append(p) }
        }
        w.poolSorted = false
        let key = Array(entry.key)
        w.freeTreeBusy = true
        defer { w.freeTreeBusy = false }
        let deleted = try withBytes(key) { k throws(LarchError) in try delete(tree: TreeIndex.free, key: k) }
        guard deleted else { throw .corruptPage(page: page.rawValue, reason: "free-tree record vanished while being taken") }
        return true
    }

    /// Records this transaction's freed pages, and the pool's unused pages, in the free tree.
    ///
    /// Writing the tree changes it: copy-on-write frees more pages, splits take pages from the pool.
    /// The loop ends because during the save the pool only shrinks, puts never replace a key, and
    /// each free-tree page is copied at most once.
    func saveFreeTree(_ w: WriteState) throws(LarchError) {
        w.freeTreeBusy = true
        defer { w.freeTreeBusy = false }
        let maxExtents = FreeRecord.maxExtents(limits)
        var savedFreed = 0
        while true {
            if savedFreed < w.freed.count {
                let end = w.freed.count
                let batch = w.freed[savedFreed..<end].sorted()
                savedFreed = end
                let ext = FreeRecord.extents(ofSorted: batch[...])
                try putFreeRecords(w, txn: w.txnID.rawValue, extents: ext, maxExtents: maxExtents)
            } else if !w.pool.isEmpty {
                w.sortPoolIfNeeded()
                // Take the highest pages (allocations during the put take the lowest).
                let ascending = w.pool.reversed()
                var ext = FreeRecord.extents(ofSorted: ArraySlice(ascending))
                if ext.count > maxExtents { ext = Array(ext.suffix(maxExtents)) }
                let taken = ext.reduce(0) { $0 + $1.1 }
                w.pool.removeFirst(taken)
                try putFreeRecords(w, txn: 0, extents: ext, maxExtents: maxExtents)
            } else {
                break
            }
        }
    }

    private func putFreeRecords(_ w: WriteState, txn: UInt64, extents: [(UInt64, Int)], maxExtents: Int) throws(LarchError) {
        var i = 0
        while i < extents.count {
            let chunk = extents[i..<min(i + maxExtents, extents.count)]
            let key = FreeRecord.key(txn: txn, firstPage: chunk.first!.0)
            let value = FreeRecord.encode(chunk)
            try withBytes(key) { k throws(LarchError) in
                try withBytes(value) { v throws(LarchError) in try put(tree: TreeIndex.free, key: k, value: v, overwrite: false) }
            }
            i += maxExtents
        }
    }
}

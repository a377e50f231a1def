/// A read-only, zero-copy view of one branch or leaf page, in the map or in a dirty buffer.
///
/// The page may come from a corrupt file, so every accessor that follows an offset checks it
/// against the page bounds and throws `LarchError.corruptPage` rather than read outside the page.
/// `validateNode` checks the header once when the page is visited.
struct PageView {
    let base: UnsafeRawPointer
    let pageSize: Int
    let number: PageNumber

    @inline(__always) var kindByte: UInt8 { base.load(fromByteOffset: PageLayout.kindOffset, as: UInt8.self) }
    @inline(__always) var count: Int { Int(base.u16(at: PageLayout.countOffset)) }
    @inline(__always) var contentStart: Int { Int(base.u32(at: PageLayout.contentStartOffset)) }
    @inline(__always) var storedPageNumber: UInt64 { base.u64(at: PageLayout.pageNumberOffset) }
    @inline(__always) var isLeaf: Bool { kindByte == PageKind.leaf.rawValue }

    /// Bytes taken by slots and cells.
    var usedBytes: Int { pageSize - contentStart + PageLayout.slotSize * count }
    /// Bytes available for more slots and cells.
    var freeBytes: Int { contentStart - PageLayout.headerSize - PageLayout.slotSize * count }

    func corrupt(_ reason: String) -> LarchError { .corruptPage(page: number.rawValue, reason: reason) }

    /// Checks the header of a branch or leaf page: its kind, its own page number, and that the slot
    /// array and the content area fit the page. Pages with no cells are corrupt (an empty tree has
    /// no root page, and deletes merge empty pages away).
    @inline(__always)
    func validateNode(kind: PageKind) throws(LarchError) {
        let k = kindByte
        let n = count
        let start = contentStart
        guard k == kind.rawValue, storedPageNumber == number.rawValue, n > 0,
              PageLayout.headerSize + PageLayout.slotSize * n <= start, start <= pageSize else {
            throw corruptHeader(expected: kind)
        }
    }

    private func corruptHeader(expected: PageKind) -> LarchError {
        let k = kindByte
        if k != expected.rawValue {
            let name = PageKind(rawValue: k).map { "\($0)" } ?? "unknown kind \(k)"
            return corrupt("expected a \(expected) page, found \(name)")
        }
        if storedPageNumber != number.rawValue {
            return corrupt("page header says it is page \(storedPageNumber)")
        }
        if count == 0 { return corrupt("\(expected) page with no cells") }
        return corrupt("slot array (\(count) slots) and content start \(contentStart) do not fit a \(pageSize)-byte page")
    }

    /// The offset of cell `i`, checked to lie in the content area with room for a `minSize` header.
    @inline(__always)
    func cellOffset(_ i: Int, minSize: Int) throws(LarchError) -> Int {
        let off = Int(base.u16(at: PageLayout.headerSize + PageLayout.slotSize * i))
        guard off >= contentStart, off + minSize <= pageSize else {
            throw corrupt("cell \(i) at offset \(off) is outside the content area")
        }
        return off
    }

    // MARK: Leaf cells

    /// The key of leaf cell `i`.
    @inline(__always)
    func leafKey(_ i: Int) throws(LarchError) -> UnsafeRawBufferPointer {
        let off = try cellOffset(i, minSize: LeafCell.headerSize)
        let len = Int(base.u16(at: off + 2))
        guard off + LeafCell.headerSize + len <= pageSize else { throw corrupt("key of cell \(i) runs past the page end") }
        return UnsafeRawBufferPointer(start: base + off + LeafCell.headerSize, count: len)
    }

    /// The decoded leaf cell `i`: key, and either the inline value or the overflow reference.
    func leafCell(_ i: Int) throws(LarchError) -> LeafEntry {
        let off = try cellOffset(i, minSize: LeafCell.headerSize)
        let flags = base.u16(at: off)
        let keyLen = Int(base.u16(at: off + 2))
        let valueLen = Int(base.u32(at: off + 4))
        let overflow = flags & LeafCell.flagOverflow != 0
        let keyStart = off + LeafCell.headerSize
        let payload = overflow ? LeafCell.overflowReferenceSize : valueLen
        guard keyStart + keyLen + payload <= pageSize else { throw corrupt("cell \(i) runs past the page end") }
        let key = UnsafeRawBufferPointer(start: base + keyStart, count: keyLen)
        if overflow {
            let ref = base + keyStart + keyLen
            return LeafEntry(key: key, value: .overflow(first: PageNumber(ref.u64(at: 0)), checksum: ref.u32(at: LeafCell.referenceChecksumOffset),
                                                        length: valueLen, birth: TransactionID(ref.u64(at: LeafCell.referenceBirthOffset))))
        }
        return LeafEntry(key: key, value: .inline(UnsafeRawBufferPointer(start: base + keyStart + keyLen, count: valueLen)),
                         isDuplicateTree: flags & LeafCell.flagDuplicateTree != 0)
    }

    /// The raw flags of leaf cell `i`.
    func leafFlags(_ i: Int) throws(LarchError) -> UInt16 {
        base.u16(at: try cellOffset(i, minSize: LeafCell.headerSize))
    }

    /// The size in bytes of leaf cell `i` (without its slot).
    func leafCellSize(_ i: Int) throws(LarchError) -> Int {
        let off = try cellOffset(i, minSize: LeafCell.headerSize)
        let overflow = base.u16(at: off) & LeafCell.flagOverflow != 0
        return LeafCell.size(keyLength: Int(base.u16(at: off + 2)), valueLength: Int(base.u32(at: off + 4)), overflow: overflow)
    }

    /// Lower bound: the first index whose key is `≥ key`, and whether it is equal.
    @inline(__always)
    func leafSearch(_ key: UnsafeRawBufferPointer) throws(LarchError) -> (index: Int, exact: Bool) {
        var lo = 0
        var hi = count
        while lo < hi {
            let mid = (lo + hi) >> 1
            let k = try leafKey(mid)
            let c = compareBytes(k.start, k.count, key.start, key.count)
            if c < 0 { lo = mid + 1 } else if c > 0 { hi = mid } else { return (mid, true) }
        }
        return (lo, false)
    }

    // MARK: Branch cells

    /// The separator key of branch cell `i` (empty for cell 0).
    @inline(__always)
    func branchKey(_ i: Int) throws(LarchError) -> UnsafeRawBufferPointer {
        let off = try cellOffset(i, minSize: BranchCell.headerSize)
        let len = Int(base.u16(at: off + 12))
        guard off + BranchCell.headerSize + len <= pageSize else { throw corrupt("key of cell \(i) runs past the page end") }
        return UnsafeRawBufferPointer(start: base + off + BranchCell.headerSize, count: len)
    }

    /// The child page of branch cell `i` and the checksum recorded for it.
    @inline(__always)
    func child(_ i: Int) throws(LarchError) -> (page: PageNumber, checksum: UInt32) {
        let off = try cellOffset(i, minSize: BranchCell.headerSize)
        return (PageNumber(base.u64(at: off)), base.u32(at: off + 8))
    }

    /// The whole pointer of branch cell `i`: child page, checksum and birth.
    func pointer(_ i: Int) throws(LarchError) -> ChildPointer {
        BranchCell.pointer(at: base + (try cellOffset(i, minSize: BranchCell.headerSize)))
    }

    /// The size in bytes of branch cell `i` (without its slot).
    func branchCellSize(_ i: Int) throws(LarchError) -> Int {
        let off = try cellOffset(i, minSize: BranchCell.headerSize)
        return BranchCell.size(keyLength: Int(base.u16(at: off + 12)))
    }

    /// The index of the child whose subtree holds `key`: the last cell with separator `≤ key`.
    @inline(__always)
    func branchSearch(_ key: UnsafeRawBufferPointer) throws(LarchError) -> Int {
        var lo = 1
        var hi = count
        while lo < hi {
            let mid = (lo + hi) >> 1
            let k = try branchKey(mid)
            if compareBytes(k.start, k.count, key.start, key.count) <= 0 { lo = mid + 1 } else { hi = mid }
        }
        return lo - 1
    }
}

/// A decoded leaf cell.
struct LeafEntry {
    /// Where the value of a leaf cell lives.
    enum Value {
        case inline(UnsafeRawBufferPointer)
        case overflow(first: PageNumber, checksum: UInt32, length: Int, birth: TransactionID)
    }
    var key: UnsafeRawBufferPointer
    var value: Value
    /// The inline value is the `TreeRoot` of the key's duplicate tree (sorted-duplicates databases).
    var isDuplicateTree = false

    var valueLength: Int {
        switch value {
        case .inline(let b): return b.count
        case .overflow(_, _, let n, _): return n
        }
    }
}

extension UnsafeRawBufferPointer {
    /// A non-nil base address even for empty buffers, for comparisons.
    @inline(__always) var start: UnsafeRawPointer { baseAddress ?? UnsafeRawPointer(bitPattern: 1)! }
}

extension PageView {
    /// Checks, as a walk in key order enters this leaf, that its edge key `key` lies beyond
    /// `previous`, the key the walk left (after it going forward, before it going back). Checked
    /// once per leaf: a page reached twice in a forged file would otherwise repeat entries, or be
    /// walked exponentially often down a chain of shared children.
    func checkEntered(at key: UnsafeRawBufferPointer, leaving previous: UnsafeRawBufferPointer, forward: Bool = true) throws(LarchError) {
        let order = compareBytes(key.start, key.count, previous.start, previous.count)
        guard forward ? order > 0 : order < 0 else {
            throw corrupt("its keys do not follow those of the leaf \(forward ? "before" : "after") it in key order (a page reached twice?)")
        }
    }
}

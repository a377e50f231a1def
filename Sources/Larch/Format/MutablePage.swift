/// A branch or leaf page being built by a write transaction, in a private page-size buffer.
///
/// Keeps the page packed: cells are contiguous from `contentStart` to the end of the page, so
/// the free space is always the single gap between the slot array and the content. Removing a
/// cell moves the cells below it up. Callers check `freeBytes` before inserting; the buffer is
/// trusted (it was built here), so bounds are asserted in debug builds only.
struct MutablePage {
    let base: UnsafeMutableRawPointer
    let pageSize: Int

    var view: PageView { PageView(base: UnsafeRawPointer(base), pageSize: pageSize, number: PageNumber(UnsafeRawPointer(base).u64(at: PageLayout.pageNumberOffset))) }

    var count: Int {
        get { Int(UnsafeRawPointer(base).u16(at: PageLayout.countOffset)) }
        nonmutating set { base.setU16(UInt16(newValue), at: PageLayout.countOffset) }
    }
    var contentStart: Int {
        get { Int(UnsafeRawPointer(base).u32(at: PageLayout.contentStartOffset)) }
        nonmutating set { base.setU32(UInt32(newValue), at: PageLayout.contentStartOffset) }
    }
    var freeBytes: Int { contentStart - PageLayout.headerSize - PageLayout.slotSize * count }
    var usedBytes: Int { pageSize - contentStart + PageLayout.slotSize * count }

    /// Makes the buffer an empty page of `kind` numbered `number`, zero-filled, so that no stale
    /// bytes (or unrelated memory of this process) reach the file.
    func initialize(kind: PageKind, number: PageNumber) {
        base.initializeMemory(as: UInt8.self, repeating: 0, count: pageSize)
        base.storeBytes(of: kind.rawValue, toByteOffset: PageLayout.kindOffset, as: UInt8.self)
        count = 0
        contentStart = pageSize
        base.setU64(number.rawValue, at: PageLayout.pageNumberOffset)
    }

    /// Renumbers the page (after copy-on-write into a newly allocated page).
    func setPageNumber(_ number: PageNumber) { base.setU64(number.rawValue, at: PageLayout.pageNumberOffset) }

    @inline(__always) func slot(_ i: Int) -> Int { Int(UnsafeRawPointer(base).u16(at: PageLayout.headerSize + 2 * i)) }
    @inline(__always) func setSlot(_ i: Int, _ off: Int) { base.setU16(UInt16(off), at: PageLayout.headerSize + 2 * i) }

    /// The size of cell `i` (without its slot), for a page of the given kind.
    @inline(__always)
    func cellSize(_ i: Int, leaf: Bool) -> Int {
        let off = slot(i)
        let p = UnsafeRawPointer(base) + off
        if leaf {
            return LeafCell.size(keyLength: Int(p.u16(at: 2)), valueLength: Int(p.u32(at: 4)),
                                 overflow: p.u16(at: 0) & LeafCell.flagOverflow != 0)
        }
        return BranchCell.size(keyLength: Int(p.u16(at: 12)))
    }

    /// Opens room for a cell of `size` bytes at index `i` and returns where to write it.
    func insertCell(at i: Int, size: Int) -> UnsafeMutableRawPointer {
        let n = count
        assert(i >= 0 && i <= n && freeBytes >= size + PageLayout.slotSize, "insertCell without room")
        let off = contentStart - size
        let slots = base + PageLayout.headerSize
        if i < n { (slots + 2 * (i + 1)).copyMemory(from: slots + 2 * i, byteCount: 2 * (n - i)) }
        setSlot(i, off)
        count = n + 1
        contentStart = off
        return base + off
    }

    /// Inserts a copy of `size` bytes at `cell` as cell `i`.
    func insertCell(at i: Int, copying cell: UnsafeRawPointer, size: Int) {
        insertCell(at: i, size: size).copyMemory(from: cell, byteCount: size)
    }

    /// Removes cell `i`, closing the gap it leaves in the content area.
    func removeCell(at i: Int, leaf: Bool) {
        let n = count
        assert(i >= 0 && i < n)
        let off = slot(i)
        let size = cellSize(i, leaf: leaf)
        let start = contentStart
        if off > start { (base + start + size).copyMemory(from: base + start, byteCount: off - start) }
        for j in 0..<n where j != i {
            let o = slot(j)
            if o < off { setSlot(j, o + size) }
        }
        let slots = base + PageLayout.headerSize
        if i < n - 1 { (slots + 2 * i).copyMemory(from: slots + 2 * (i + 1), byteCount: 2 * (n - 1 - i)) }
        count = n - 1
        contentStart = start + size
    }

    // MARK: Cell writers

    /// Writes a leaf cell header and key at `p`; the caller writes the value or overflow reference after it.
    @inline(__always)
    static func writeLeafCellHeader(at p: UnsafeMutableRawPointer, key: UnsafeRawBufferPointer, valueLength: Int, overflow: Bool) {
        p.setU16(overflow ? LeafCell.flagOverflow : 0, at: 0)
        p.setU16(UInt16(key.count), at: 2)
        p.setU32(UInt32(valueLength), at: 4)
        if key.count > 0 { (p + LeafCell.headerSize).copyMemory(from: key.baseAddress!, byteCount: key.count) }
    }

    /// Writes a branch cell at `p`.
    @inline(__always)
    static func writeBranchCell(at p: UnsafeMutableRawPointer, child: ChildPointer, key: UnsafeRawBufferPointer) {
        p.setU64(child.page.rawValue, at: 0)
        p.setU32(child.checksum, at: 8)
        p.setU16(UInt16(key.count), at: 12)
        p.setU16(0, at: 14)
        p.setU64(child.birth.rawValue, at: BranchCell.birthOffset)
        if key.count > 0 { (p + BranchCell.headerSize).copyMemory(from: key.baseAddress!, byteCount: key.count) }
    }

    /// Sets the child pointer of branch cell `i`.
    func setChild(_ i: Int, _ child: ChildPointer) {
        let p = base + slot(i)
        p.setU64(child.page.rawValue, at: 0)
        p.setU32(child.checksum, at: 8)
        p.setU64(child.birth.rawValue, at: BranchCell.birthOffset)
    }

    /// Points branch cell `i` at `page`, a page written by this transaction: its checksum and
    /// birth (both 0 until then) are recorded when the transaction commits (`finalize`).
    func setDirtyChild(_ i: Int, page: PageNumber) { setChild(i, .dirty(page)) }

    /// The bytes of cell `i` (its size depends on the page's kind: `cellSize`).
    @inline(__always)
    func cell(_ i: Int) -> UnsafeRawPointer { UnsafeRawPointer(base + slot(i)) }

    /// The child page and recorded checksum of branch cell `i` (a trusted dirty page).
    @inline(__always)
    func childReference(_ i: Int) -> (page: PageNumber, checksum: UInt32) {
        let p = cell(i)
        return (PageNumber(p.u64(at: 0)), p.u32(at: 8))
    }

    /// Makes this page a copy of the page at `source`.
    func copyPage(from source: UnsafeRawPointer) { base.copyMemory(from: source, byteCount: pageSize) }

    /// Moves cell `i` of this page to index `j` of `other`.
    func moveCell(_ i: Int, to other: MutablePage, at j: Int, leaf: Bool) {
        let size = cellSize(i, leaf: leaf)
        other.insertCell(at: j, copying: cell(i), size: size)
        removeCell(at: i, leaf: leaf)
    }

    /// Records the checksum and birth of the child of branch cell `i`, once that child is final.
    func setChildChecksum(_ i: Int, _ checksum: UInt32, birth: TransactionID) {
        let p = base + slot(i)
        p.setU32(checksum, at: 8)
        p.setU64(birth.rawValue, at: BranchCell.birthOffset)
    }

    /// Points leaf cell `i`, which holds an overflow reference, at another run.
    func setOverflowReference(_ i: Int, first: PageNumber, checksum: UInt32, birth: TransactionID) {
        let p = base + slot(i)
        assert(UnsafeRawPointer(p).u16(at: 0) & LeafCell.flagOverflow != 0, "not an overflow cell")
        Self.writeOverflowReference(at: p + LeafCell.headerSize + Int(UnsafeRawPointer(p).u16(at: 2)),
                                    first: first, checksum: checksum, birth: birth)
    }

    @inline(__always)
    private static func writeOverflowReference(at ref: UnsafeMutableRawPointer, first: PageNumber, checksum: UInt32, birth: TransactionID) {
        ref.setU64(first.rawValue, at: 0)
        ref.setU32(checksum, at: LeafCell.referenceChecksumOffset)
        ref.setU64(birth.rawValue, at: LeafCell.referenceBirthOffset)
    }

    /// Replaces the inline value of leaf cell `i` with `value` in place when the cell holds an inline
    /// value of the same length; returns false (changing nothing) otherwise.
    @inline(__always)
    func overwriteInlineValue(_ i: Int, with value: UnsafeRawBufferPointer) throws(LarchError) -> Bool {
        guard case .inline(let old) = try view.leafCell(i).value, old.count == value.count else { return false }
        if value.count > 0 { UnsafeMutableRawPointer(mutating: old.baseAddress!).copyMemory(from: value.baseAddress!, byteCount: value.count) }
        return true
    }

    /// Inserts a leaf cell holding `key` and the inline `value` as cell `i` when it fits; returns
    /// false (changing nothing) when it does not.
    @inline(__always)
    func insertLeafCell(at i: Int, key: UnsafeRawBufferPointer, inlineValue value: UnsafeRawBufferPointer) -> Bool {
        let size = LeafCell.size(keyLength: key.count, valueLength: value.count, overflow: false)
        guard freeBytes >= size + PageLayout.slotSize else { return false }
        Self.writeLeafCell(at: insertCell(at: i, size: size), key: key, inlineValue: value)
        return true
    }

    /// Writes a leaf cell holding `key` and the inline `value` at `p`.
    @inline(__always)
    static func writeLeafCell(at p: UnsafeMutableRawPointer, key: UnsafeRawBufferPointer, inlineValue value: UnsafeRawBufferPointer) {
        writeLeafCellHeader(at: p, key: key, valueLength: value.count, overflow: false)
        if value.count > 0 { (p + LeafCell.headerSize + key.count).copyMemory(from: value.baseAddress!, byteCount: value.count) }
    }

    /// Writes a leaf cell holding `key` and a reference to the overflow run at `first` (holding
    /// `valueLength` bytes, with `checksum`, written by transaction `birth`) at `p`.
    static func writeLeafCell(at p: UnsafeMutableRawPointer, key: UnsafeRawBufferPointer, overflowValueLength valueLength: Int,
                              first: PageNumber, checksum: UInt32, birth: TransactionID) {
        writeLeafCellHeader(at: p, key: key, valueLength: valueLength, overflow: true)
        writeOverflowReference(at: p + LeafCell.headerSize + key.count, first: first, checksum: checksum, birth: birth)
    }

    /// The duplicate-tree descriptor held by leaf cell `i` of a trusted dirty page, and where its
    /// bytes are (to record the final checksum); nil when the cell holds no duplicate tree.
    func duplicateTreeReference(_ i: Int) -> (TreeRoot, UnsafeMutableRawPointer)? {
        let p = base + slot(i)
        let flags = UnsafeRawPointer(p).u16(at: 0)
        guard flags & LeafCell.flagDuplicateTree != 0, UnsafeRawPointer(p).u32(at: 4) == UInt32(TreeRoot.encodedSize) else { return nil }
        let at = p + LeafCell.headerSize + Int(UnsafeRawPointer(p).u16(at: 2))
        return (TreeRoot(decoding: UnsafeRawPointer(at)), at)
    }

    /// Sets the flags of leaf cell `i` (bit 1: its value is a duplicate tree's `TreeRoot`).
    func setLeafFlags(_ i: Int, _ flags: UInt16) {
        (base + slot(i)).setU16(flags, at: 0)
    }

    /// Replaces the inline value of leaf cell `i` with `value`, which has the same length (the
    /// caller has just written or checked the cell; anything else is a programming error).
    func replaceInlineValue(_ i: Int, with value: [UInt8]) {
        let replaced = value.withUnsafeBytes { (try? overwriteInlineValue(i, with: $0)) ?? false }
        precondition(replaced, "replaceInlineValue needs an inline value of the same length")
    }
}

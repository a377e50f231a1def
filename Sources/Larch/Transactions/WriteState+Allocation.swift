/// Page allocation, release and copy-on-write for write transactions.
extension WriteState {
    /// Allocates `count` contiguous pages: from the pool, then from the meta's free list and
    /// free-tree records no reader needs, then — only when no reusable page is listed — from the
    /// end of the file. Throws `mapFull` when the file would exceed its limit.
    mutating func allocate(pages count: Int = 1) throws(LarchError) -> PageNumber {
        while true {
            // The meta's free list first: claiming from it changes no tree.
            while allocator.pool.count < max(16, count), allocator.claimFromFreeList(wantPages: max(16, count) - allocator.pool.count) {}
            if count == 1 && allocator.pool.count < 16 && !claims.busy {
                // Choose among more free pages: the lowest of them keep a commit's pages together.
                while allocator.pool.count < 16, try claimFreeRecord(wantPages: 16 - allocator.pool.count) {}
            }
            if let p = allocator.takeFromPool(count: count) { return try notInUse(p) }
            if try !claimFreeRecord(wantPages: count) { break }
        }
        return try allocator.extendFile(count: count)
    }

    /// `page`, taken from the free space, unless this transaction uses it: then the meta's free list
    /// or the free tree lists a live page (a damaged or forged file), and writing there would
    /// overwrite it. (Only pages this transaction holds are caught here; `check` finds the rest.)
    private func notInUse(_ page: PageNumber) throws(LarchError) -> PageNumber {
        guard page.rawValue >= 2, dirty[page] == nil, spilled?[page] == nil else { throw Self.listedButInUse(page) }
        return page
    }

    /// The error for a page the free space lists while this transaction uses it.
    private static func listedButInUse(_ page: PageNumber) -> LarchError {
        .corruptPage(page: page.rawValue, reason: "the free space lists it, but it is in use (run larch check)")
    }

    /// Allocates a page and a buffer for it, registered as dirty.
    mutating func newPage(kind: PageKind) throws(LarchError) -> (PageNumber, MutablePage) {
        let p = try allocate()
        let m = MutablePage(base: dirty.add(p), pageSize: pageSize)
        m.initialize(kind: kind, number: p)
        return (p, m)
    }

    /// Copy-on-write: a dirty page with the content of `page` (of `tree`, written by transaction
    /// `birth`), which is `page` itself when it is already dirty (inside a nested transaction,
    /// shadow-copied into its layer when a lower layer made it dirty). The old page is released.
    /// `relink` says whether the pointer to it must be marked dirty (a new page, or a page
    /// rewritten in place, whose checksum and birth the commit records).
    mutating func touch(_ page: PageNumber, birth: TransactionID, tree: Int) throws(LarchError) -> (page: PageNumber, relink: Bool) {
        if dirty[page] != nil {
            // Dirty in a lower layer of a nested transaction: shadowed, under the same number.
            if !dirty.isWritable(page) { _ = dirty.shadow(page) }
            return (page, false)
        }
        // A spilled page is still this transaction's: back into a buffer under its own number,
        // relinked (its pointer may record its checksum, if its parent was spilled too).
        if let s = spilled, let e = s[page] {
            try redirtySpilled(page, s, e)
            return (page, true)
        }
        // A page of a commit still waiting for its meta is rewritten in place, unless a snapshot reaches it.
        if !rewritable.isEmpty, birth > pinBound, rewritable.remove(page) != nil {
            if !nestedSaves.isEmpty { nestedSaves[nestedSaves.count - 1].unrewritten.append(page) }
            let copy = MutablePage(base: dirty.add(page), pageSize: pageSize)
            copy.copyPage(from: snapshot.mapping.page(page, pageSize: pageSize))
            try Self.checkCells(of: copy.view)
            rewrittenInPlace += 1
            inPlacePages.insert(page)
            return (page, true)
        }
        let p = try allocate()
        guard p != page else { throw Self.listedButInUse(page) }
        let buf = dirty.add(p)
        let copy = MutablePage(base: buf, pageSize: pageSize)
        copy.copyPage(from: snapshot.mapping.page(page, pageSize: pageSize))
        try Self.checkCells(of: copy.view)
        copy.setPageNumber(p)
        release(page, count: 1, birth: birth, tree: tree)
        return (p, true)
    }

    /// Stops using `count` pages starting at `page` (of `tree`, written by transaction `birth`):
    /// dirty ones return to the pool at once; pages a snapshot reaches (born at or before the
    /// newest snapshot's transaction) become dead extents, kept until the snapshots that reach
    /// them are dropped; the others are recorded as freed by this transaction.
    mutating func release(_ page: PageNumber, count: Int, birth: TransactionID, tree: Int) {
        let wasDirty = dirty.drop(page)
        var wasSpilled = false
        if let s = spilled, s[page] != nil {
            willChangeSpilled(page, outer: true)   // a nested transaction's abort returns to it
            _ = s.remove(page)
            wasSpilled = true
        }
        if wasDirty || wasSpilled {   // this transaction's page: reusable at once
            allocator.addToPool(PageExtent(first: page, count: count))
        } else if birth <= pinBound && TreeIndex.isPinnable(tree) {
            dead.append(DeadExtent(birth: birth, extent: PageExtent(first: page, count: count)))
        } else {
            allocator.addFreed(PageExtent(first: page, count: count))
        }
    }

    /// Writes `value` to a new overflow run and returns its first page and checksum.
    mutating func writeOverflow(value: UnsafeRawBufferPointer) throws(LarchError) -> (PageNumber, UInt32) {
        let pages = OverflowLayout.pageCount(valueLength: value.count, pageSize: pageSize)
        let first = try allocate(pages: pages)
        let buf = dirty.add(first, pages: pages)
        let crc = OverflowRun.write(value, into: buf, pages: pages, first: first, pageSize: pageSize)
        return (first, crc)
    }

    /// Checks that every cell of a branch page copied from the file lies in the page: the commit
    /// reads them all without checks (`finalizePage`), and a read checks only the cells it visits,
    /// so a forged cell offset would otherwise be followed out of the buffer. (Once per branch page
    /// copied in a transaction; leaves are not walked at commit.)
    static func checkCells(of v: PageView) throws(LarchError) {
        guard v.kindByte == PageKind.branch.rawValue else { return }
        for i in 0..<v.count { _ = try v.pointer(i) }
    }
}

/// Reusing free pages: claiming free-tree records no snapshot needs, and saving the free tree at commit.
///
/// Why it is built this way: pages the free tree itself needs while it is being changed can only
/// come from the pool or from the end of the file, because a record cannot be deleted in the middle
/// of another change to the same tree. If the pool is empty at such a moment, the file grows although
/// reusable pages are listed; the pages so added are freed later, the list of free pages grows by
/// them, and every later commit needs the same again: the file grows without bound (issue 9, first
/// seen after one long reader made the free tree more than one leaf). So:
/// - records are **read ahead** (copied out of the tree) and **claimed** without touching the tree:
///   their pages join the pool at once and their deletion waits until no free-tree change is under
///   way (`pendingDeletes`). An allocation inside a free-tree change can therefore still reuse pages;
/// - before each put of the commit's save, the pool and the claimable records hold at least what
///   one put can allocate (`saveReserve`);
/// - a record of unused pool pages is put while allocations take the pool's highest pages, which
///   are that record's own, and is then trimmed to the pages still unused (its key, the lowest page,
///   stays). No unused page is left out and none is listed that was used.
/// The file grows only when no reusable page is left: its size is independent of history.
extension WriteState {
    /// Moves the pages of one reusable free-tree record into the pool, reading records ahead when
    /// none are at hand and the free tree is not being changed. Its deletion follows at once when
    /// the free tree is not being changed, else at the save loop's next step. Returns false when no
    /// reusable record is left (or none can be read now).
    mutating func claimFreeRecord(wantPages: Int) throws(LarchError) -> Bool {
        if claims.claimable.isEmpty {
            guard !claims.busy, claims.pendingDeletes.isEmpty else { return false }
            try readAhead(wantPages: wantPages)
        }
        guard let record = claims.claimable.popLast() else { return false }
        for e in record.extents { allocator.pool.append(contentsOf: e.pages) }
        allocator.poolSorted = false
        claims.pendingDeletes.append(record.key)
        if !claims.busy { try flushPendingDeletes() }
        return true
    }

    /// Copies reusable records from the start of the free tree (its leftmost leaf) into `claimable`:
    /// enough for `wantPages` pages and the deletions that follow, at most 32 records.
    private mutating func readAhead(wantPages: Int) throws(LarchError) {
        let root = trees[TreeIndex.free].root
        guard !root.isEmpty else { return }
        let oldest = allocator.reuseBound.rawValue
        var page = root.root
        var checksum = root.rootChecksum
        for _ in 0..<(root.depth - 1) {
            (page, checksum) = try node(page, checksum: checksum, kind: .branch).child(0)
        }
        let leaf = try node(page, checksum: checksum, kind: .leaf)
        let target = wantPages + 2 * root.depth + 2
        // Records this transaction saved may list pages it added to the file.
        let limit = allocator.nextPage
        var read: [ClaimableRecord] = []
        var pages = 0
        var i = 0
        while i < leaf.count, read.count < 32, pages < target {
            let entry = try leaf.leafCell(i)
            guard entry.key.count == FreeRecord.keySize else {
                throw .corruptPage(page: page.rawValue, reason: "free-tree key of \(entry.key.count) bytes")
            }
            guard FreeRecord.transaction(ofKey: entry.key) <= oldest else { break }
            var record = ClaimableRecord(key: Array(entry.key))
            try FreeRecord.forEachExtent(try valueBytes(entry), page: page) { e throws(LarchError) in
                let first = e.first.rawValue
                guard first >= 2, e.count > 0, first <= limit, UInt64(e.count) <= limit - first else {
                    throw .corruptPage(page: page.rawValue, reason: "free extent \(first)+\(e.count) lies outside the file's \(limit) pages")
                }
                record.extents.append(e)
                record.pages += e.count
            }
            pages += record.pages
            read.append(record)
            i += 1
        }
        claims.claimable = read.reversed()   // popLast yields the oldest
    }

    /// Deletes the records whose pages were claimed. Deleting may allocate (copy-on-write of the
    /// free tree's pages), which may claim further records: their keys are deleted by this loop too.
    mutating func flushPendingDeletes() throws(LarchError) {
        claims.busy = true
        defer { claims.busy = false }
        while let key = claims.pendingDeletes.popLast() {
            let deleted = try withBytes(key) { k throws(LarchError) in try delete(tree: TreeIndex.free, key: k) }
            guard deleted else {
                throw .corruptPage(page: trees[TreeIndex.free].root.root.rawValue, reason: "free-tree record vanished while being taken")
            }
        }
    }

    /// Pages one put into the free tree can allocate: a copy of each page on its path, a new page
    /// per level when every level splits, and a new root.
    private func saveReserve() -> Int {
        2 * trees[TreeIndex.free].root.depth + 1
    }

    /// Before a put of the save: pending deletions done, and the pool holding more than `pages`
    /// (claiming records while reusable ones exist), so that the put never grows the file while
    /// reusable pages are listed.
    private mutating func prepareSavePut(pages: Int) throws(LarchError) {
        try flushPendingDeletes()
        while allocator.pool.count <= pages {
            guard try claimFreeRecord(wantPages: pages + 1 - allocator.pool.count) else { break }
        }
    }

    /// Records this transaction's freed pages and the pool's unused pages: in the meta's free list
    /// when they fit there beside the entries it keeps, so that a small commit changes no free-tree
    /// page; otherwise the list's entries move to the free tree with them, and the list is empty.
    mutating func saveFreeSpace() throws(LarchError) {
        try flushPendingDeletes()
        if let list = allocator.freeListAtCommit(txn: txnID) {
            allocator.freeList = list
            allocator.pool = []   // `freed` stays: the commit's statistics count it
            return
        }
        try saveFreeTree()
        precondition(allocator.freeList.isEmpty && allocator.pool.isEmpty, "free space left unrecorded")
    }

    /// Records this transaction's freed pages, the meta's free list and the pool's unused pages in
    /// the free tree.
    ///
    /// Writing the tree changes it: copy-on-write frees more pages, splits take pages from the pool,
    /// claims add records to delete. The loop ends because each free-tree page is copied at most once
    /// per transaction, splits only add room, and records of unused pages draw from themselves.
    mutating func saveFreeTree() throws(LarchError) {
        let maxExtents = FreeRecord.maxExtents(limits)
        var savedFreed = 0
        var pathCopied = false
        while true {
            if !claims.pendingDeletes.isEmpty {
                try flushPendingDeletes()
            } else if !pathCopied && !allocator.freed.isEmpty {
                // Copy the path where this transaction's records go first, so that the pages that
                // copy frees join the first record rather than needing a record of their own.
                pathCopied = true
                try prepareSavePut(pages: saveReserve())
                try copyPath(toKey: FreeRecord.key(txn: txnID.rawValue, firstPage: 0))
            } else if savedFreed < allocator.freed.count {
                let end = allocator.freed.count
                let batch = allocator.freed[savedFreed..<end].sorted()
                savedFreed = end
                let extents = FreeRecord.extents(ofSorted: batch)
                var i = 0
                while i < extents.count {
                    try prepareSavePut(pages: saveReserve())
                    try putFreeRecord(txn: txnID.rawValue, extents: extents[i..<min(i + maxExtents, extents.count)])
                    i += maxExtents
                }
            } else if let first = allocator.freeList.first {
                // The meta's free list moves to the tree: a record per transaction (and per
                // `maxExtents` extents), ascending like the list.
                var extents: [PageExtent] = []
                while extents.count < maxExtents, let e = allocator.freeList.first, e.txn == first.txn {
                    extents.append(e.extent)
                    allocator.freeList.removeFirst()
                }
                try prepareSavePut(pages: saveReserve())
                try putFreeRecord(txn: first.txn, extents: extents[...])
            } else if !allocator.pool.isEmpty {
                // Records at hand, so that the put of a small record can claim pages.
                if claims.claimable.isEmpty { try readAhead(wantPages: saveReserve()) }
                try saveUnusedPages(maxExtents: maxExtents)
            } else {
                break
            }
        }
    }

    /// Saves unused pool pages in a record keyed 0: the pool's highest pages, as many extents as one
    /// record holds.
    ///
    /// A record of more pages than its put can allocate (`2 × depth + 1`) is put while allocations
    /// take the pool's highest pages — the record's own, so the pages below it stay for the next
    /// record — and is then trimmed to its pages still unused. Its key, the lowest page, holds:
    /// allocations took the highest first and cannot have taken them all. A smaller record leaves
    /// the pool first, and its put draws from the pages below it, from records read ahead, or, when
    /// no reusable page is left, from the end of the file (a record of one page in an empty free tree
    /// cannot be stored in its own page).
    private mutating func saveUnusedPages(maxExtents: Int) throws(LarchError) {
        allocator.sortPoolIfNeeded()
        let extents = FreeRecord.extents(ofSorted: allocator.pool.reversed()).suffix(maxExtents)
        let recordPages = extents.reduce(0) { $0 + $1.count }
        let reserve = saveReserve()
        guard recordPages > reserve else {
            allocator.pool.removeFirst(recordPages)   // the pool is descending: the record's pages come first
            try putFreeRecord(txn: 0, extents: extents)
            return
        }
        let listed = Array(allocator.pool[0..<recordPages])
        do {
            allocator.allocateFromTop = true
            defer { allocator.allocateFromTop = false }
            try putFreeRecord(txn: 0, extents: extents)
        }
        // The put's allocations changed the pool.
        let inPool = Set(allocator.pool)
        let unused = listed.reversed().filter { inPool.contains($0) }
        precondition(recordPages - unused.count <= reserve, "a free-tree put allocated more than \(reserve) pages")
        guard unused[0] == extents.first!.first else {
            // Only a page listed twice in the free tree (a damaged file) can get here.
            throw .corruptPage(page: trees[TreeIndex.free].root.root.rawValue,
                               reason: "free page \(extents.first!.first) is listed twice in the free tree")
        }
        if unused.count < recordPages {
            let pageCount = allocator.nextPage
            let poolCount = allocator.pool.count
            try putFreeRecord(txn: 0, extents: FreeRecord.extents(ofSorted: unused)[...], overwrite: true)
            // A shorter value, in a leaf the put just copied, allocates nothing.
            precondition(allocator.nextPage == pageCount && allocator.pool.count == poolCount, "trimming a free-tree record allocated a page")
        }
        let unusedSet = Set(unused)
        allocator.pool.removeAll { unusedSet.contains($0) }
    }

    /// Copies (makes dirty) every page on the free tree's path to `key`, as a put there would.
    private mutating func copyPath(toKey key: [UInt8]) throws(LarchError) {
        guard !trees[TreeIndex.free].root.isEmpty else { return }
        claims.busy = true
        defer { claims.busy = false }
        path.beginOperation()
        defer { path.endOperation() }
        _ = try withBytes(key) { k throws(LarchError) in try descend(tree: TreeIndex.free, key: k) }
        beginChange(tree: TreeIndex.free)
        try touchPath(tree: TreeIndex.free)
    }

    private mutating func putFreeRecord(txn: UInt64, extents: ArraySlice<PageExtent>, overwrite: Bool = false) throws(LarchError) {
        let key = FreeRecord.key(txn: txn, firstPage: extents.first!.first.rawValue)
        let value = FreeRecord.encode(extents)
        claims.busy = true
        defer { claims.busy = false }
        try withBytes(key) { k throws(LarchError) in
            try withBytes(value) { v throws(LarchError) in try put(tree: TreeIndex.free, key: k, value: v, overwrite: overwrite) }
        }
    }
}

extension Environment {
    /// Free-tree records keyed at or below this id may be reused: no live reader, no writer, and no
    /// meta that may be the one found after a crash can reach their pages.
    func oldestNeededSnapshot(current: TransactionID) -> TransactionID {
        var o = committed.withLock { $0.meta.txnID }   // the published commit: a crash falls back to it
        if current < o { o = current }
        if let r = readers.oldestSnapshot(current: current, maxLag: options.maxReaderLag), r < o { o = r }
        return o
    }
}

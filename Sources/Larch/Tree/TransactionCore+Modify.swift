/// Put and delete on a B+ tree, copy-on-write from the root down.
extension TransactionCore {
    /// Runs a modification; if it fails part-way, the transaction is marked failed, because the
    /// tree may be half-changed in memory. Nothing is written to the file until commit, so an
    /// abort then leaves the database exactly as it was.
    @inline(__always)
    func modifying<R>(_ body: (WriteState) throws(LarchError) -> R) throws(LarchError) -> R {
        guard state == .active else { throw .transactionEnded }
        // Only `Transaction<ReadWrite>` and its cursors have changes, and they always have a write state.
        precondition(write != nil, "a change reached a read transaction")
        guard lentViews == 0 else { throw .viewInUse }
        // `w` is lent to `body` without a retain: `write` is a constant of this transaction, which
        // the caller keeps alive (a retain and release per put were a tenth of a sequential fill).
        unowned(unsafe) let w = write.unsafelyUnwrapped
        if w.hasFailed, let f = w.failure { throw f }
        let result = Unmanaged.passUnretained(w)._withUnsafeGuaranteedRef { w in
            Result { () throws(LarchError) -> R in try body(w) }
        }
        do {
            return try result.get()
        } catch {
            switch error {
            case .keyExists, .emptyKey, .keyTooLarge, .valueTooLarge, .databaseNotFound, .invalidDatabaseName:
                break // rejected before anything changed
            default:
                w.failure = error
            }
            throw error
        }
    }

    /// Marks `tree` changed, and has cursors on it remember their position first.
    /// The version is bumped only while cursors are open: only they compare it, and a cursor opened
    /// later starts from the version it finds.
    func beginChange(_ w: WriteState, tree: Int) {
        if !w.cursors.isEmpty {
            for (_, c) in w.cursors { c.takeUnretainedValue().treeWillChange(tree) }
            trees[tree].version &+= 1
        }
        if !trees[tree].isDirty { trees[tree].isDirty = true }
        if w.hintTree == tree { w.hintTree = -1 }   // the put that made the change sets a new hint
    }

    func validateKey(_ key: UnsafeRawBufferPointer) throws(LarchError) {
        guard key.count > 0 else { throw .emptyKey }
        guard key.count <= limits.maxKeySize else { throw .keyTooLarge(size: key.count, limit: limits.maxKeySize) }
    }

    /// Walks from the root to the leaf where `key` is or would be; returns its index there.
    func descend(tree: Int, key: UnsafeRawBufferPointer, path: TreePath) throws(LarchError) -> (index: Int, exact: Bool) {
        path.reset()
        let root = trees[tree].root
        var page = root.root
        var checksum = root.rootChecksum
        for _ in 0..<(root.depth - 1) {
            let v = try node(page, checksum: checksum, kind: .branch)
            let i = try v.branchSearch(key)
            path.push(page, i)
            (page, checksum) = try v.child(i)
        }
        let leaf = try node(page, checksum: checksum, kind: .leaf)
        let r = try leaf.leafSearch(key)
        path.push(page, r.index)
        return r
    }

    /// Copy-on-write of every page on the path, re-linking each new page into its (new) parent.
    func touchPath(_ w: WriteState, tree: Int, path: TreePath) throws(LarchError) {
        for level in 0..<path.count {
            let old = path.page(level)
            let new = try touch(w, old)
            guard new != old else { continue }
            path.setPage(level, new)
            if level == 0 {
                trees[tree].root.root = new
            } else {
                mutable(w, path.page(level - 1)).setChild(path.index(level - 1), page: new, checksum: 0)
            }
        }
    }

    // MARK: Put

    /// Inserts or replaces `key`. With `overwrite: false`, an existing key throws `keyExists`.
    func put(tree: Int, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, overwrite: Bool = true) throws(LarchError) {
        try validateKey(key)
        guard value.count <= PageLimits.maxValueSize else { throw .valueTooLarge(size: value.count, limit: PageLimits.maxValueSize) }
        try modifying { w throws(LarchError) in
            // Puts never nest (deletes nest in them: a free-tree record taken for a page), so a
            // put always has the first path, read straight from its constant without a retain.
            precondition(w.pathsInUse == 0, "a put nested in another modification")
            w.pathsInUse = 1
            let path = w.operationPath
            let inline = limits.isInline(keyLength: key.count, valueLength: value.count)
            let cellSize = LeafCell.size(keyLength: key.count, valueLength: value.count, overflow: !inline)
            // A put that changes no page boundaries leaves its path as the hint for the next put.
            var keepAsHint = false
            var hinted = false
            defer {
                if keepAsHint {
                    // A hinted put leaves the hint's pages as they were; a descended one replaces it.
                    if !hinted {
                        w.hintPath.copy(from: path)
                        w.hintRightmost = isRightmost(w, path: path, below: path.count - 1)
                        w.hintLeaf = w.dirty[path.leaf]!.buffer
                    }
                    w.hintTree = tree
                }
                w.pathsInUse = 0
            }
            var index = 0
            var exact = false
            if !trees[tree].root.isEmpty {
                // Random keys rarely land in the last leaf: after 8 misses in a row, the hint is
                // tried only on every 33rd put.
                var tryHint = false
                if w.hintTree == tree {
                    if w.hintSkips > 0 { w.hintSkips -= 1 } else { tryHint = true }
                }
                if tryHint, let r = try hintedPosition(w, key: key) {
                    // `path` is filled from the hint only if the put needs more than the leaf.
                    (index, exact) = r
                    hinted = true
                    w.hintMisses = 0
                } else {
                    if tryHint {
                        w.hintMisses += 1
                        if w.hintMisses >= 8 { w.hintSkips = 32 }
                    }
                    (index, exact) = try descend(tree: tree, key: key, path: path)
                }
                if exact && !overwrite { throw .keyExists }
            }
            beginChange(w, tree: tree)
            // A hinted path was made dirty by the put that left it, and nothing changed since.
            var pathTouched = hinted
            if inline && !trees[tree].root.isEmpty {
                // The common cases, written straight into the leaf: a new key that fits, or a value
                // replaced by one of the same size.
                if !pathTouched { try touchPath(w, tree: tree, path: path) }
                pathTouched = true
                let leaf = hinted ? MutablePage(base: w.hintLeaf!, pageSize: pageSize) : mutable(w, path.leaf)
                if exact {
                    if try leaf.overwriteInlineValue(index, with: value) {
                        keepAsHint = true
                        return
                    }
                } else if leaf.insertLeafCell(at: index, key: key, inlineValue: value) {
                    trees[tree].root.entries += 1
                    keepAsHint = true
                    return
                }
            }
            if hinted {
                path.copy(from: w.hintPath)
                path.setIndex(path.count - 1, index)
            }
            let shape = (trees[tree].root.depth, trees[tree].root.branchPages, trees[tree].root.leafPages)
            try withUnsafeTemporaryAllocation(byteCount: cellSize, alignment: 8) { buffer throws(LarchError) in
                let cell = buffer.baseAddress!
                // The cell first, and for a large value its overflow run: allocating the run before
                // the single pages of copy-on-write keeps long free runs whole for it.
                if inline {
                    MutablePage.writeLeafCell(at: cell, key: key, inlineValue: value)
                } else {
                    if exact { try releaseOverflow(w, tree: tree, path: path, index: index) }
                    let (first, checksum) = try writeOverflow(w, value: value)
                    MutablePage.writeLeafCell(at: cell, key: key, overflowValueLength: value.count, first: first, checksum: checksum)
                    trees[tree].root.overflowPages += UInt64(OverflowLayout.pageCount(valueLength: value.count, pageSize: pageSize))
                }
                let cellBytes = UnsafeRawBufferPointer(start: cell, count: cellSize)
                if trees[tree].root.isEmpty {
                    let (p, leaf) = try newPage(w, kind: .leaf)
                    var root = TreeRoot()
                    root.root = p
                    root.depth = 1
                    root.leafPages = 1
                    root.overflowPages = trees[tree].root.overflowPages
                    root.entries = 1
                    trees[tree].root = root
                    leaf.insertCell(at: 0, copying: cell, size: cellSize)
                    return
                }
                if !pathTouched { try touchPath(w, tree: tree, path: path) }
                let leaf = mutable(w, path.leaf)
                if exact {
                    // Same size, inline: overwrite the value bytes where they are.
                    if inline, try leaf.overwriteInlineValue(index, with: value) {
                        keepAsHint = true
                        return
                    }
                    if inline { try releaseOverflow(w, tree: tree, path: path, index: index) }
                    leaf.removeCell(at: index, leaf: true)
                } else {
                    trees[tree].root.entries += 1
                }
                try insert(w, tree: tree, path: path, level: path.count - 1, index: index, cell: cellBytes)
                let r = trees[tree].root
                keepAsHint = (r.depth, r.branchPages, r.leafPages) == shape
            }
        }
    }

    /// Where `key` belongs in the hint's leaf (the previous put's leaf: dirty, and its tree unchanged
    /// since), when that leaf is certainly the right one: the key lies between the leaf's first and
    /// last keys, or after its last key in the rightmost leaf (appending). nil otherwise, and the
    /// caller descends from the root.
    private func hintedPosition(_ w: WriteState, key: UnsafeRawBufferPointer) throws(LarchError) -> (index: Int, exact: Bool)? {
        guard let buffer = w.hintLeaf else { return nil }
        let leaf = PageView(base: UnsafeRawPointer(buffer), pageSize: pageSize, number: w.hintPath.leaf)
        let n = leaf.count
        guard n > 0 else { return nil }
        let last = try leaf.leafKey(n - 1)
        let c = compareBytes(key.start, key.count, last.start, last.count)
        if c > 0 { return w.hintRightmost ? (n, false) : nil }
        if c == 0 { return (n - 1, true) }
        let first = try leaf.leafKey(0)
        guard compareBytes(key.start, key.count, first.start, first.count) >= 0 else { return nil }
        return try leaf.leafSearch(key)
    }

    /// Frees the overflow run of leaf cell `index` at the end of `path`, if it has one.
    private func releaseOverflow(_ w: WriteState, tree: Int, path: TreePath, index: Int) throws(LarchError) {
        let old = try validatedPage(path.leaf).leafCell(index)
        guard case let .overflow(first, _, length) = old.value else { return }
        let pages = OverflowLayout.pageCount(valueLength: length, pageSize: pageSize)
        release(w, first, count: pages)
        trees[tree].root.overflowPages -= UInt64(pages)
    }

    /// Inserts `cell` at `index` of the dirty page at `level` of `path`, splitting when it does not fit.
    func insert(_ w: WriteState, tree: Int, path: TreePath, level: Int, index: Int, cell: UnsafeRawBufferPointer) throws(LarchError) {
        let page = mutable(w, path.page(level))
        if page.freeBytes >= cell.count + PageLayout.slotSize {
            page.insertCell(at: index, copying: cell.baseAddress!, size: cell.count)
            return
        }
        try split(w, tree: tree, path: path, level: level, index: index, cell: cell)
    }

    // MARK: Delete

    /// Deletes `key`; returns whether it was present.
    func delete(tree: Int, key: UnsafeRawBufferPointer) throws(LarchError) -> Bool {
        try validateKey(key)
        return try modifying { w throws(LarchError) in
            guard !trees[tree].root.isEmpty else { return false }
            let path = w.lendPath()
            defer { w.returnPath() }
            let (index, exact) = try descend(tree: tree, key: key, path: path)
            guard exact else { return false }
            beginChange(w, tree: tree)
            try touchPath(w, tree: tree, path: path)
            try removeLeafCell(w, tree: tree, path: path, index: index)
            return true
        }
    }

    /// Removes cell `index` of the (dirty) leaf at the end of `path`, frees its overflow run, and rebalances.
    func removeLeafCell(_ w: WriteState, tree: Int, path: TreePath, index: Int) throws(LarchError) {
        let leaf = mutable(w, path.leaf)
        let old = try leaf.view.leafCell(index)
        if case let .overflow(first, _, length) = old.value {
            let pages = OverflowLayout.pageCount(valueLength: length, pageSize: pageSize)
            release(w, first, count: pages)
            trees[tree].root.overflowPages -= UInt64(pages)
        }
        leaf.removeCell(at: index, leaf: true)
        trees[tree].root.entries -= 1
        try rebalance(w, tree: tree, path: path, level: path.count - 1)
    }
}

/// Put and delete on a B+ tree, copy-on-write from the root down.
extension WriteState {
    /// Marks `tree` changed, and has cursors on it remember their position first.
    /// The version is bumped only while cursors are open: only they compare it, and a cursor opened
    /// later starts from the version it finds.
    mutating func beginChange(tree: Int) {
        if !cursors.isEmpty {
            for (_, c) in cursors { c.state?.treeWillChange(tree) }
            trees[tree].version &+= 1
        }
        if !trees[tree].isDirty { trees[tree].isDirty = true }
        if hint.tree == tree { hint.tree = -1 }   // the put that made the change sets a new hint
    }

    /// Walks from the root to the leaf where `key` is or would be; returns its index there.
    mutating func descend(tree: Int, key: UnsafeRawBufferPointer) throws(LarchError) -> (index: Int, exact: Bool) {
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
    mutating func touchPath(tree: Int) throws(LarchError) {
        for level in 0..<path.count {
            let old = path.page(level)
            // The old page's birth: in the pointer to it, which its (already copied) parent still holds.
            let birth = level == 0 ? trees[tree].root.rootBirth : try mutable(path.page(level - 1)).view.pointer(path.index(level - 1)).birth
            let (new, relink) = try touch(old, birth: birth, tree: tree)
            guard relink else { continue }
            path.setPage(level, new)
            if level == 0 {
                trees[tree].root.root = new
            } else {
                mutable(path.page(level - 1)).setDirtyChild(path.index(level - 1), page: new)
            }
        }
    }

    // MARK: Put

    /// Inserts or replaces `key`. With `overwrite: false`, an existing key throws `keyExists`.
    /// The key and value must be valid (`TransactionCore.put` checks them). `cellFlags` are the
    /// leaf cell's flags for an inline value (`LeafCell.flagDuplicateTree` for a duplicate tree's root).
    mutating func put(tree: Int, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, overwrite: Bool = true,
                      cellFlags: UInt16 = 0) throws(LarchError) {
        path.beginOperation()
        let inline = limits.isInline(keyLength: key.count, valueLength: value.count)
        let cellSize = LeafCell.size(keyLength: key.count, valueLength: value.count, overflow: !inline)
        // A put that changes no page boundaries leaves its path as the hint for the next put.
        var keepAsHint = false
        var hinted = false
        defer {
            if keepAsHint {
                // A hinted put leaves the hint's pages as they were; a descended one replaces it.
                if !hinted {
                    hint.path.copy(from: path)
                    hint.rightmost = isRightmost(below: path.count - 1)
                    hint.leaf = dirty[path.leaf]!.buffer
                }
                hint.tree = tree
            }
            path.endOperation()
        }
        var index = 0
        var exact = false
        if !trees[tree].root.isEmpty {
            // Random keys rarely land in the last leaf: after 8 misses in a row, the hint is
            // tried only on every 33rd put.
            var tryHint = false
            if hint.tree == tree {
                if hint.skips > 0 { hint.skips -= 1 } else { tryHint = true }
            }
            if tryHint, let r = try hintedPosition(key: key) {
                // `path` is filled from the hint only if the put needs more than the leaf.
                (index, exact) = r
                hinted = true
                hint.misses = 0
            } else {
                if tryHint {
                    hint.misses += 1
                    if hint.misses >= 8 { hint.skips = 32 }
                }
                (index, exact) = try descend(tree: tree, key: key)
            }
            if exact && !overwrite { throw .keyExists }
        }
        beginChange(tree: tree)
        // A hinted path was made dirty by the put that left it, and nothing changed since.
        var pathTouched = hinted
        if inline && !trees[tree].root.isEmpty {
            // The common cases, written straight into the leaf: a new key that fits, or a value
            // replaced by one of the same size.
            if !pathTouched { try touchPath(tree: tree) }
            pathTouched = true
            let leaf = hinted ? MutablePage(base: hint.leaf!, pageSize: pageSize) : mutable(path.leaf)
            if exact {
                if try leaf.overwriteInlineValue(index, with: value) {
                    leaf.setLeafFlags(index, cellFlags)
                    keepAsHint = true
                    return
                }
            } else if leaf.insertLeafCell(at: index, key: key, inlineValue: value) {
                if cellFlags != 0 { leaf.setLeafFlags(index, cellFlags) }
                trees[tree].root.entries &+= 1   // a count read from the file: a forged one must not trap
                keepAsHint = true
                return
            }
        }
        if hinted {
            path.copy(from: hint.path)
            path.setIndex(path.count - 1, index)
        }
        let shape = (trees[tree].root.depth, trees[tree].root.branchPages, trees[tree].root.leafPages)
        try withUnsafeTemporaryAllocation(byteCount: cellSize, alignment: 8) { buffer throws(LarchError) in
            let cell = buffer.baseAddress!
            // The cell first, and for a large value its overflow run: allocating the run before
            // the single pages of copy-on-write keeps long free runs whole for it.
            if inline {
                MutablePage.writeLeafCell(at: cell, key: key, inlineValue: value)
                if cellFlags != 0 { cell.setU16(cellFlags, at: 0) }
            } else {
                if exact { try releaseOverflow(tree: tree, index: index) }
                let (first, checksum) = try writeOverflow(value: value)
                MutablePage.writeLeafCell(at: cell, key: key, overflowValueLength: value.count, first: first, checksum: checksum, birth: txnID)
                trees[tree].root.overflowPages &+= UInt64(OverflowLayout.pageCount(valueLength: value.count, pageSize: pageSize))
            }
            let cellBytes = UnsafeRawBufferPointer(start: cell, count: cellSize)
            if trees[tree].root.isEmpty {
                let (p, leaf) = try newPage(kind: .leaf)
                var root = TreeRoot.empty(flags: trees[tree].root.flags)
                root.root = p
                root.depth = 1
                root.leafPages = 1
                root.overflowPages = trees[tree].root.overflowPages
                root.entries = 1
                trees[tree].root = root
                leaf.insertCell(at: 0, copying: cell, size: cellSize)
                return
            }
            if !pathTouched { try touchPath(tree: tree) }
            let leaf = mutable(path.leaf)
            if exact {
                // Same size, inline: overwrite the value bytes where they are.
                if inline, try leaf.overwriteInlineValue(index, with: value) {
                    leaf.setLeafFlags(index, cellFlags)
                    keepAsHint = true
                    return
                }
                if inline { try releaseOverflow(tree: tree, index: index) }
                leaf.removeCell(at: index, leaf: true)
            } else {
                trees[tree].root.entries &+= 1   // a count read from the file: a forged one must not trap
            }
            try insert(tree: tree, level: path.count - 1, index: index, cell: cellBytes)
            let r = trees[tree].root
            keepAsHint = (r.depth, r.branchPages, r.leafPages) == shape
        }
    }

    /// Where `key` belongs in the hint's leaf (the previous put's leaf: dirty, and its tree unchanged
    /// since), when that leaf is certainly the right one: the key lies between the leaf's first and
    /// last keys, or after its last key in the rightmost leaf (appending). nil otherwise, and the
    /// caller descends from the root.
    private mutating func hintedPosition(key: UnsafeRawBufferPointer) throws(LarchError) -> (index: Int, exact: Bool)? {
        guard let buffer = hint.leaf else { return nil }
        let leaf = PageView(base: UnsafeRawPointer(buffer), pageSize: pageSize, number: hint.leafPage)
        let n = leaf.count
        guard n > 0 else { return nil }
        let last = try leaf.leafKey(n - 1)
        let c = compareBytes(key.start, key.count, last.start, last.count)
        if c > 0 { return hint.rightmost ? (n, false) : nil }
        if c == 0 { return (n - 1, true) }
        let first = try leaf.leafKey(0)
        guard compareBytes(key.start, key.count, first.start, first.count) >= 0 else { return nil }
        return try leaf.leafSearch(key)
    }

    /// Frees the overflow run of leaf cell `index` at the end of `path`, if it has one.
    private mutating func releaseOverflow(tree: Int, index: Int) throws(LarchError) {
        let old = try validatedPage(path.leaf).leafCell(index)
        guard case let .overflow(first, _, length, birth) = old.value else { return }
        let pages = OverflowLayout.pageCount(valueLength: length, pageSize: pageSize)
        release(first, count: pages, birth: birth, tree: tree)
        trees[tree].root.overflowPages &-= UInt64(pages)
    }

    /// Inserts `cell` at `index` of the dirty page at `level` of `path`, splitting when it does not fit.
    mutating func insert(tree: Int, level: Int, index: Int, cell: UnsafeRawBufferPointer) throws(LarchError) {
        let page = mutable(path.page(level))
        if page.freeBytes >= cell.count + PageLayout.slotSize {
            page.insertCell(at: index, copying: cell.baseAddress!, size: cell.count)
            return
        }
        try split(tree: tree, level: level, index: index, cell: cell)
    }

    // MARK: Delete

    /// Deletes `key`; returns whether it was present. The key must be valid.
    mutating func delete(tree: Int, key: UnsafeRawBufferPointer) throws(LarchError) -> Bool {
        guard !trees[tree].root.isEmpty else { return false }
        path.beginOperation()
        defer { path.endOperation() }
        let (index, exact) = try descend(tree: tree, key: key)
        guard exact else { return false }
        beginChange(tree: tree)
        try touchPath(tree: tree)
        try removeLeafCell(tree: tree, index: index)
        return true
    }

    /// Removes cell `index` of the (dirty) leaf at the end of `path`, frees its overflow run, and rebalances.
    mutating func removeLeafCell(tree: Int, index: Int) throws(LarchError) {
        let leaf = mutable(path.leaf)
        let old = try leaf.view.leafCell(index)
        if case let .overflow(first, _, length, birth) = old.value {
            let pages = OverflowLayout.pageCount(valueLength: length, pageSize: pageSize)
            release(first, count: pages, birth: birth, tree: tree)
            trees[tree].root.overflowPages &-= UInt64(pages)
        }
        leaf.removeCell(at: index, leaf: true)
        trees[tree].root.entries &-= 1   // a count read from the file: a forged one must not trap
        try rebalance(tree: tree, level: path.count - 1)
    }
}

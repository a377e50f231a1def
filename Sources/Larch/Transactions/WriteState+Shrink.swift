/// Giving space back (`Environment.shrink`): relocating live pages from the end of the file into
/// free pages below, and cutting free pages off the end.
///
/// With copy-on-write, relocating a page is an ordinary write: copying the path to it allocates
/// new pages, lowest first, and frees the old ones. The freed pages become reusable once the
/// commit is durable and no reader is older; a later transaction then takes every reusable free
/// page, and the pages at the end of the file that are free leave it (the page count drops).
extension WriteState {
    /// Relocates up to `budget` pages of tree `tree` (the main tree, the catalog or a named
    /// database) that lie at or above page `boundary`: their paths are copied, so the copies come
    /// from the lowest free pages. Returns the pages at or above `boundary` moved. Pages a named
    /// snapshot also reaches stay (the snapshot keeps the old page; only the copy is new).
    mutating func relocate(tree: Int, above boundary: UInt64, budget: Int) throws(LarchError) -> Int {
        let root = trees[tree].root
        guard !root.isEmpty, budget > 0 else { return 0 }
        // The keys whose paths (or overflow runs) reach a page at or above the boundary.
        var leafKeys: [[UInt8]] = []
        var overflowKeys: [[UInt8]] = []
        var previous: UnsafeRawBufferPointer? = nil
        try collectTail(root.rootPointer, level: 0, depth: root.depth, boundary: boundary, pathHigh: false,
                        leafKeys: &leafKeys, overflowKeys: &overflowKeys, limit: budget, previous: &previous)
        var moved = 0
        for key in leafKeys where moved < budget {
            try withBytes(key) { k throws(LarchError) in
                path.beginOperation()
                defer { path.endOperation() }
                _ = try descend(tree: tree, key: k)
                var high = 0
                for level in 0..<path.count where path.page(level).rawValue >= boundary && dirty[path.page(level)] == nil { high += 1 }
                guard high > 0 else { return }
                beginChange(tree: tree)
                try touchPath(tree: tree)
                moved += high
            }
        }
        for key in overflowKeys where moved < budget {
            // Writing the value again puts it in a new run, from the lowest free pages.
            let value: [UInt8]? = try withBytes(key) { k throws(LarchError) in
                guard let e = try lookup(root: trees[tree].root, key: k) else { return nil }
                return Array(try valueBytes(e))
            }
            guard let value else { continue }
            try withBytes(key) { k throws(LarchError) in
                try withBytes(value) { v throws(LarchError) in try put(tree: tree, key: k, value: v) }
            }
            moved += OverflowLayout.pageCount(valueLength: value.count, pageSize: pageSize)
        }
        // A sorted-duplicates database: its keys' duplicate trees.
        moved += try relocateDuplicates(tree: tree, above: boundary, budget: budget - moved)
        return moved
    }

    /// Collects the first key of each leaf whose path reaches a page at or above `boundary`, and
    /// the key of each value whose overflow run does.
    /// `previous`: the last key of the leaf before, which the next leaf's first key must follow (or
    /// a page reached twice in a forged file would be walked again, exponentially down a chain).
    private func collectTail(_ pointer: ChildPointer, level: Int, depth: Int, boundary: UInt64, pathHigh: Bool,
                             leafKeys: inout [[UInt8]], overflowKeys: inout [[UInt8]], limit: Int,
                             previous: inout UnsafeRawBufferPointer?) throws(LarchError) {
        guard leafKeys.count + overflowKeys.count < limit else { return }
        let high = pathHigh || pointer.page.rawValue >= boundary
        if level == depth - 1 {
            let leaf = try node(pointer.page, checksum: pointer.checksum, kind: .leaf)
            if leaf.count > 0 {
                if let previous { try leaf.checkEntered(at: leaf.leafKey(0), leaving: previous) }
                previous = try leaf.leafKey(leaf.count - 1)
            }
            if high, leaf.count > 0 { leafKeys.append(Array(try leaf.leafKey(0))) }
            for i in 0..<leaf.count {
                if case let .overflow(first, _, _, _) = try leaf.leafCell(i).value, first.rawValue >= boundary {
                    overflowKeys.append(Array(try leaf.leafKey(i)))
                }
            }
            return
        }
        let branch = try node(pointer.page, checksum: pointer.checksum, kind: .branch)
        for i in 0..<branch.count {
            try collectTail(try branch.pointer(i), level: level + 1, depth: depth, boundary: boundary, pathHigh: high,
                            leafKeys: &leafKeys, overflowKeys: &overflowKeys, limit: limit, previous: &previous)
        }
    }

    /// One step of relocation as commits go (`Options.shrinkWithCommits`): visits at most `leaves`
    /// leaves of `tree` from `key` on, and moves what lies in the last quarter of the file — pages
    /// on their paths, their overflow runs — into free pages below, when this transaction has
    /// enough of those at hand. Returns the key to continue from, or nil at the end of the tree.
    mutating func relocationStep(tree: Int, from key: [UInt8], leaves: Int) throws(LarchError) -> [UInt8]? {
        let root = trees[tree].root
        guard !root.isEmpty else { return nil }
        let boundary = allocator.nextPage - allocator.nextPage / 4
        // Free pages below the boundary at hand (the pool, reusable entries of the meta's free
        // list): without them the copies would come from the end of the file.
        var below = allocator.pool.reduce(0) { $0 + ($1.rawValue < boundary ? 1 : 0) }
        for e in allocator.freeList where e.txn <= allocator.reuseBound.rawValue && e.extent.first.rawValue < boundary {
            below += min(e.extent.count, Int(boundary - e.extent.first.rawValue))
        }
        guard below >= 4 * root.depth + 4 else { return key }
        var next = key
        for _ in 0..<leaves {
            let result: (last: [UInt8], nextLeafKey: [UInt8]?)? = try withBytes(next) { k throws(LarchError) in
                path.beginOperation()
                defer { path.endOperation() }
                _ = try descend(tree: tree, key: k)
                var high = false
                for level in 0..<path.count where path.page(level).rawValue >= boundary && dirty[path.page(level)] == nil { high = true }
                if high {
                    beginChange(tree: tree)
                    try touchPath(tree: tree)
                }
                let leaf = validatedPage(path.leaf)
                guard leaf.count > 0 else { return nil }
                // The next leaf's first key: from the deepest branch with a child to the right.
                var nextKey: [UInt8]?
                var level = path.count - 2
                while level >= 0 && nextKey == nil {
                    let branch = validatedPage(path.page(level))
                    if path.index(level) + 1 < branch.count {
                        var p = try branch.pointer(path.index(level) + 1)
                        for l in (level + 1)..<(path.count - 1) { p = try node(p.page, checksum: p.checksum, kind: TransactionCore.kind(level: l, depth: path.count)).pointer(0) }
                        let first = try node(p.page, checksum: p.checksum, kind: .leaf)
                        guard first.count > 0 else { throw LarchError.corruptPage(page: p.page.rawValue, reason: "empty leaf page") }
                        nextKey = Array(try first.leafKey(0))
                    }
                    level -= 1
                }
                return (Array(try leaf.leafKey(leaf.count - 1)), nextKey)
            }
            guard let result else { return nil }
            // Overflow runs of this leaf in the last quarter: their values written again.
            var runs: [[UInt8]] = []
            try forEachEntry(root: trees[tree].root, from: next, below: result.last + [0]) { e throws(LarchError) in
                if case let .overflow(first, _, _, _) = e.value, first.rawValue >= boundary { runs.append(Array(e.key)) }
                return true
            }
            for k in runs {
                let value: [UInt8]? = try withBytes(k) { kb throws(LarchError) in
                    guard let e = try lookup(root: trees[tree].root, key: kb) else { return nil }
                    return Array(try valueBytes(e))
                }
                guard let value else { continue }
                try withBytes(k) { kb throws(LarchError) in try withBytes(value) { v throws(LarchError) in try put(tree: tree, key: kb, value: v) } }
            }
            // The duplicate trees of this leaf's keys (sorted-duplicates databases).
            _ = try relocateDuplicates(tree: tree, above: boundary, from: next, below: result.last + [0], budget: 4 * leaves)
            guard let nextLeafKey = result.nextLeafKey else { return nil }
            next = nextLeafKey
        }
        return next
    }

    /// Drops from the page count the free pages at the end of the file that this transaction
    /// may reuse and already holds: in its pool, or in reusable entries of the meta's free list.
    /// Reads nothing (`Options.shrinkWithCommits`).
    mutating func trimFreeTail() {
        allocator.sortPoolIfNeeded()
        while allocator.nextPage > 2 {
            let top = PageNumber(allocator.nextPage - 1)
            if let first = allocator.pool.first, first == top, dirty[top] == nil {
                allocator.pool.removeFirst()
                allocator.nextPage -= 1
                continue
            }
            if let i = allocator.freeList.firstIndex(where: { $0.extent.end == top + 1 && $0.txn <= allocator.reuseBound.rawValue }) {
                allocator.nextPage -= UInt64(allocator.freeList[i].extent.count)
                allocator.freeList.remove(at: i)
                continue
            }
            break
        }
    }

    /// Takes every reusable free page into the pool and drops the free pages at the end of the
    /// file from it, lowering the page count; returns how many pages left the file.
    mutating func cutFreeTail() throws(LarchError) -> UInt64 {
        while allocator.claimFromFreeList(wantPages: Int.max / 2) {}
        while try claimFreeRecord(wantPages: Int.max / 2) {}
        try flushPendingDeletes()
        // Claiming deletes free-tree records, which may allocate and free pages; take what it left too.
        while allocator.claimFromFreeList(wantPages: Int.max / 2) {}
        allocator.sortPoolIfNeeded()
        var cut: UInt64 = 0
        // The pool is sorted descending: its first pages are the highest.
        while let top = allocator.pool.first, top.rawValue == allocator.nextPage - 1, dirty[top] == nil {
            allocator.pool.removeFirst()
            allocator.nextPage -= 1
            cut += 1
        }
        return cut
    }
}

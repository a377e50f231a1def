/// Changes to sorted-duplicates databases (FORMAT.md §20). A key's values live inline in its leaf
/// cell as a `DuplicateList` while that cell stays inline under §8's rule, and in a duplicate
/// tree of their own past it (the values are that tree's keys, its values empty). A duplicate tree
/// goes back inline once it is a single leaf whose values pack into half the inline limit.
///
/// A duplicate tree is changed by the ordinary tree operations on `TreeIndex.duplicates`, a slot
/// loaded with its descriptor for the operation; the new descriptor is then stored in the key's
/// cell with checksum 0 while its root is dirty (`finalize` records it at commit). The database's
/// descriptor counts every value as an entry and every page of its duplicate trees as its own.
extension WriteState {
    /// Loads duplicate tree `root` into the scratch slot. The put hint stays only when it is the
    /// same tree the slot held (a dirty root page belongs to one tree).
    private mutating func loadDuplicateTree(_ root: TreeRoot) {
        let slot = TreeIndex.duplicates
        if trees[slot].root.root != root.root || root.isEmpty || dirty[root.root] == nil {
            if hint.tree == slot { hint.tree = -1 }
        }
        trees[slot].root = root
    }

    /// Forgets the scratch slot's tree (its pages were released or replaced).
    private mutating func unloadDuplicateTree() {
        if hint.tree == TreeIndex.duplicates { hint.tree = -1 }
        trees[TreeIndex.duplicates].root = .empty
    }

    /// The stored values of `key` in `tree`, copied out of the page (nil: the key is absent).
    private func storedDuplicates(tree: Int, key: UnsafeRawBufferPointer) throws(LarchError) -> StoredDuplicates? {
        guard let e = try lookup(root: trees[tree].root, key: key) else { return nil }
        switch try duplicateSet(e) {
        case .tree(let root): return .tree(root)
        case .list(let list): return .list(Array(list))
        }
    }

    /// A key's values copied out of its page: the packed inline list, or the duplicate tree's descriptor.
    private enum StoredDuplicates {
        case list([UInt8])
        case tree(TreeRoot)
    }

    /// Adds the page counts of a duplicate tree's change (`before` → `after`) to `tree`'s descriptor.
    private mutating func addPages(tree: Int, from before: TreeRoot, to after: TreeRoot) {
        trees[tree].root.branchPages = trees[tree].root.branchPages &+ after.branchPages &- before.branchPages
        trees[tree].root.leafPages = trees[tree].root.leafPages &+ after.leafPages &- before.leafPages
        trees[tree].root.overflowPages = trees[tree].root.overflowPages &+ after.overflowPages &- before.overflowPages
    }

    /// Stores `values` (sorted, unique) of `key` inline when they fit, else in a new duplicate tree.
    private mutating func storeNew(tree: Int, key: UnsafeRawBufferPointer, values: [[UInt8]]) throws(LarchError) {
        let size = DuplicateList.encodedSize(lengths: values.lazy.map(\.count))
        if size <= DuplicateList.maxInlineBytes(keyLength: key.count, limits: limits) {
            try withBytes(DuplicateList.encode(values)) { v throws(LarchError) in try put(tree: tree, key: key, value: v) }
            return
        }
        loadDuplicateTree(.empty)
        let empty = UnsafeRawBufferPointer(start: nil, count: 0)
        for value in values {
            try withBytes(value) { v throws(LarchError) in try put(tree: TreeIndex.duplicates, key: v, value: empty) }
        }
        try storeTreeReference(tree: tree, key: key, from: .empty)
    }

    /// Stores the scratch slot's duplicate tree as `key`'s value and adds its page changes (from
    /// `before`) to `tree`'s counts.
    private mutating func storeTreeReference(tree: Int, key: UnsafeRawBufferPointer, from before: TreeRoot) throws(LarchError) {
        var root = trees[TreeIndex.duplicates].root
        if dirty[root.root] != nil {
            root.rootChecksum = 0   // recorded at commit (`finalize`)
            root.rootBirth = TransactionID(0)
        }
        try withUnsafeTemporaryAllocation(byteCount: TreeRoot.encodedSize, alignment: 8) { b throws(LarchError) in
            root.encode(to: b.baseAddress!)
            try put(tree: tree, key: key, value: UnsafeRawBufferPointer(b), cellFlags: LeafCell.flagDuplicateTree)
        }
        // After the put: a put into an empty tree starts its descriptor afresh.
        addPages(tree: tree, from: before, to: root)
    }

    /// Adds `value` to `key`'s values in sorted-duplicates database `tree`; returns false (changing
    /// nothing) when the pair is present. Key and value must be valid.
    mutating func putDuplicate(tree: Int, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws(LarchError) -> Bool {
        if let added = try putIntoDuplicateTree(tree: tree, key: key, value: value) { return added }
        let stored = try storedDuplicates(tree: tree, key: key)
        let entries = trees[tree].root.entries
        switch stored {
        case nil:
            beginChange(tree: tree)
            try storeNew(tree: tree, key: key, values: [Array(value)])
        case .list(let list)?:
            let at = try withBytes(list) { l throws(LarchError) in try DuplicateList.locate(value, in: l, maxLength: limits.maxKeySize) }
            if at.found { return false }
            beginChange(tree: tree)
            let grown = DuplicateList.inserting(value, at: at.offset, into: list)
            if grown.count <= DuplicateList.maxInlineBytes(keyLength: key.count, limits: limits) {
                try withBytes(grown) { v throws(LarchError) in try put(tree: tree, key: key, value: v) }
            } else {
                let values = try withBytes(grown) { l throws(LarchError) in try DuplicateList.values(l, maxLength: limits.maxKeySize, page: .none) }
                try storeNew(tree: tree, key: key, values: values)
            }
        case .tree(let root)?:
            beginChange(tree: tree)
            loadDuplicateTree(root)
            do {
                // A present value throws `keyExists` before anything changes.
                try put(tree: TreeIndex.duplicates, key: value, value: UnsafeRawBufferPointer(start: nil, count: 0), overwrite: false)
            } catch .keyExists {
                return false
            }
            try storeTreeReference(tree: tree, key: key, from: root)
        }
        trees[tree].root.entries = entries &+ 1   // a count, not an offset: a forged one must not trap
        return true
    }

    /// The common case of `putDuplicate`, with one descent of `tree`: a key whose values are in a
    /// duplicate tree gains a value, and its cell's descriptor is rewritten in place. nil when
    /// the key has no duplicate tree (the caller handles it).
    private mutating func putIntoDuplicateTree(tree: Int, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws(LarchError) -> Bool? {
        guard !trees[tree].root.isEmpty else { return nil }
        path.beginOperation()
        defer { path.endOperation() }
        let (index, exact) = try descend(tree: tree, key: key)
        guard exact else { return nil }
        let e = try validatedPage(path.leaf).leafCell(index)
        if !e.isDuplicateTree, case .inline(let list) = e.value {
            return try putIntoInlineList(tree: tree, key: key, value: value, index: index, list: list)
        }
        guard e.isDuplicateTree, case .tree(let root) = try duplicateSet(e) else { return nil }
        let entries = trees[tree].root.entries
        loadDuplicateTree(root)
        do {
            // A present value throws `keyExists` before anything changes.
            try put(tree: TreeIndex.duplicates, key: value, value: UnsafeRawBufferPointer(start: nil, count: 0), overwrite: false)
        } catch .keyExists {
            return false   // nothing changed: the database is not marked changed either
        }
        // Only now is the database changed (its own pages, below): cursors on it still read it as it was.
        beginChange(tree: tree)
        // The parent's path, unchanged by the put into the duplicate tree (other pages), made
        // writable; the descriptor keeps its size, so the cell is rewritten where it is.
        try touchPath(tree: tree)
        var sub = trees[TreeIndex.duplicates].root
        sub.rootChecksum = 0   // recorded at commit (`finalize`): the root is dirty now
        sub.rootBirth = TransactionID(0)
        let leaf = mutable(path.leaf)
        let replaced = try withUnsafeTemporaryAllocation(byteCount: TreeRoot.encodedSize, alignment: 8) { b throws(LarchError) in
            sub.encode(to: b.baseAddress!)
            return try leaf.overwriteInlineValue(index, with: UnsafeRawBufferPointer(b))
        }
        guard replaced else { throw .corruptPage(page: path.leaf.rawValue, reason: "duplicate-tree reference changed size") }
        addPages(tree: tree, from: root, to: sub)
        trees[tree].root.entries = entries &+ 1   // a count, not an offset: a forged one must not trap
        return true
    }

    /// `putIntoDuplicateTree` for a key whose values are inline (`list`, cell `index` of the leaf
    /// at the end of `path`): the list grows by `value` in its cell, in place when the leaf has
    /// room, else through `put`. nil when the list would outgrow the inline limit (the caller
    /// moves the values to a duplicate tree).
    private mutating func putIntoInlineList(tree: Int, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, index: Int,
                                            list: UnsafeRawBufferPointer) throws(LarchError) -> Bool? {
        let at = try DuplicateList.locate(value, in: list, maxLength: limits.maxKeySize)
        if at.found { return false }
        let grownSize = list.count + DuplicateList.lengthSize + value.count
        guard grownSize <= DuplicateList.maxInlineBytes(keyLength: key.count, limits: limits) else { return nil }
        let oldCellSize = LeafCell.size(keyLength: key.count, valueLength: list.count, overflow: false)
        let cellSize = LeafCell.size(keyLength: key.count, valueLength: grownSize, overflow: false)
        let entries = trees[tree].root.entries
        // The new cell, built before anything changes (the list's bytes are in the old page).
        try withUnsafeTemporaryAllocation(byteCount: cellSize, alignment: 8) { buffer throws(LarchError) in
            let cell = buffer.baseAddress!
            MutablePage.writeLeafCellHeader(at: cell, key: key, valueLength: grownSize, overflow: false)
            let v = cell + LeafCell.headerSize + key.count
            if at.offset > 0 { v.copyMemory(from: list.baseAddress!, byteCount: at.offset) }
            v.setU16(UInt16(value.count), at: at.offset)
            (v + at.offset + DuplicateList.lengthSize).copyMemory(from: value.baseAddress!, byteCount: value.count)
            if list.count > at.offset {
                (v + at.offset + DuplicateList.lengthSize + value.count).copyMemory(from: list.baseAddress! + at.offset, byteCount: list.count - at.offset)
            }
            beginChange(tree: tree)
            try touchPath(tree: tree)
            let leaf = mutable(path.leaf)
            if leaf.freeBytes + oldCellSize >= cellSize {
                leaf.removeCell(at: index, leaf: true)
                leaf.insertCell(at: index, copying: UnsafeRawPointer(cell), size: cellSize)
            } else {
                // The leaf must split: the general put.
                try put(tree: tree, key: key, value: UnsafeRawBufferPointer(start: UnsafeRawPointer(v), count: grownSize))
            }
        }
        trees[tree].root.entries = entries &+ 1   // a count, not an offset: a forged one must not trap
        return true
    }

    /// Removes `value` from `key`'s values; returns whether the pair was present. The key goes
    /// when its last value does.
    mutating func deleteDuplicate(tree: Int, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws(LarchError) -> Bool {
        guard let stored = try storedDuplicates(tree: tree, key: key) else { return false }
        let entries = trees[tree].root.entries
        switch stored {
        case .list(var list):
            let at = try withBytes(list) { l throws(LarchError) in try DuplicateList.locate(value, in: l, maxLength: limits.maxKeySize) }
            guard at.found else { return false }
            beginChange(tree: tree)
            list.removeSubrange(at.offset..<(at.offset + at.size))
            if list.isEmpty {
                _ = try delete(tree: tree, key: key)
            } else {
                try withBytes(list) { v throws(LarchError) in try put(tree: tree, key: key, value: v) }
            }
        case .tree(let root):
            guard try lookup(root: root, key: value) != nil else { return false }
            beginChange(tree: tree)
            loadDuplicateTree(root)
            _ = try delete(tree: TreeIndex.duplicates, key: value)
            let after = trees[TreeIndex.duplicates].root
            if after.isEmpty {
                addPages(tree: tree, from: root, to: after)
                unloadDuplicateTree()
                _ = try delete(tree: tree, key: key)
            } else if let values = try inlineableValues(after, keyLength: key.count) {
                try releaseTree(tree: TreeIndex.duplicates, after)
                addPages(tree: tree, from: root, to: .empty)
                unloadDuplicateTree()
                try withBytes(DuplicateList.encode(values)) { v throws(LarchError) in try put(tree: tree, key: key, value: v) }
            } else {
                try storeTreeReference(tree: tree, key: key, from: root)
            }
        }
        trees[tree].root.entries = entries &- 1
        return true
    }

    /// The values of duplicate tree `root` when it should go back inline: a single leaf whose
    /// values pack into half the inline limit. nil otherwise.
    private func inlineableValues(_ root: TreeRoot, keyLength: Int) throws(LarchError) -> [[UInt8]]? {
        guard root.depth == 1 else { return nil }
        let leaf = try node(root.root, checksum: root.rootChecksum, kind: .leaf)
        let limit = DuplicateList.maxInlineBytes(keyLength: keyLength, limits: limits) / 2
        var size = 0
        var values: [[UInt8]] = []
        for i in 0..<leaf.count {
            let k = try leaf.leafKey(i)
            size += DuplicateList.lengthSize + k.count
            if size > limit { return nil }
            values.append(Array(k))
        }
        return values
    }

    /// Deletes `key` and all its values; returns how many there were.
    mutating func deleteAllDuplicates(tree: Int, key: UnsafeRawBufferPointer) throws(LarchError) -> Int {
        guard let stored = try storedDuplicates(tree: tree, key: key) else { return 0 }
        let entries = trees[tree].root.entries
        beginChange(tree: tree)
        let removed: Int
        switch stored {
        case .list(let list):
            removed = try withBytes(list) { l throws(LarchError) in try duplicateCount(.list(l), maxLength: limits.maxKeySize) }
        case .tree(let root):
            removed = Int(clamping: root.entries)
            try releaseTree(tree: TreeIndex.duplicates, root)
            addPages(tree: tree, from: root, to: .empty)
            unloadDuplicateTree()
        }
        _ = try delete(tree: tree, key: key)
        trees[tree].root.entries = entries &- UInt64(removed)
        return removed
    }

    /// Replaces all values of `key` with `values` (sorted, unique, valid); used by change streams.
    mutating func replaceDuplicates(tree: Int, key: UnsafeRawBufferPointer, values: [[UInt8]]) throws(LarchError) {
        _ = try deleteAllDuplicates(tree: tree, key: key)
        guard !values.isEmpty else { return }
        let entries = trees[tree].root.entries
        beginChange(tree: tree)
        try storeNew(tree: tree, key: key, values: values)
        trees[tree].root.entries = entries &+ UInt64(values.count)
    }

    /// Relocation (`Environment.shrink`, `Options.shrinkWithCommits`): moves the pages at or above
    /// `boundary` of the duplicate trees of `tree`'s keys in `lower ..< upper` (nil: unbounded)
    /// into free pages below, by copy-on-write of their paths; at most about `budget` pages.
    /// Returns the pages moved.
    mutating func relocateDuplicates(tree: Int, above boundary: UInt64, from lower: [UInt8] = [], below upper: [UInt8]? = nil,
                                     budget: Int) throws(LarchError) -> Int {
        guard trees[tree].root.hasSortedDuplicates, budget > 0 else { return 0 }
        var keys: [[UInt8]] = []
        try forEachEntry(root: trees[tree].root, from: lower, below: upper) { e throws(LarchError) in
            if e.isDuplicateTree, case .tree(let sub) = try duplicateSet(e),
               try reaches(sub.rootPointer, level: 0, depth: sub.depth, boundary: boundary) {
                keys.append(Array(e.key))
            }
            return keys.count < budget
        }
        var moved = 0
        for key in keys where moved < budget {
            try withBytes(key) { k throws(LarchError) in
                guard case .tree(let root)? = try storedDuplicates(tree: tree, key: k) else { return }
                beginChange(tree: tree)
                loadDuplicateTree(root)
                moved += try relocate(tree: TreeIndex.duplicates, above: boundary, budget: budget - moved)
                try storeTreeReference(tree: tree, key: k, from: root)
            }
        }
        return moved
    }

    /// Whether the subtree below `pointer` has a page at or above `boundary` (dirty pages aside).
    private func reaches(_ pointer: ChildPointer, level: Int, depth: Int, boundary: UInt64) throws(LarchError) -> Bool {
        if pointer.page.rawValue >= boundary && dirty[pointer.page] == nil { return true }
        guard level < depth - 1 else { return false }
        let branch = try node(pointer.page, checksum: pointer.checksum, kind: .branch)
        for i in 0..<branch.count where try reaches(try branch.pointer(i), level: level + 1, depth: depth, boundary: boundary) {
            return true
        }
        return false
    }

    /// Frees every page of the tree `root` (a duplicate tree, or a database's tree with its
    /// duplicate trees), through `release` as any other page of `tree`.
    mutating func releaseTree(tree: Int, _ root: TreeRoot) throws(LarchError) {
        guard !root.isEmpty else { return }
        try releaseSubtree(tree: tree, root.rootPointer, level: 0, depth: root.depth)
    }
}

/// Creating, clearing and dropping databases.
extension WriteState {
    /// Records a new, empty named database in the catalog (`flags`: `TreeRoot.flagSortedDuplicates`
    /// for a database with sorted duplicates).
    mutating func createNamed(index: Int, name: String, flags: UInt16 = 0) throws(LarchError) {
        let empty = TreeRoot.empty(flags: flags)
        let record = empty.encoded
        try withBytes(name) { k throws(LarchError) in
            try withBytes(record) { v throws(LarchError) in try put(tree: TreeIndex.catalog, key: k, value: v, overwrite: false) }
        }
        trees[index] = TreeSlot(root: empty, status: .present, existenceChanged: true, name: name)
    }

    /// Frees every page of `tree` and leaves it empty.
    mutating func clearTree(_ tree: Int) throws(LarchError) {
        beginChange(tree: tree)
        let root = trees[tree].root
        if !root.isEmpty { try releaseSubtree(tree: tree, root.rootPointer, level: 0, depth: root.depth) }
        if root.hasSortedDuplicates && hint.tree == TreeIndex.duplicates { hint.tree = -1 }
        trees[tree].root = .empty(flags: root.flags)
    }

    /// Frees every page of named database `tree` and deletes its catalog record.
    mutating func dropNamed(_ tree: Int) throws(LarchError) {
        try clearTree(tree)
        guard let name = trees[tree].name else { return }
        _ = try withBytes(name) { k throws(LarchError) in try delete(tree: TreeIndex.catalog, key: k) }
        trees[tree] = TreeSlot(root: .empty, status: .missing, existenceChanged: true, name: name)
    }

    /// Frees the pages below `pointer`: its subtree, overflow runs, and duplicate trees.
    mutating func releaseSubtree(tree: Int, _ pointer: ChildPointer, level: Int, depth: Int) throws(LarchError) {
        let v = try node(pointer.page, checksum: pointer.checksum, kind: TransactionCore.kind(level: level, depth: depth))
        if level < depth - 1 {
            for i in 0..<v.count {
                try releaseSubtree(tree: tree, try v.pointer(i), level: level + 1, depth: depth)
            }
        } else {
            for i in 0..<v.count {
                let e = try v.leafCell(i)
                if case let .overflow(first, _, length, birth) = e.value {
                    release(first, count: OverflowLayout.pageCount(valueLength: length, pageSize: pageSize), birth: birth, tree: tree)
                } else if e.isDuplicateTree, case .tree(let sub) = try duplicateSet(e) {
                    try releaseSubtree(tree: tree, sub.rootPointer, level: 0, depth: sub.depth)
                }
            }
        }
        release(pointer.page, count: 1, birth: pointer.birth, tree: tree)
    }
}

extension WriteState {
    /// Loads the descriptor of named database `index` (name `name`) from the catalog, once.
    mutating func loadNamed(index: Int, name: String) throws(LarchError) -> TreeSlot.Status {
        if let status = trees.knownStatus(index) { return status }
        let root = try namedRoot(name, catalog: trees[TreeIndex.catalog].root)
        return trees.recordNamed(index: index, name: name, root: root)
    }
}

extension Array where Element == TreeSlot {
    /// The status of named database `index` if it was loaded already.
    func knownStatus(_ index: Int) -> TreeSlot.Status? {
        index < count && self[index].status != .unknown ? self[index].status : nil
    }

    /// Records the descriptor of named database `index` as found in the catalog (nil: missing).
    mutating func recordNamed(index: Int, name: String, root: TreeRoot?) -> TreeSlot.Status {
        if index >= count { append(contentsOf: repeatElement(TreeSlot(), count: index + 1 - count)) }
        self[index] = root.map { TreeSlot(root: $0, status: .present) } ?? TreeSlot(root: .empty, status: .missing)
        self[index].name = name
        return self[index].status
    }

    /// Loads the descriptor of named database `index` (name `name`) from the catalog, read
    /// through `reader`, once.
    mutating func loadNamed<R: PageReader & ~Copyable>(index: Int, name: String, from reader: borrowing R) throws(LarchError) -> TreeSlot.Status {
        if let status = knownStatus(index) { return status }
        return recordNamed(index: index, name: name, root: try reader.namedRoot(name, catalog: self[TreeIndex.catalog].root))
    }
}

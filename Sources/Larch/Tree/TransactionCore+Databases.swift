/// Creating, clearing and dropping databases.
extension TransactionCore {
    /// Records a new, empty named database in the catalog.
    func createNamed(index: Int, name: String) throws(LarchError) {
        let record = TreeRoot.empty.encoded
        try withBytes(name) { k throws(LarchError) in
            try withBytes(record) { v throws(LarchError) in try put(tree: TreeIndex.catalog, key: k, value: v, overwrite: false) }
        }
        trees[index] = TreeSlot(root: .empty, status: .present, name: name)
    }

    /// Frees every page of `tree` and leaves it empty.
    func clearTree(_ tree: Int) throws(LarchError) {
        try modifying { w throws(LarchError) in
            beginChange(w, tree: tree)
            let root = trees[tree].root
            if !root.isEmpty { try releaseSubtree(w, page: root.root, checksum: root.rootChecksum, level: 0, depth: root.depth) }
            trees[tree].root = TreeRoot()
        }
    }

    /// Frees every page of named database `tree` and deletes its catalog record.
    func dropNamed(_ tree: Int) throws(LarchError) {
        try clearTree(tree)
        guard let name = trees[tree].name else { return }
        _ = try withBytes(name) { k throws(LarchError) in try delete(tree: TreeIndex.catalog, key: k) }
        trees[tree] = TreeSlot(root: .empty, status: .missing, name: name)
    }

    private func releaseSubtree(_ w: WriteState, page: PageNumber, checksum: UInt32, level: Int, depth: Int) throws(LarchError) {
        let v = try node(page, checksum: checksum, kind: TransactionCore.kind(level: level, depth: depth))
        if level < depth - 1 {
            for i in 0..<v.count {
                let (child, c) = try v.child(i)
                try releaseSubtree(w, page: child, checksum: c, level: level + 1, depth: depth)
            }
        } else {
            for i in 0..<v.count {
                if case let .overflow(first, _, length) = try v.leafCell(i).value {
                    release(w, first, count: OverflowLayout.pageCount(valueLength: length, pageSize: pageSize))
                }
            }
        }
        release(w, page, count: 1)
    }
}

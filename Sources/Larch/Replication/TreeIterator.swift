/// Walks the entries of one tree of a snapshot in key order, and can jump past a key: the A side
/// of a change stream's diff. Holds the path from the root to the current leaf.
struct TreeIterator {
    private let pages: MappedPages
    private let root: TreeRoot
    /// From the root down: each page on the path and the index of the child (or entry) taken.
    private var path: [(view: PageView, index: Int)] = []

    init(pages: MappedPages, root: TreeRoot) {
        self.pages = pages
        self.root = root
    }

    /// The current entry, nil at the end.
    func current() throws(LarchError) -> LeafEntry? {
        guard let leaf = path.last, leaf.index < leaf.view.count else { return nil }
        return try leaf.view.leafCell(leaf.index)
    }

    /// Moves to the first entry whose key is at least `key` (`after: false`) or above it (`after: true`).
    mutating func seek(_ key: UnsafeRawBufferPointer, after: Bool) throws(LarchError) {
        path.removeAll(keepingCapacity: true)
        guard !root.isEmpty else { return }
        var pointer = root.rootPointer
        for level in 0..<root.depth {
            if level == root.depth - 1 {
                let leaf = try pages.node(pointer.page, checksum: pointer.checksum, kind: .leaf)
                let (i, exact) = try leaf.leafSearch(key)
                path.append((leaf, exact && after ? i + 1 : i))
            } else {
                let branch = try pages.node(pointer.page, checksum: pointer.checksum, kind: .branch)
                let i = try branch.branchSearch(key)
                path.append((branch, i))
                pointer = try branch.pointer(i)
            }
        }
        try settle()
    }

    /// Moves to the first entry.
    mutating func first() throws(LarchError) {
        try seek(UnsafeRawBufferPointer(start: nil, count: 0), after: false)
    }

    /// Moves to the next entry.
    mutating func next() throws(LarchError) {
        guard !path.isEmpty else { return }
        path[path.count - 1].index += 1
        try settle()
    }

    /// When the leaf is used up, climbs to the next child and descends to its first entry.
    private mutating func settle() throws(LarchError) {
        while let leaf = path.last, leaf.index >= leaf.view.count {
            // Climb to a branch with a child left.
            var level = path.count - 2
            while level >= 0 && path[level].index + 1 >= path[level].view.count { level -= 1 }
            guard level >= 0 else { path[path.count - 1].index = leaf.view.count; return }   // the end
            path.removeLast(path.count - level - 1)
            path[level].index += 1
            var pointer = try path[level].view.pointer(path[level].index)
            for l in (level + 1)..<root.depth {
                let isLeaf = l == root.depth - 1
                let v = try pages.node(pointer.page, checksum: pointer.checksum, kind: isLeaf ? .leaf : .branch)
                path.append((v, 0))
                if !isLeaf { pointer = try v.pointer(0) }
            }
        }
    }
}

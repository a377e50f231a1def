/// A position in a tree: the page and cell index at each level from the root to a leaf.
///
/// Holds views into pages, which stay valid while the tree is unchanged. When a write transaction
/// changes the tree, the cursor first copies its current key (`treeWillChange`) and re-seeks to it
/// on its next move, so it stays correct across puts and deletes made through any path.
final class CursorState {
    let core: TransactionCore
    let tree: Int
    @exclusivity(unchecked) private(set) var views: [PageView] = []
    @exclusivity(unchecked) private(set) var indices: [Int] = []
    @exclusivity(unchecked) private(set) var isPositioned = false
    @exclusivity(unchecked) private var version: UInt64
    @exclusivity(unchecked) private var savedKey: [UInt8] = []
    @exclusivity(unchecked) private var needsReseek = false

    init(core: TransactionCore, tree: Int) {
        self.core = core
        self.tree = tree
        self.version = core.trees[tree].version
        views.reserveCapacity(8)
        indices.reserveCapacity(8)
        if let w = core.write { w.cursors[ObjectIdentifier(self)] = Unmanaged.passUnretained(self) }
    }

    deinit {
        if let w = core.write { w.cursors.removeValue(forKey: ObjectIdentifier(self)) }
    }

    /// Called before `tree` changes: remember the key we are on.
    func treeWillChange(_ changed: Int) {
        guard changed == tree, isPositioned, !needsReseek, let k = try? currentKey() else { return }
        savedKey.removeAll(keepingCapacity: true)
        savedKey.append(contentsOf: k)
        needsReseek = true
    }

    private func invalidate() {
        isPositioned = false
        needsReseek = false
    }

    /// Runs a move; if it fails part-way (a corrupt page), the cursor ends up unpositioned
    /// rather than half-moved.
    @inline(__always)
    private func guarded<R>(_ move: () throws(LarchError) -> R) throws(LarchError) -> R {
        do {
            return try move()
        } catch {
            views.removeAll(keepingCapacity: true)
            indices.removeAll(keepingCapacity: true)
            invalidate()
            throw error
        }
    }

    // MARK: Positioning

    private var depth: Int { core.trees[tree].root.depth }

    /// Descends from `level` (whose view and index are set) to the leaf, taking the first or last cell at each level.
    private func descendEdge(from level: Int, first: Bool) throws(LarchError) {
        var l = level
        while l < depth - 1 {
            let (child, checksum) = try views[l].child(indices[l])
            let v = try core.node(child, checksum: checksum, kind: TransactionCore.kind(level: l + 1, depth: depth))
            views.append(v)
            indices.append(first ? 0 : v.count - 1)
            l += 1
        }
    }

    private func startAtRoot() throws(LarchError) -> Bool {
        views.removeAll(keepingCapacity: true)
        indices.removeAll(keepingCapacity: true)
        version = core.trees[tree].version
        needsReseek = false
        let root = core.trees[tree].root
        guard !root.isEmpty else { isPositioned = false; return false }
        let v = try core.node(root.root, checksum: root.rootChecksum, kind: TransactionCore.kind(level: 0, depth: root.depth))
        views.append(v)
        indices.append(0)
        return true
    }

    func first() throws(LarchError) -> Bool { try guarded { () throws(LarchError) in try firstImpl() } }

    private func firstImpl() throws(LarchError) -> Bool {
        guard try startAtRoot() else { return false }
        try descendEdge(from: 0, first: true)
        isPositioned = true
        return true
    }

    func last() throws(LarchError) -> Bool { try guarded { () throws(LarchError) in try lastImpl() } }

    private func lastImpl() throws(LarchError) -> Bool {
        guard try startAtRoot() else { return false }
        indices[0] = views[0].count - 1
        try descendEdge(from: 0, first: false)
        isPositioned = true
        return true
    }

    /// Positions on the first key `≥ key`; returns whether there is one and whether it equals `key`.
    func seek(_ key: UnsafeRawBufferPointer) throws(LarchError) -> (found: Bool, exact: Bool) {
        try guarded { () throws(LarchError) in try seekImpl(key) }
    }

    private func seekImpl(_ key: UnsafeRawBufferPointer) throws(LarchError) -> (found: Bool, exact: Bool) {
        guard try startAtRoot() else { return (false, false) }
        var l = 0
        while l < depth - 1 {
            let i = try views[l].branchSearch(key)
            indices[l] = i
            let (child, checksum) = try views[l].child(i)
            let v = try core.node(child, checksum: checksum, kind: TransactionCore.kind(level: l + 1, depth: depth))
            views.append(v)
            indices.append(0)
            l += 1
        }
        let (i, exact) = try views[l].leafSearch(key)
        indices[l] = i
        isPositioned = true
        if i == views[l].count {
            // Past the end of this leaf: the successor is the first key of the next leaf.
            indices[l] = i - 1
            return (try step(forward: true), false)
        }
        return (true, exact)
    }

    /// Re-seeks after the tree changed. Returns whether the cursor now sits on an entry, and whether
    /// that entry is the one it was on (false: it was deleted, and the cursor is on its successor).
    private func reseekIfNeeded() throws(LarchError) -> (positioned: Bool, same: Bool) {
        guard isPositioned else { return (false, false) }
        guard needsReseek || version != core.trees[tree].version else { return (true, true) }
        let key = savedKey
        let r = try withBytes(key) { k throws(LarchError) in try seek(k) }
        return (r.found, r.exact)
    }

    /// Moves one entry forward or back; false (and unpositioned) past either end.
    private func step(forward: Bool) throws(LarchError) -> Bool {
        var l = depth - 1
        while l >= 0 {
            let next = indices[l] + (forward ? 1 : -1)
            if next >= 0 && next < views[l].count { indices[l] = next; break }
            l -= 1
        }
        guard l >= 0 else { invalidate(); return false }
        views.removeSubrange((l + 1)...)
        indices.removeSubrange((l + 1)...)
        try descendEdge(from: l, first: forward)
        return true
    }

    func next() throws(LarchError) -> Bool { try guarded { () throws(LarchError) in try nextImpl() } }

    private func nextImpl() throws(LarchError) -> Bool {
        let (positioned, same) = try reseekIfNeeded()
        guard positioned else { return false }
        if !same { return true }
        return try step(forward: true)
    }

    func previous() throws(LarchError) -> Bool { try guarded { () throws(LarchError) in try previousImpl() } }

    private func previousImpl() throws(LarchError) -> Bool {
        let wasPositioned = isPositioned
        let (positioned, _) = try reseekIfNeeded()
        if !positioned {
            // The saved key was past the last entry: the last entry precedes it.
            return wasPositioned ? try last() : false
        }
        return try step(forward: false)
    }

    /// Positions for reverse iteration at the last key `≤ key` (or `< key` when `inclusive` is false).
    func seekLast(atMost key: UnsafeRawBufferPointer, inclusive: Bool) throws(LarchError) -> Bool {
        let (found, exact) = try seek(key)
        if !found { return try last() }
        if exact && inclusive { return true }
        return try step(forward: false)
    }

    // MARK: Reading

    private func ensureCurrent() throws(LarchError) {
        let (positioned, _) = try reseekIfNeeded()
        guard positioned else { throw .corruptPage(page: 0, reason: "cursor is not positioned") }
    }

    /// The current leaf entry (the cursor must be positioned and up to date).
    func currentEntry() throws(LarchError) -> LeafEntry {
        let l = views.count - 1
        return try views[l].leafCell(indices[l])
    }

    func currentKey() throws(LarchError) -> UnsafeRawBufferPointer {
        let l = views.count - 1
        return try views[l].leafKey(indices[l])
    }

    /// The leaf page and index the cursor is on (it must be positioned and up to date).
    var leafPosition: (PageView, Int) { (views[views.count - 1], indices[indices.count - 1]) }

    /// Moves within the current leaf (read-only fast paths).
    func setLeafIndex(_ i: Int) { indices[indices.count - 1] = i }

    /// Brings the cursor up to date; returns false when it is not on an entry.
    func refresh() throws(LarchError) -> Bool {
        try reseekIfNeeded().positioned
    }
}

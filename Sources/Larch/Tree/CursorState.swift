/// A position in a tree: the page and cell index at each level from the root to a leaf.
///
/// Holds views into pages, which stay valid while the tree is unchanged. When a write transaction
/// changes the tree, the cursor first copies its current key (`treeWillChange`) and re-seeks to it
/// on its next move, so it stays correct across puts and deletes made through any path.
///
/// A value: its moves are `mutating`, so Swift checks their exclusivity statically; `CursorState`
/// holds it for the API's cursors.
struct CursorPosition {
    let core: TransactionCore
    let tree: Int
    private(set) var views: [PageView] = []
    private(set) var indices: [Int] = []
    private(set) var isPositioned = false
    private var version: UInt64
    private var savedKey: [UInt8] = []
    private var needsReseek = false

    init(core: TransactionCore, tree: Int) {
        self.core = core
        self.tree = tree
        self.version = core.treeVersion(tree)
        views.reserveCapacity(8)
        indices.reserveCapacity(8)
    }

    /// Called before `tree` changes: remember the key we are on.
    mutating func treeWillChange(_ changed: Int) {
        guard changed == tree, isPositioned, !needsReseek, let k = try? currentKey() else { return }
        savedKey.removeAll(keepingCapacity: true)
        savedKey.append(contentsOf: k)
        needsReseek = true
    }

    private mutating func invalidate() {
        isPositioned = false
        needsReseek = false
    }

    /// Runs a move; if it fails part-way (a corrupt page), the cursor ends up unpositioned
    /// rather than half-moved.
    @inline(__always)
    private mutating func guarded<R>(_ move: (inout CursorPosition) throws(LarchError) -> R) throws(LarchError) -> R {
        do {
            return try move(&self)
        } catch {
            views.removeAll(keepingCapacity: true)
            indices.removeAll(keepingCapacity: true)
            invalidate()
            throw error
        }
    }

    // MARK: Positioning

    /// The tree's depth when the cursor last started from its root (a change to the tree makes
    /// the next move start from the root again).
    private var depth = 0

    /// Descends from `level` (whose view and index are set) to the leaf, taking the first or last cell at each level.
    private mutating func descendEdge(from level: Int, first: Bool) throws(LarchError) {
        var l = level
        while l < depth - 1 {
            let (child, checksum) = try views[l].child(indices[l])
            let v = try core.node(child, checksum: checksum, kind: TransactionCore.kind(level: l + 1, depth: depth))
            views.append(v)
            indices.append(first ? 0 : v.count - 1)
            l += 1
        }
    }

    private mutating func startAtRoot() throws(LarchError) -> Bool {
        views.removeAll(keepingCapacity: true)
        indices.removeAll(keepingCapacity: true)
        version = core.treeVersion(tree)
        needsReseek = false
        let root = core.treeRoot(tree)
        depth = root.depth
        guard !root.isEmpty else { isPositioned = false; return false }
        let v = try core.node(root.root, checksum: root.rootChecksum, kind: TransactionCore.kind(level: 0, depth: root.depth))
        views.append(v)
        indices.append(0)
        return true
    }

    mutating func first() throws(LarchError) -> Bool { try guarded { p throws(LarchError) in try p.firstImpl() } }

    private mutating func firstImpl() throws(LarchError) -> Bool {
        guard try startAtRoot() else { return false }
        try descendEdge(from: 0, first: true)
        isPositioned = true
        return true
    }

    mutating func last() throws(LarchError) -> Bool { try guarded { p throws(LarchError) in try p.lastImpl() } }

    private mutating func lastImpl() throws(LarchError) -> Bool {
        guard try startAtRoot() else { return false }
        indices[0] = views[0].count - 1
        try descendEdge(from: 0, first: false)
        isPositioned = true
        return true
    }

    /// Positions on the first key `≥ key`; returns whether there is one and whether it equals `key`.
    mutating func seek(_ key: UnsafeRawBufferPointer) throws(LarchError) -> (found: Bool, exact: Bool) {
        try guarded { p throws(LarchError) in try p.seekImpl(key) }
    }

    private mutating func seekImpl(_ key: UnsafeRawBufferPointer) throws(LarchError) -> (found: Bool, exact: Bool) {
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
    private mutating func reseekIfNeeded() throws(LarchError) -> (positioned: Bool, same: Bool) {
        guard isPositioned else { return (false, false) }
        guard needsReseek || version != core.treeVersion(tree) else { return (true, true) }
        let key = savedKey
        let r = try withBytes(key) { k throws(LarchError) in try seek(k) }
        return (r.found, r.exact)
    }

    /// Moves one entry forward or back; false (and unpositioned) past either end.
    private mutating func step(forward: Bool) throws(LarchError) -> Bool {
        var l = depth - 1
        while l >= 0 {
            let next = indices[l] + (forward ? 1 : -1)
            if next >= 0 && next < views[l].count { indices[l] = next; break }
            l -= 1
        }
        guard l >= 0 else { invalidate(); return false }
        // Into another leaf: its edge key must follow the key left (checked once per leaf), or a
        // page reached twice (a forged file) would repeat entries instead of being reported.
        let leaving = l < depth - 1 ? try views[depth - 1].leafKey(indices[depth - 1]) : nil
        views.removeSubrange((l + 1)...)
        indices.removeSubrange((l + 1)...)
        try descendEdge(from: l, first: forward)
        if let leaving {
            do {
                try views[depth - 1].checkEntered(at: currentKey(), leaving: leaving, forward: forward)
            } catch {
                invalidate()
                throw error
            }
        }
        return true
    }

    mutating func next() throws(LarchError) -> Bool { try guarded { p throws(LarchError) in try p.nextImpl() } }

    private mutating func nextImpl() throws(LarchError) -> Bool {
        let (positioned, same) = try reseekIfNeeded()
        guard positioned else { return false }
        if !same { return true }
        return try step(forward: true)
    }

    mutating func previous() throws(LarchError) -> Bool { try guarded { p throws(LarchError) in try p.previousImpl() } }

    private mutating func previousImpl() throws(LarchError) -> Bool {
        let wasPositioned = isPositioned
        let (positioned, _) = try reseekIfNeeded()
        if !positioned {
            // The saved key was past the last entry: the last entry precedes it.
            return wasPositioned ? try last() : false
        }
        return try step(forward: false)
    }

    /// Positions for reverse iteration at the last key `≤ key` (or `< key` when `inclusive` is false).
    mutating func seekLast(atMost key: UnsafeRawBufferPointer, inclusive: Bool) throws(LarchError) -> Bool {
        let (found, exact) = try seek(key)
        if !found { return try last() }
        if exact && inclusive { return true }
        return try step(forward: false)
    }

    // MARK: Reading

    private mutating func ensureCurrent() throws(LarchError) {
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
    mutating func setLeafIndex(_ i: Int) { indices[indices.count - 1] = i }

    /// Brings the cursor up to date; returns false when it is not on an entry.
    mutating func refresh() throws(LarchError) -> Bool {
        try reseekIfNeeded().positioned
    }
}

/// A cursor's position, shared by the cursor handles of the API (`Cursor`, `Entries`, `forEach`)
/// and, in a write transaction, registered so that changes to its tree can notify it. Each call is
/// one run-time-checked access to `position`.
final class CursorState {
    var position: CursorPosition

    init(core: TransactionCore, tree: Int) {
        position = CursorPosition(core: core, tree: tree)
        if core.isWrite { core.writeBox!.state.cursors[ObjectIdentifier(self)] = CursorReference(self) }
    }

    deinit {
        if core.isWrite { core.writeBox!.state.cursors.removeValue(forKey: ObjectIdentifier(self)) }
    }

    var core: TransactionCore { position.core }
    var tree: Int { position.tree }

    func treeWillChange(_ changed: Int) { position.treeWillChange(changed) }
    func first() throws(LarchError) -> Bool { try position.first() }
    func last() throws(LarchError) -> Bool { try position.last() }
    func next() throws(LarchError) -> Bool { try position.next() }
    func previous() throws(LarchError) -> Bool { try position.previous() }
    func seek(_ key: UnsafeRawBufferPointer) throws(LarchError) -> (found: Bool, exact: Bool) { try position.seek(key) }
    func seekLast(atMost key: UnsafeRawBufferPointer, inclusive: Bool) throws(LarchError) -> Bool {
        try position.seekLast(atMost: key, inclusive: inclusive)
    }
    func currentEntry() throws(LarchError) -> LeafEntry { try position.currentEntry() }
    func currentKey() throws(LarchError) -> UnsafeRawBufferPointer { try position.currentKey() }
    var leafPosition: (PageView, Int) { position.leafPosition }
    func setLeafIndex(_ i: Int) { position.setLeafIndex(i) }
    func refresh() throws(LarchError) -> Bool { try position.refresh() }
}

/// The path of the last put that changed no page boundaries, valid for tree `tree` until any other
/// change to that tree (`WriteState.beginChange` sets `tree` to -1): the next put there tries its
/// leaf (buffer `leaf`) before descending from the root. Sequential puts then skip the descent.
struct PutHint: ~Copyable {
    /// The path, in its own buffer (a copy is a few stores, where an array append checked its
    /// storage's uniqueness and capacity on every level of every random put).
    var path = TreePath()
    var tree = -1
    var leaf: UnsafeMutableRawPointer?
    /// Every page on the path is entered through its last cell, so keys past the leaf's end belong to it.
    var rightmost = false
    /// Consecutive puts the hint did not serve, and puts left before it is tried again.
    var misses = 0
    var skips = 0

    /// The leaf's page number.
    var leafPage: PageNumber { path.leaf }
}

/// Free-tree records a write transaction read ahead and claimed (see `WriteState+FreeTree.swift`).
struct FreeTreeClaims {
    /// Reusable free-tree records read ahead and not yet claimed, newest first (`popLast` yields the
    /// oldest).
    var claimable: [ClaimableRecord] = []
    /// Keys of records whose pages were claimed into the pool, to delete from the free tree.
    var pendingDeletes: [[UInt8]] = []
    /// Set while the free tree is being changed: allocations then claim only records already read
    /// ahead, and the deletion of claimed records waits (`pendingDeletes`).
    var busy = false
}

/// A free-tree record copied out of the tree, whose pages a writer may claim.
struct ClaimableRecord {
    var key: [UInt8]
    var extents: [PageExtent] = []
    var pages = 0
}

/// A write transaction's cursor, held weakly: told to remember its position before its tree changes.
final class CursorReference {
    weak var state: CursorState?
    init(_ state: CursorState) { self.state = state }
}

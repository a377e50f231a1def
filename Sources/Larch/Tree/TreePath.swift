/// The pages and cell indexes from a tree's root down to a leaf, as a modification walks them.
/// After copy-on-write (`touchPath`) every page on it is dirty and may be changed in place.
///
/// The levels live in one allocation that is kept across `reset()` (only `count` goes back to 0)
/// and grows only for a tree deeper than any before, so walking a path neither allocates nor pays
/// for the uniqueness checks an `Array` stored in a class needs on every write. Every access checks
/// its level against `count`.
final class TreePath {
    private struct Level {
        var page: PageNumber
        var index: Int
    }

    @exclusivity(unchecked) private var levels: UnsafeMutablePointer<Level>
    @exclusivity(unchecked) private var capacity: Int
    /// Levels on the path: 0 is the root.
    @exclusivity(unchecked) private(set) var count = 0

    init() {
        capacity = 16
        levels = .allocate(capacity: capacity)
    }

    deinit { levels.deallocate() }

    @inline(__always)
    func reset() { count = 0 }

    @inline(__always)
    func push(_ page: PageNumber, _ index: Int) {
        if count == capacity { grow() }
        (levels + count).initialize(to: Level(page: page, index: index))
        count += 1
    }

    private func grow() {
        let bigger = UnsafeMutablePointer<Level>.allocate(capacity: capacity * 2)
        bigger.moveInitialize(from: levels, count: count)
        levels.deallocate()
        levels = bigger
        capacity *= 2
    }

    /// The page at `level`.
    @inline(__always)
    func page(_ level: Int) -> PageNumber {
        precondition(level >= 0 && level < count)
        return levels[level].page
    }

    /// The cell index at `level`.
    @inline(__always)
    func index(_ level: Int) -> Int {
        precondition(level >= 0 && level < count)
        return levels[level].index
    }

    @inline(__always)
    func setPage(_ level: Int, _ page: PageNumber) {
        precondition(level >= 0 && level < count)
        levels[level].page = page
    }

    @inline(__always)
    func setIndex(_ level: Int, _ index: Int) {
        precondition(level >= 0 && level < count)
        levels[level].index = index
    }

    /// Makes this path a copy of `other`.
    func copy(from other: TreePath) {
        reset()
        for l in 0..<other.count { push(other.levels[l].page, other.levels[l].index) }
    }

    /// The leaf at the bottom of the path.
    var leaf: PageNumber { page(count - 1) }
}

extension WriteState {
    /// Lends a path object for one modification; `returnPath()` must follow (in a `defer`).
    /// Operations nest (a put may take a free-tree record, which deletes from the free tree), so a
    /// nested one gets the second path, and one nested deeper still a new path.
    @inline(__always)
    func lendPath() -> TreePath {
        pathsInUse += 1
        switch pathsInUse {
        case 1: return operationPath
        case 2: return nestedPath
        default: return TreePath()
        }
    }

    @inline(__always)
    func returnPath() { pathsInUse -= 1 }
}

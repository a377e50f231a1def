/// The pages and cell indexes from a tree's root down to a leaf, as a modification walks them.
/// After copy-on-write (`touchPath`) every page on it is dirty and may be changed in place.
///
/// The arrays keep their elements across `reset()` (only `count` goes back to 0), so that walking
/// a path neither allocates nor shrinks and regrows the arrays on every operation.
final class TreePath {
    @exclusivity(unchecked) private var pageStore: [PageNumber] = []
    @exclusivity(unchecked) private var indexStore: [Int] = []
    /// Levels on the path: 0 is the root.
    @exclusivity(unchecked) private(set) var count = 0

    init() {
        pageStore.reserveCapacity(16)
        indexStore.reserveCapacity(16)
    }

    @inline(__always)
    func reset() { count = 0 }

    @inline(__always)
    func push(_ page: PageNumber, _ index: Int) {
        if count < pageStore.count {
            pageStore[count] = page
            indexStore[count] = index
        } else {
            pageStore.append(page)
            indexStore.append(index)
        }
        count += 1
    }

    /// The page at `level`.
    @inline(__always)
    func page(_ level: Int) -> PageNumber {
        precondition(level < count)
        return pageStore[level]
    }

    /// The cell index at `level`.
    @inline(__always)
    func index(_ level: Int) -> Int {
        precondition(level < count)
        return indexStore[level]
    }

    @inline(__always)
    func setPage(_ level: Int, _ page: PageNumber) {
        precondition(level < count)
        pageStore[level] = page
    }

    @inline(__always)
    func setIndex(_ level: Int, _ index: Int) {
        precondition(level < count)
        indexStore[level] = index
    }

    /// Makes this path a copy of `other`.
    func copy(from other: TreePath) {
        reset()
        for l in 0..<other.count { push(other.pageStore[l], other.indexStore[l]) }
    }

    /// The leaf at the bottom of the path.
    var leaf: PageNumber { page(count - 1) }
}

extension WriteState {
    /// A path object for one modification; operations nest (a put may take a free-tree record,
    /// which deletes from the free tree), so each takes its own.
    func takePath() -> TreePath { sparePaths.popLast() ?? TreePath() }
    func givePath(_ p: TreePath) { sparePaths.append(p) }
}

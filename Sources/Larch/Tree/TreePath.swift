/// The pages and cell indexes from a tree's root down to a leaf, as a modification walks them.
/// After copy-on-write (`touchPath`) every page on it is dirty and may be changed in place.
final class TreePath {
    var pages: [PageNumber] = []
    var indices: [Int] = []

    init() {
        pages.reserveCapacity(16)
        indices.reserveCapacity(16)
    }

    func reset() {
        pages.removeAll(keepingCapacity: true)
        indices.removeAll(keepingCapacity: true)
    }

    func push(_ page: PageNumber, _ index: Int) {
        pages.append(page)
        indices.append(index)
    }
}

extension WriteState {
    /// A path object for one modification; operations nest (a put may take a free-tree record,
    /// which deletes from the free tree), so each takes its own.
    func takePath() -> TreePath { sparePaths.popLast() ?? TreePath() }
    func givePath(_ p: TreePath) { sparePaths.append(p) }
}

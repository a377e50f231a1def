/// Rebalancing after a delete: an underfull page (under a quarter full, or a branch with one child)
/// merges with a sibling when both fit in one page, and otherwise borrows one cell from it.
/// A root branch left with one child is replaced by that child; an empty root leaf empties the tree.
extension WriteState {
    mutating func rebalance(tree: Int, level: Int) throws(LarchError) {
        let depth = trees[tree].root.depth
        let isLeaf = level == depth - 1
        let pageNumber = path.page(level)
        let page = mutable(pageNumber)

        if level == 0 {
            if isLeaf && page.count == 0 {
                release(pageNumber, count: 1, birth: txnID, tree: tree)   // dirty: back to the pool
                trees[tree].root = .empty(flags: trees[tree].root.flags)
            } else if !isLeaf && page.count == 1 {
                let child = try page.view.pointer(0)
                release(pageNumber, count: 1, birth: txnID, tree: tree)   // dirty: back to the pool
                trees[tree].root.root = child.page
                trees[tree].root.rootChecksum = child.checksum
                trees[tree].root.rootBirth = child.birth
                trees[tree].root.depth -= 1
                trees[tree].root.branchPages &-= 1
            }
            return
        }
        let minCount = isLeaf ? 1 : 2
        if page.usedBytes >= limits.underfullThreshold && page.count >= minCount { return }

        let parentNumber = path.page(level - 1)
        let parent = mutable(parentNumber)
        let pi = path.index(level - 1)
        guard parent.count >= 2 else { return }
        let siblingIsLeft = pi > 0
        let si = siblingIsLeft ? pi - 1 : pi + 1
        let siblingPointer = try parent.view.pointer(si)
        let siblingOld = siblingPointer.page
        // Validate the sibling before copying it (it may come from the map).
        _ = try node(siblingOld, checksum: siblingPointer.checksum, kind: isLeaf ? .leaf : .branch)
        let (siblingNumber, relink) = try touch(siblingOld, birth: siblingPointer.birth, tree: tree)
        if relink { parent.setDirtyChild(si, page: siblingNumber) }
        let sibling = mutable(siblingNumber)

        let (left, right) = siblingIsLeft ? (sibling, page) : (page, sibling)
        let rightNumber = siblingIsLeft ? pageNumber : siblingNumber
        let rightIndex = siblingIsLeft ? pi : si
        let separator = Array(try parent.view.branchKey(rightIndex))

        // Merge when everything fits in the left page.
        var needed = left.usedBytes + right.usedBytes
        if !isLeaf { needed += separator.count }
        if needed <= limits.usable {
            for j in 0..<right.count {
                if !isLeaf && j == 0 {
                    let child = try right.view.pointer(0)
                    let c = left.insertCell(at: left.count, size: BranchCell.size(keyLength: separator.count))
                    separator.withUnsafeBytes { MutablePage.writeBranchCell(at: c, child: child, key: $0) }
                } else {
                    left.insertCell(at: left.count, copying: right.cell(j), size: right.cellSize(j, leaf: isLeaf))
                }
            }
            release(rightNumber, count: 1, birth: txnID, tree: tree)   // dirty (both were copied): back to the pool
            parent.removeCell(at: rightIndex, leaf: false)
            if isLeaf { trees[tree].root.leafPages &-= 1 } else { trees[tree].root.branchPages &-= 1 }
            try rebalance(tree: tree, level: level - 1)
            return
        }

        // Otherwise borrow the nearest cell of the sibling.
        var newSeparator: [UInt8]
        if siblingIsLeft {
            let last = left.count - 1
            if isLeaf {
                left.moveCell(last, to: page, at: 0, leaf: true)
                newSeparator = try shortestSeparator(after: left.view.leafKey(left.count - 1), upTo: page.view.leafKey(0))
            } else {
                let movedChild = try left.view.pointer(last)
                newSeparator = Array(try left.view.branchKey(last))
                left.removeCell(at: last, leaf: false)
                // The page's first cell gains the old separator as its key; the moved cell becomes first.
                let firstChild = try page.view.pointer(0)
                page.removeCell(at: 0, leaf: false)
                let c1 = page.insertCell(at: 0, size: BranchCell.size(keyLength: separator.count))
                separator.withUnsafeBytes { MutablePage.writeBranchCell(at: c1, child: firstChild, key: $0) }
                let c0 = page.insertCell(at: 0, size: BranchCell.headerSize)
                MutablePage.writeBranchCell(at: c0, child: movedChild, key: UnsafeRawBufferPointer(start: nil, count: 0))
            }
        } else {
            if isLeaf {
                right.moveCell(0, to: page, at: page.count, leaf: true)
                newSeparator = try shortestSeparator(after: page.view.leafKey(page.count - 1), upTo: right.view.leafKey(0))
            } else {
                let movedChild = try right.view.pointer(0)
                let c = page.insertCell(at: page.count, size: BranchCell.size(keyLength: separator.count))
                separator.withUnsafeBytes { MutablePage.writeBranchCell(at: c, child: movedChild, key: $0) }
                right.removeCell(at: 0, leaf: false)
                // The right page's new first cell gives its key to the parent and keeps an empty one.
                newSeparator = Array(try right.view.branchKey(0))
                let child = try right.view.pointer(0)
                right.removeCell(at: 0, leaf: false)
                let c0 = right.insertCell(at: 0, size: BranchCell.headerSize)
                MutablePage.writeBranchCell(at: c0, child: child, key: UnsafeRawBufferPointer(start: nil, count: 0))
            }
        }
        try replaceSeparator(tree: tree, level: level - 1, index: rightIndex, key: newSeparator)
    }

    /// Replaces the key of branch cell `index` on the page at `level`, splitting it if the new key does not fit.
    mutating func replaceSeparator(tree: Int, level: Int, index: Int, key: [UInt8]) throws(LarchError) {
        let page = mutable(path.page(level))
        let child = try page.view.pointer(index)
        page.removeCell(at: index, leaf: false)
        let size = BranchCell.size(keyLength: key.count)
        try withUnsafeTemporaryAllocation(byteCount: size, alignment: 8) { buf throws(LarchError) in
            key.withUnsafeBytes { MutablePage.writeBranchCell(at: buf.baseAddress!, child: child, key: $0) }
            try insert(tree: tree, level: level, index: index, cell: UnsafeRawBufferPointer(buf))
        }
    }
}

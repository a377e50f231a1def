/// Page splits: when a cell does not fit, the page's cells plus the new one are divided between
/// the page and a new right sibling, and a separator goes up to the parent (which may split too).
extension WriteState {
    mutating func split(tree: Int, level: Int, index: Int, cell: UnsafeRawBufferPointer) throws(LarchError) {
        let depth = trees[tree].root.depth
        let isLeaf = level == depth - 1
        let leftNumber = path.page(level)
        let old = mutable(leftNumber)
        let n = old.count
        let usable = limits.usable

        // Entry j of the n + 1 entries: the new cell at `index`, the old cells around it.
        @inline(__always) func entry(_ j: Int) -> (UnsafeRawPointer, Int) {
            if j == index { return (cell.baseAddress!, cell.count) }
            let o = j < index ? j : j - 1
            return (old.cell(o), old.cellSize(o, leaf: isLeaf))
        }
        @inline(__always) func branchKeyLength(_ p: UnsafeRawPointer) -> Int { BranchCell.keyLength(at: p) }

        // Choose k, the number of entries kept on the left. Appending past the last key of the
        // rightmost leaf (sequential inserts) leaves the left page as it is, full, and starts the
        // right page with the new cell alone, which always fits an empty page.
        let appending = isLeaf && index == n && n > 0 && isRightmost(below: level)
        let k: Int = appending ? n : try withUnsafeTemporaryAllocation(of: Int.self, capacity: n + 2) { prefix throws(LarchError) -> Int in
            prefix[0] = 0
            for j in 0...n { prefix[j + 1] = prefix[j] + entry(j).1 + PageLayout.slotSize }
            let total = prefix[n + 1]
            func sizes(_ k: Int) -> (Int, Int) {
                var right = total - prefix[k]
                if !isLeaf { right -= branchKeyLength(entry(k).0) } // the right page's first key moves up
                return (prefix[k], right)
            }
            let lo = isLeaf ? 1 : 2
            let hi = isLeaf ? n : n - 1
            var best = -1
            var bestImbalance = Int.max
            if lo <= hi {
                for k in lo...hi {
                    let (l, r) = sizes(k)
                    guard l <= usable && r <= usable else { continue }
                    let d = abs(l - r)
                    if d < bestImbalance { best = k; bestImbalance = d }
                }
            }
            guard best >= 0 else {
                throw .corruptPage(page: leftNumber.rawValue, reason: "no valid split point for \(n + 1) cells")
            }
            return best
        }

        // The new right page first: if allocation fails, nothing has changed yet.
        let (rightNumber, right) = try newPage(kind: isLeaf ? .leaf : .branch)
        var separator: [UInt8]
        if isLeaf {
            for j in k...n { let (p, s) = entry(j); right.insertCell(at: right.count, copying: p, size: s) }
            separator = []
        } else {
            let (p0, _) = entry(k)
            separator = Array(BranchCell.key(at: p0))
            let c = right.insertCell(at: 0, size: BranchCell.headerSize)
            MutablePage.writeBranchCell(at: c, child: BranchCell.pointer(at: p0), key: UnsafeRawBufferPointer(start: nil, count: 0))
            if k + 1 <= n {
                for j in (k + 1)...n { let (p, s) = entry(j); right.insertCell(at: right.count, copying: p, size: s) }
            }
        }
        if isLeaf && k == n && index == n {
            // Appending: the left page keeps all its cells exactly as they are.
            separator = try shortestSeparator(after: old.view.leafKey(n - 1), upTo: right.view.leafKey(0))
        } else {
            // The left half is rebuilt in the scratch page, then copied over the old page.
            let scratch = MutablePage(base: dirty.scratch, pageSize: pageSize)
            scratch.initialize(kind: isLeaf ? .leaf : .branch, number: leftNumber)
            for j in 0..<k { let (p, s) = entry(j); scratch.insertCell(at: scratch.count, copying: p, size: s) }
            if isLeaf {
                separator = try shortestSeparator(after: scratch.view.leafKey(k - 1), upTo: right.view.leafKey(0))
            }
            old.copyPage(from: dirty.scratch)
        }
        if isLeaf { trees[tree].root.leafPages &+= 1 } else { trees[tree].root.branchPages &+= 1 }

        // The separator goes up.
        let parentCellSize = BranchCell.size(keyLength: separator.count)
        try withUnsafeTemporaryAllocation(byteCount: parentCellSize, alignment: 8) { buf throws(LarchError) in
            separator.withUnsafeBytes { key in
                MutablePage.writeBranchCell(at: buf.baseAddress!, child: .dirty(rightNumber), key: key)
            }
            let parentCell = UnsafeRawBufferPointer(buf)
            if level == 0 {
                let (rootNumber, root) = try newPage(kind: .branch)
                let c0 = root.insertCell(at: 0, size: BranchCell.headerSize)
                MutablePage.writeBranchCell(at: c0, child: .dirty(leftNumber), key: UnsafeRawBufferPointer(start: nil, count: 0))
                root.insertCell(at: 1, copying: parentCell.baseAddress!, size: parentCell.count)
                trees[tree].root.root = rootNumber
                trees[tree].root.depth += 1
                trees[tree].root.branchPages &+= 1
            } else {
                try insert(tree: tree, level: level - 1, index: path.index(level - 1) + 1, cell: parentCell)
            }
        }
    }

    /// Whether every page above `level` on the path is entered through its last cell.
    mutating func isRightmost(below level: Int) -> Bool {
        for l in 0..<level where path.index(l) != mutable(path.page(l)).count - 1 { return false }
        return true
    }

    /// The shortest key `s` with `left < s ≤ right` (a prefix of `right`), for leaf separators.
    func shortestSeparator(after left: UnsafeRawBufferPointer, upTo right: UnsafeRawBufferPointer) throws(LarchError) -> [UInt8] {
        var i = 0
        let n = min(left.count, right.count)
        while i < n && left[i] == right[i] { i += 1 }
        guard i < right.count else {
            throw .corruptPage(page: 0, reason: "keys out of order across a split")
        }
        return Array(right[0...i])
    }
}

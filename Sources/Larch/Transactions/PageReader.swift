/// Where a transaction reads pages from: a `Snapshot` (the map), or a `WriteState` (its dirty
/// pages first, then its snapshot). Lookups are written once over this protocol and specialized
/// for each.
protocol PageReader: ~Copyable {
    /// A branch or leaf page, checked (see `MappedPages.node`).
    func node(_ page: PageNumber, checksum: UInt32, kind: PageKind) throws(LarchError) -> PageView
    /// A page this operation already validated with `node`.
    func validatedPage(_ page: PageNumber) -> PageView
    /// The bytes of an overflow value.
    func overflowValue(first: PageNumber, checksum: UInt32, length: Int) throws(LarchError) -> UnsafeRawBufferPointer
}

extension PageReader where Self: ~Copyable {
    /// The value bytes of a leaf entry, inline or in its overflow run.
    @inline(__always)
    func valueBytes(_ e: LeafEntry) throws(LarchError) -> UnsafeRawBufferPointer {
        switch e.value {
        case .inline(let b): return b
        case let .overflow(first, checksum, length, _): return try overflowValue(first: first, checksum: checksum, length: length)
        }
    }

    /// Finds `key` in the tree rooted at `root` and returns its leaf entry, or nil.
    @inline(__always)
    func lookup(root: TreeRoot, key: UnsafeRawBufferPointer) throws(LarchError) -> LeafEntry? {
        guard !root.isEmpty else { return nil }
        var page = root.root
        var checksum = root.rootChecksum
        var level = 0
        while level < root.depth - 1 {
            let v = try node(page, checksum: checksum, kind: .branch)
            (page, checksum) = try v.child(v.branchSearch(key))
            level += 1
        }
        let leaf = try node(page, checksum: checksum, kind: .leaf)
        let (i, exact) = try leaf.leafSearch(key)
        return exact ? try leaf.leafCell(i) : nil
    }

    /// Calls `body` with each entry of the tree rooted at `root` whose key is at least `lower` and
    /// below `upper` (nil: no bound), in key order, until it returns false. Visits only the pages
    /// on the way to that range and in it.
    func forEachEntry(root: TreeRoot, from lower: [UInt8], below upper: [UInt8]?,
                      _ body: (LeafEntry) throws(LarchError) -> Bool) throws(LarchError) {
        guard !root.isEmpty else { return }
        var previous: UnsafeRawBufferPointer? = nil
        _ = try withBytes(lower) { lo throws(LarchError) in
            try forEachEntry(root.rootPointer, level: 0, depth: root.depth, lower: lo, upper: upper, first: true, previous: &previous, body)
        }
    }

    /// `forEachEntry` below `pointer`; returns false once the range has ended (or `body` stopped).
    /// `previous` is the last key of the leaf before: the next leaf's first key must follow it, or
    /// a page reached twice (a forged file) would repeat entries — exponentially, down a chain of
    /// shared children — instead of being reported.
    private func forEachEntry(_ pointer: ChildPointer, level: Int, depth: Int, lower: UnsafeRawBufferPointer, upper: [UInt8]?,
                              first: Bool, previous: inout UnsafeRawBufferPointer?,
                              _ body: (LeafEntry) throws(LarchError) -> Bool) throws(LarchError) -> Bool {
        func belowUpper(_ key: UnsafeRawBufferPointer) -> Bool {
            guard let upper else { return true }
            return upper.withUnsafeBytes { compareBytes(key.start, key.count, $0.start, $0.count) < 0 }
        }
        if level == depth - 1 {
            let leaf = try node(pointer.page, checksum: pointer.checksum, kind: .leaf)
            var i = first ? try leaf.leafSearch(lower).index : 0
            if let previous, i < leaf.count { try leaf.checkEntered(at: leaf.leafKey(i), leaving: previous) }
            if leaf.count > 0 { previous = try leaf.leafKey(leaf.count - 1) }
            while i < leaf.count {
                let e = try leaf.leafCell(i)
                guard belowUpper(e.key) else { return false }
                guard try body(e) else { return false }
                i += 1
            }
            return true
        }
        let branch = try node(pointer.page, checksum: pointer.checksum, kind: .branch)
        var i = first ? try branch.branchSearch(lower) : 0
        var firstChild = first
        while i < branch.count {
            if i > 0, !belowUpper(try branch.branchKey(i)) { return false }
            guard try forEachEntry(try branch.pointer(i), level: level + 1, depth: depth, lower: lower, upper: upper, first: firstChild,
                                   previous: &previous, body) else { return false }
            firstChild = false
            i += 1
        }
        return true
    }

    /// The descriptor of named database `name` from the catalog rooted at `catalog`, or nil.
    func namedRoot(_ name: String, catalog: TreeRoot) throws(LarchError) -> TreeRoot? {
        let nameBytes = Array(name.utf8)
        let entry = try withBytes(nameBytes) { b throws(LarchError) in try lookup(root: catalog, key: b) }
        guard let entry else { return nil }
        let value = try valueBytes(entry)
        guard value.count == TreeRoot.encodedSize else {
            throw .corruptPage(page: 0, reason: "catalog record for database \"\(name)\" is \(value.count) bytes, expected \(TreeRoot.encodedSize)")
        }
        let root = TreeRoot(decoding: value.baseAddress!)
        if let why = root.shapeProblem(pageCount: .max) {
            throw .corruptPage(page: catalog.root.rawValue, reason: "catalog record for database \(quotedForMessage(name)) describes \(why)")
        }
        return root
    }
}

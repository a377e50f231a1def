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

    /// The descriptor of named database `name` from the catalog rooted at `catalog`, or nil.
    func namedRoot(_ name: String, catalog: TreeRoot) throws(LarchError) -> TreeRoot? {
        let nameBytes = Array(name.utf8)
        let entry = try withBytes(nameBytes) { b throws(LarchError) in try lookup(root: catalog, key: b) }
        guard let entry else { return nil }
        let value = try valueBytes(entry)
        guard value.count == TreeRoot.encodedSize else {
            throw .corruptPage(page: 0, reason: "catalog record for database \"\(name)\" is \(value.count) bytes, expected \(TreeRoot.encodedSize)")
        }
        return TreeRoot(decoding: value.baseAddress!)
    }
}

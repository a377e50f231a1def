/// The state shared by read and write transactions: the snapshot (meta and mapping), the trees
/// opened so far, and checked page access. Write transactions add a `WriteState`.
///
/// Not thread-safe: a transaction belongs to one thread (or one isolation domain) at a time.
///
/// The mutable stored properties of this class and of the other per-transaction classes
/// (`WriteState`, `TreePath`, `CursorState`, `PageBufferPool`) are `@exclusivity(unchecked)`:
/// Swift would otherwise check at run time, on every access, that no two accesses to the same
/// property overlap — a quarter of the time of a put in profiles. Here none can overlap: each object
/// is used by one thread at a time, and no method holds an `inout` access to one of these
/// properties across a call that reaches the same property.
final class TransactionCore {
    enum State { case active, committed, aborted }

    let env: Environment
    /// The snapshot this transaction reads: the committed meta when it began.
    let meta: MetaPage
    let mapping: Mapping
    let pageSize: Int
    let limits: PageLimits
    let verifyChecksums: Bool
    /// Pages of the snapshot that may be read from the map: below its page count, and inside the
    /// mapping (a snapshot is only ever published with a map that covers it; this bound holds even
    /// if that were broken).
    let readablePages: UInt64
    @exclusivity(unchecked) var state: State = .active
    @exclusivity(unchecked) var trees: [TreeSlot]
    /// Reader-table slot, for read transactions.
    @exclusivity(unchecked) var readerSlot: Int?
    /// Zero-copy views (`withValue`, `forEach`, `Cursor.withCurrent`) whose closures are running:
    /// while there are any, changes throw `viewInUse`, and ending the transaction waits for the
    /// last of them to return (`endDeferred`), so that no view outlives the bytes it shows.
    /// Checked by Swift at run time: random reads ran at the same rate with and without
    /// `@exclusivity(unchecked)` here (2.18–2.46M/s against 2.29–2.35M/s, larch-bench, same session).
    var lentViews = 0
    var endDeferred = false
    /// Present in write transactions.
    let write: WriteState?

    init(env: Environment, meta: MetaPage, mapping: Mapping, readerSlot: Int?, write: WriteState?) {
        self.env = env
        self.meta = meta
        self.mapping = mapping
        self.pageSize = meta.pageSize
        self.limits = PageLimits(pageSize: meta.pageSize)
        self.verifyChecksums = env.options.verifyChecksums
        self.readablePages = min(meta.pageCount, UInt64(mapping.sizeBytes / meta.pageSize))
        self.readerSlot = readerSlot
        self.write = write
        var t = [TreeSlot](repeating: TreeSlot(), count: TreeIndex.firstNamed)
        t[TreeIndex.main] = TreeSlot(root: meta.main, status: .present)
        t[TreeIndex.catalog] = TreeSlot(root: meta.catalog, status: .present)
        t[TreeIndex.free] = TreeSlot(root: meta.free, status: .present)
        trees = t
    }

    @inline(__always)
    func checkActive() throws(LarchError) {
        guard state == .active else { throw .transactionEnded }
    }

    @inline(__always)
    func checkWritable() throws(LarchError) -> WriteState {
        guard state == .active else { throw .transactionEnded }
        guard let w = write else { preconditionFailure("a change reached a read transaction") }
        return w
    }

    /// Pages below this number may be read.
    var pageLimit: UInt64 { write?.nextPage ?? meta.pageCount }

    // MARK: Page access

    /// A branch or leaf page, from this transaction's dirty pages or from the map. Map pages are
    /// bounds-checked, header-validated and, with `verifyChecksums`, checked against `checksum`.
    @inline(__always)
    func node(_ page: PageNumber, checksum: UInt32, kind: PageKind) throws(LarchError) -> PageView {
        if let w = write, let d = w.dirty[page] {
            return PageView(base: UnsafeRawPointer(d.buffer), pageSize: pageSize, number: page)
        }
        guard page.rawValue >= 2, page.rawValue < readablePages else {
            throw .corruptPage(page: page.rawValue, reason: "page number is outside the file's \(meta.pageCount) pages")
        }
        let base = mapping.page(page, pageSize: pageSize)
        if verifyChecksums { try verify(base, pages: 1, first: page, checksum: checksum) }
        let v = PageView(base: base, pageSize: pageSize, number: page)
        try v.validateNode(kind: kind)
        return v
    }

    /// A page this operation already validated with `node`, from the dirty pages or the map.
    @inline(__always)
    func validatedPage(_ page: PageNumber) -> PageView {
        if let w = write, let d = w.dirty[page] { return PageView(base: UnsafeRawPointer(d.buffer), pageSize: pageSize, number: page) }
        return PageView(base: mapping.page(page, pageSize: pageSize), pageSize: pageSize, number: page)
    }

    func verify(_ base: UnsafeRawPointer, pages: Int, first: PageNumber, checksum: UInt32) throws(LarchError) {
        let found = CRC32C.checksum(base, count: pages * pageSize)
        guard found == checksum else { throw .checksumMismatch(page: first.rawValue, expected: checksum, found: found) }
    }

    /// The kind of page expected at `level` of a tree of `depth` levels.
    @inline(__always)
    static func kind(level: Int, depth: Int) -> PageKind { level == depth - 1 ? .leaf : .branch }

    /// The bytes of an overflow value: validated header, bounds, and checksum when verifying.
    func overflowValue(first: PageNumber, checksum: UInt32, length: Int) throws(LarchError) -> UnsafeRawBufferPointer {
        let base: UnsafeRawPointer
        if let w = write, let d = w.dirty[first] {
            base = UnsafeRawPointer(d.buffer)
        } else {
            base = try mappedOverflowRun(first: first, length: length, checksum: verifyChecksums ? checksum : nil)
        }
        return UnsafeRawBufferPointer(start: base + OverflowLayout.headerSize, count: length)
    }

    /// The first page, in the map, of the overflow run holding a `length`-byte value: the run lies
    /// in the snapshot, its header names its first page and page count, and, when `checksum` is
    /// given, its bytes match it. The one validation of a run, shared by reads, the checker and the
    /// compacting copy.
    func mappedOverflowRun(first: PageNumber, length: Int, checksum: UInt32?) throws(LarchError) -> UnsafeRawPointer {
        let pages = OverflowLayout.pageCount(valueLength: length, pageSize: pageSize)
        guard first.rawValue >= 2, first.rawValue <= readablePages, UInt64(pages) <= readablePages - first.rawValue else {
            throw .corruptPage(page: first.rawValue, reason: "overflow run of \(pages) pages lies outside the file's \(meta.pageCount) pages")
        }
        let base = mapping.page(first, pageSize: pageSize)
        if let checksum { try verify(base, pages: pages, first: first, checksum: checksum) }
        guard base.load(fromByteOffset: PageLayout.kindOffset, as: UInt8.self) == PageKind.overflow.rawValue,
              base.u64(at: PageLayout.pageNumberOffset) == first.rawValue,
              Int(base.u32(at: PageLayout.runPagesOffset)) == pages else {
            throw .corruptPage(page: first.rawValue, reason: "not the first page of a \(pages)-page overflow run")
        }
        return base
    }

    /// The value bytes of a leaf entry, inline or in its overflow run.
    @inline(__always)
    func valueBytes(_ e: LeafEntry) throws(LarchError) -> UnsafeRawBufferPointer {
        switch e.value {
        case .inline(let b): return b
        case let .overflow(first, checksum, length): return try overflowValue(first: first, checksum: checksum, length: length)
        }
    }

    // MARK: Lookup

    /// Finds `key` in tree `tree` and returns its leaf entry, or nil.
    func lookup(tree: Int, key: UnsafeRawBufferPointer) throws(LarchError) -> LeafEntry? {
        let root = trees[tree].root
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

    // MARK: Named databases

    /// Loads the descriptor of named database `index` (name `name`) from the catalog, once.
    func loadNamed(index: Int, name: String) throws(LarchError) -> TreeSlot.Status {
        if index >= trees.count { trees.append(contentsOf: repeatElement(TreeSlot(), count: index + 1 - trees.count)) }
        if trees[index].status != .unknown { return trees[index].status }
        let nameBytes = Array(name.utf8)
        let entry = try withBytes(nameBytes) { b throws(LarchError) in try lookup(tree: TreeIndex.catalog, key: b) }
        if let entry {
            let value = try valueBytes(entry)
            guard value.count == TreeRoot.encodedSize else {
                throw .corruptPage(page: 0, reason: "catalog record for database \"\(name)\" is \(value.count) bytes, expected \(TreeRoot.encodedSize)")
            }
            trees[index] = TreeSlot(root: TreeRoot(decoding: value.baseAddress!), status: .present)
        } else {
            trees[index] = TreeSlot(root: .empty, status: .missing)
        }
        trees[index].name = name
        return trees[index].status
    }
}

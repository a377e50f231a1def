/// Rewrites one snapshot's trees densely into a `CopyDestination`: every reachable page is copied
/// once, renumbered from page 2 upwards in post-order (children and overflow runs before their
/// parent, so each parent records its children's new numbers and checksums), and free pages are
/// left behind. Tree shapes are kept, so every descriptor's depth and counts carry over; the free
/// tree of the copy is empty.
///
/// Every source page is checked against its parent's checksum and validated before it is copied:
/// a copy never carries corruption silently. The source may be damaged in any way: recursion is
/// bounded by each tree's depth and the number of pages written by the source's page count, so a
/// cycle or a page shared between trees ends the copy with an error instead of a loop.
///
/// A noncopyable owner of its page buffers: `deinit` frees them.
struct Compactor: ~Copyable {
    private let core: TransactionCore
    private let destination: CopyDestination
    private let pageSize: Int
    /// One page buffer per tree level, reused across siblings.
    private var levelBuffers: [UnsafeMutableRawPointer] = []
    /// New descriptors of named databases, by name, substituted into the catalog's records.
    private var newDescriptors: [[UInt8]: TreeRoot] = [:]
    /// Source pages copied so far: a page reached twice (a forged file: a duplicate tree pointing
    /// back to its leaf, children shared) is refused rather than copied again, or followed forever.
    private var copied: Set<PageNumber> = []

    /// The transaction id of the copy: one newer than the snapshot; every copied page is born in it.
    private var copyTransaction: TransactionID { core.meta.txnID.next }

    init(core: TransactionCore, destination: CopyDestination) {
        self.core = core
        self.destination = destination
        self.pageSize = core.pageSize
    }

    deinit {
        for b in levelBuffers { b.deallocate() }
    }

    /// Copies the main database, every named database and the catalog; returns the copy's meta,
    /// one transaction newer than the snapshot.
    mutating func run() throws(LarchError) -> MetaPage {
        let meta = core.meta
        let main = try copyTree(meta.main, replacingCatalogValues: false)
        for (name, root) in try namedDatabases() {
            newDescriptors[name] = try copyTree(root, replacingCatalogValues: false)
        }
        let catalog = try copyTree(meta.catalog, replacingCatalogValues: true)
        // Every page of the copy is born in its one transaction, which is durable once the copy's
        // pages are synced before its metas (`CopyDestination.finish`): nothing to verify at open.
        return MetaPage(pageSize: pageSize, txnID: copyTransaction, pageCount: destination.pageCount,
                        main: main, catalog: catalog, free: .empty, durableBase: copyTransaction)
    }

    /// The catalog's records: database name → descriptor.
    private func namedDatabases() throws(LarchError) -> [([UInt8], TreeRoot)] {
        var result: [([UInt8], TreeRoot)] = []
        let cursor = CursorState(core: core, tree: TreeIndex.catalog)
        var more = try cursor.first()
        while more {
            let e = try cursor.currentEntry()
            let value = try core.valueBytes(e)
            guard value.count == TreeRoot.encodedSize else {
                throw .corruptPage(page: 0, reason: "catalog record has \(value.count) bytes, expected \(TreeRoot.encodedSize)")
            }
            result.append((Array(e.key), TreeRoot(decoding: value.baseAddress!)))
            more = try cursor.next()
        }
        return result
    }

    private mutating func copyTree(_ root: TreeRoot, replacingCatalogValues: Bool) throws(LarchError) -> TreeRoot {
        guard !root.isEmpty else { return root }
        guard root.depth >= 1 && root.depth <= 64 else {
            throw .corruptPage(page: root.root.rawValue, reason: "tree of implausible depth \(root.depth)")
        }
        var copied = root
        copied.rootBirth = copyTransaction
        (copied.root, copied.rootChecksum) = try copyNode(root.root, checksum: root.rootChecksum, level: 0,
                                                          depth: root.depth, catalog: replacingCatalogValues)
        return copied
    }

    /// Copies the duplicate tree `root` of a key (FORMAT.md §20), its level buffers after those of
    /// the tree holding it (`bufferBase`); returns its new descriptor.
    private mutating func copyDuplicateTree(_ root: TreeRoot, bufferBase: Int, page: PageNumber) throws(LarchError) -> TreeRoot {
        guard !root.isEmpty, root.depth >= 1 && root.depth <= 64 else {
            throw .corruptPage(page: page.rawValue, reason: "duplicate tree of implausible depth \(root.depth)")
        }
        var copied = root
        copied.rootBirth = copyTransaction
        (copied.root, copied.rootChecksum) = try copyNode(root.root, checksum: root.rootChecksum, level: 0, depth: root.depth,
                                                          catalog: false, bufferBase: bufferBase)
        return copied
    }

    private mutating func buffer(level: Int) -> UnsafeMutableRawPointer {
        while levelBuffers.count <= level {
            levelBuffers.append(UnsafeMutableRawPointer.allocate(byteCount: pageSize, alignment: 16))
        }
        return levelBuffers[level]
    }

    /// Verifies source page `page`, copies its children (or overflow runs) first, then the page
    /// itself; returns its new number and checksum.
    /// `bufferBase`: the level buffers below it belong to the trees holding this one.
    private mutating func copyNode(_ page: PageNumber, checksum: UInt32, level: Int, depth: Int,
                                   catalog: Bool, bufferBase: Int = 0) throws(LarchError) -> (PageNumber, UInt32) {
        guard copied.insert(page).inserted else {
            throw .corruptPage(page: page.rawValue, reason: "the page is reached twice (a cycle, or a page shared by two parents)")
        }
        let source = try sourcePages(page, count: 1, checksum: checksum)
        let isLeaf = level == depth - 1
        let view = PageView(base: source, pageSize: pageSize, number: page)
        try view.validateNode(kind: isLeaf ? .leaf : .branch)
        let copy = MutablePage(base: buffer(level: bufferBase + level), pageSize: pageSize)
        copy.copyPage(from: source)
        for i in 0..<view.count {
            if isLeaf {
                let cell = try view.leafCell(i)
                switch cell.value {
                case let .overflow(first, runChecksum, length, _):
                    let (newFirst, newChecksum) = try copyRun(first, checksum: runChecksum, length: length)
                    copy.setOverflowReference(i, first: newFirst, checksum: newChecksum, birth: copyTransaction)
                case .inline(let value) where cell.isDuplicateTree:
                    guard value.count == TreeRoot.encodedSize else {
                        throw .corruptPage(page: page.rawValue, reason: "duplicate-tree reference \(i) of \(value.count) bytes")
                    }
                    let sub = try copyDuplicateTree(TreeRoot(decoding: value.baseAddress!), bufferBase: bufferBase + depth, page: page)
                    copy.replaceInlineValue(i, with: sub.encoded)
                case .inline(let value):
                    guard catalog else { continue }
                    guard value.count == TreeRoot.encodedSize, let root = newDescriptors[Array(cell.key)] else {
                        throw .corruptPage(page: page.rawValue, reason: "catalog record \(i) does not describe a database that was copied")
                    }
                    copy.replaceInlineValue(i, with: root.encoded)
                }
            } else {
                let (child, childChecksum) = try view.child(i)
                let (newChild, newChecksum) = try copyNode(child, checksum: childChecksum, level: level + 1, depth: depth, catalog: catalog,
                                                           bufferBase: bufferBase)
                copy.setChild(i, ChildPointer(page: newChild, checksum: newChecksum, birth: copyTransaction))
            }
        }
        let number = try nextPage(for: page, count: 1)
        copy.setPageNumber(number)
        let out = MutablePage(base: try destination.appendPage(), pageSize: pageSize)
        out.copyPage(from: UnsafeRawPointer(copy.base))
        return (number, CRC32C.checksum(UnsafeRawPointer(out.base), count: pageSize))
    }

    /// Copies the overflow run holding a `length`-byte value; returns its new first page and checksum.
    private mutating func copyRun(_ first: PageNumber, checksum: UInt32, length: Int) throws(LarchError) -> (PageNumber, UInt32) {
        let pages = OverflowLayout.pageCount(valueLength: length, pageSize: pageSize)
        let source = try core.snapshot.pages.mappedOverflowRun(first: first, length: length, checksum: checksum)
        let number = try nextPage(for: first, count: pages)
        let head = try destination.appendPage()
        let headPage = MutablePage(base: head, pageSize: pageSize)
        headPage.copyPage(from: source)
        headPage.setPageNumber(number)
        var crc = CRC32C.checksum(UnsafeRawPointer(head), count: pageSize)
        if pages > 1 {
            crc = CRC32C.checksum(continuing: crc, source + pageSize, count: (pages - 1) * pageSize)
            try destination.append(pages: source + pageSize, count: pages - 1)
        }
        return (number, crc)
    }

    /// The mapped bytes of `count` source pages from `first`, after checking that they lie in the
    /// snapshot and match `checksum`.
    private func sourcePages(_ first: PageNumber, count: Int, checksum: UInt32) throws(LarchError) -> UnsafeRawPointer {
        let limit = core.readablePages
        guard first.rawValue >= 2, first.rawValue < limit, UInt64(count) <= limit - first.rawValue else {
            throw .corruptPage(page: first.rawValue, reason: "\(count) page(s) from here lie outside the snapshot's \(limit) pages")
        }
        let base = core.mapping.page(first, pageSize: pageSize)
        try core.snapshot.pages.verify(base, pages: count, first: first, checksum: checksum)
        return base
    }

    /// The number the next `count` copied pages start at; fails once the copy would hold more pages
    /// than the source, which only a page reachable twice (a damaged file) can cause.
    private func nextPage(for source: PageNumber, count: Int) throws(LarchError) -> PageNumber {
        guard destination.pageCount + UInt64(count) <= core.meta.pageCount else {
            throw .corruptPage(page: source.rawValue, reason: "pages are reachable more than once (the trees share pages or form a cycle)")
        }
        return PageNumber(destination.pageCount)
    }
}

/// One committed state of the file as a transaction reads it: its meta page, the memory map that
/// covers it, and checked access to its pages. Immutable: read transactions, the checker, the
/// compacting copy and a write transaction (beneath its dirty pages) share it. A class, so that a
/// page access passes a reference rather than copying the 232-byte value (a quarter of a scan's
/// time per entry when it was a struct).
final class Snapshot {
    let meta: MetaPage
    let mapping: Mapping
    let pageSize: Int
    let limits: PageLimits
    let verifyChecksums: Bool
    /// Pages of the snapshot that may be read from the map: below its page count, and inside the
    /// mapping (a snapshot is only ever published with a map that covers it; this bound holds even
    /// if that were broken).
    let readablePages: UInt64
    /// Checked access to the snapshot's pages in the map.
    let pages: MappedPages
    /// Whether this is a named snapshot's state (its meta has trees but no free space).
    let isNamed: Bool

    init(meta: MetaPage, mapping: Mapping, verifyChecksums: Bool, isNamed: Bool = false) {
        self.isNamed = isNamed
        self.meta = meta
        self.mapping = mapping
        self.pageSize = meta.pageSize
        self.limits = PageLimits(pageSize: meta.pageSize)
        self.verifyChecksums = verifyChecksums
        self.readablePages = min(meta.pageCount, UInt64(mapping.sizeBytes / meta.pageSize))
        self.pages = MappedPages(mapping: mapping, pageSize: meta.pageSize, pageCount: meta.pageCount,
                                 readablePages: readablePages, verifyChecksums: verifyChecksums)
    }

    /// The trees every transaction starts with: the meta's main tree, catalog, free tree and snapshots tree.
    var initialTrees: [TreeSlot] {
        var t = [TreeSlot](repeating: TreeSlot(), count: TreeIndex.firstNamed)
        t[TreeIndex.main] = TreeSlot(root: meta.main, status: .present)
        t[TreeIndex.catalog] = TreeSlot(root: meta.catalog, status: .present)
        t[TreeIndex.free] = TreeSlot(root: meta.free, status: .present)
        t[TreeIndex.snapshots] = TreeSlot(root: meta.snapshots, status: .present)
        return t
    }
}

/// The checked page access of a snapshot, as a small value: what a read needs (the map's address,
/// the page size and the bounds), so that a read transaction keeps it beside its other hot fields
/// rather than behind the `Snapshot` reference. Valid while the `Mapping` it came from lives (its
/// snapshot holds it).
struct MappedPages: PageReader {
    let base: UnsafeRawPointer
    let pageSize: Int
    /// The snapshot's page count (for messages).
    let pageCount: UInt64
    let readablePages: UInt64
    let verifyChecksums: Bool

    init(mapping: Mapping, pageSize: Int, pageCount: UInt64, readablePages: UInt64, verifyChecksums: Bool) {
        self.base = mapping.base
        self.pageSize = pageSize
        self.pageCount = pageCount
        self.readablePages = readablePages
        self.verifyChecksums = verifyChecksums
    }

    /// A branch or leaf page from the map: bounds-checked, header-validated and, with
    /// `verifyChecksums`, checked against `checksum`.
    @inline(__always)
    func node(_ page: PageNumber, checksum: UInt32, kind: PageKind) throws(LarchError) -> PageView {
        guard page.rawValue >= 2, page.rawValue < readablePages else {
            throw .corruptPage(page: page.rawValue, reason: "page number is outside the file's \(pageCount) pages")
        }
        let address = Mapping.page(page, in: base, pageSize: pageSize)
        if verifyChecksums { try verify(address, pages: 1, first: page, checksum: checksum) }
        let v = PageView(base: address, pageSize: pageSize, number: page)
        try v.validateNode(kind: kind)
        return v
    }

    /// A map page an operation already validated with `node`.
    @inline(__always)
    func validatedPage(_ page: PageNumber) -> PageView {
        PageView(base: Mapping.page(page, in: base, pageSize: pageSize), pageSize: pageSize, number: page)
    }

    func verify(_ base: UnsafeRawPointer, pages: Int, first: PageNumber, checksum: UInt32) throws(LarchError) {
        let found = CRC32C.checksum(base, count: pages * pageSize)
        guard found == checksum else { throw .checksumMismatch(page: first.rawValue, expected: checksum, found: found) }
    }

    /// The first page, in the map, of the overflow run holding a `length`-byte value: the run lies
    /// in the snapshot, its header names its first page and page count, and, when `checksum` is
    /// given, its bytes match it. The one validation of a run, shared by reads, the checker and the
    /// compacting copy.
    func mappedOverflowRun(first: PageNumber, length: Int, checksum: UInt32?) throws(LarchError) -> UnsafeRawPointer {
        let pages = OverflowLayout.pageCount(valueLength: length, pageSize: pageSize)
        guard first.rawValue >= 2, first.rawValue <= readablePages, UInt64(pages) <= readablePages - first.rawValue else {
            throw .corruptPage(page: first.rawValue, reason: "overflow run of \(pages) pages lies outside the file's \(pageCount) pages")
        }
        let base = Mapping.page(first, in: self.base, pageSize: pageSize)
        if let checksum { try verify(base, pages: pages, first: first, checksum: checksum) }
        guard OverflowRun.hasHeader(base, first: first, pages: pages) else {
            throw .corruptPage(page: first.rawValue, reason: "not the first page of a \(pages)-page overflow run")
        }
        return base
    }

    /// The bytes of an overflow value in the map.
    func overflowValue(first: PageNumber, checksum: UInt32, length: Int) throws(LarchError) -> UnsafeRawBufferPointer {
        let base = try mappedOverflowRun(first: first, length: length, checksum: verifyChecksums ? checksum : nil)
        return OverflowRun.value(base, length: length)
    }
}

/// A page (or overflow run) written by the current write transaction, held in a private buffer
/// until commit. Its page number was allocated at a free offset; nothing committed points at it.
struct DirtyPage {
    let buffer: UnsafeMutableRawPointer
    /// 1 for branch and leaf pages; the run length for overflow runs.
    let pageCount: Int
}

/// A write transaction's dirty pages: the table of their buffers, and a scratch page for
/// rebuilding pages during splits. A noncopyable owner of its buffers: `giveBack()` returns them
/// to the environment's pool when the transaction ends (under the writer lock, which guards the
/// pool), and `deinit` frees any it still holds.
///
/// Nested transactions (`WriteState+Nested.swift`): the table always holds the current view —
/// the innermost open transaction's — so a lookup is one probe at any depth. Each open child has
/// a layer recording, for every page it changed (added, shadow-copied, dropped), the entry the
/// page had below it; its abort puts those entries back, its commit gives the replaced buffers
/// back (or hands the records down when the parent is a child too). A page dirty below the
/// innermost layer is read-only for it: `isWritable` is false, and copy-on-write shadows it under
/// the same page number (`shadow`). Without a child, `layers` is empty and nothing else changes.
struct DirtyPages: ~Copyable {
    private(set) var table = DirtyTable(capacity: 32)   // a one-put commit touches a handful of pages
    let buffers: PageBufferPool
    let scratch: UnsafeMutableRawPointer
    let pageSize: Int
    /// Set by `giveBack()`: the buffers belong to the pool again.
    private(set) var isGivenBack = false
    /// One per open nested transaction, innermost last; empty without one.
    private(set) var layers: [DirtyLayer] = []
    /// Pages held in buffers (an overflow run counts its pages), against `Options.maxDirtyBytes`:
    /// those of the table and those the layers of nested transactions keep for their aborts.
    private(set) var heldPages = 0

    init(buffers: PageBufferPool) {
        self.buffers = buffers
        self.pageSize = buffers.pageSize
        self.scratch = buffers.take()
    }

    deinit {
        guard !isGivenBack else { return }
        table.forEach { _, d in d.buffer.deallocate() }
        // Entries replaced by open layers are in no table: each is recorded by exactly one layer.
        for layer in layers { for case let (_, .some(d)) in layer.below { d.buffer.deallocate() } }
        scratch.deallocate()
    }

    /// Returns every buffer to the pool; the table is empty afterwards.
    mutating func giveBack() {
        guard !isGivenBack else { return }
        while !layers.isEmpty { abortLayer() }
        var singles: [UnsafeMutableRawPointer] = []
        singles.reserveCapacity(table.count + 1)
        var runPages = 0
        table.forEach { _, d in
            if d.pageCount == 1 {
                singles.append(d.buffer)
            } else {
                d.buffer.deallocate()
                runPages += d.pageCount
            }
        }
        singles.append(scratch)
        buffers.give(singles: singles, otherPages: runPages)
        table.removeAll()
        heldPages = 0
        isGivenBack = true
    }

    @inline(__always)
    subscript(page: PageNumber) -> DirtyPage? { table[page] }

    var count: Int { table.count }

    /// A new buffer of `pages` pages for `page`, registered as dirty.
    mutating func add(_ page: PageNumber, pages: Int = 1) -> UnsafeMutableRawPointer {
        let buffer = buffers.take(pages: pages)
        if !layers.isEmpty { recordBelow(page) }
        table.insert(page, DirtyPage(buffer: buffer, pageCount: pages))
        heldPages += pages
        return buffer
    }

    /// Drops dirty page `page`, returning its buffer to the pool; false when it was not dirty.
    /// Inside a nested transaction, a buffer of a lower layer is kept for that layer's sake.
    mutating func drop(_ page: PageNumber) -> Bool {
        if !layers.isEmpty {
            guard table[page] != nil else { return false }
            let owned = layers[layers.count - 1].below[page] != nil
            if !owned { recordBelow(page) }
            let d = table.remove(page)!
            if owned {
                buffers.give(d.buffer, pages: d.pageCount)
                heldPages -= d.pageCount
            }
            return true
        }
        guard let d = table.remove(page) else { return false }
        heldPages -= d.pageCount
        buffers.give(d.buffer, pages: d.pageCount)
        return true
    }

    /// The dirty page `page` as a mutable page (it must be dirty).
    @inline(__always)
    func mutable(_ page: PageNumber) -> MutablePage {
        MutablePage(base: table[page]!.buffer, pageSize: pageSize)
    }

    func forEach(_ body: (PageNumber, DirtyPage) throws -> Void) rethrows { try table.forEach(body) }
    func sortedByPage() -> [(page: PageNumber, dirty: DirtyPage)] { table.sortedByPage() }
    /// The dirty pages that are single pages (not overflow runs).
    func singlePages() -> [PageNumber] {
        var pages: [PageNumber] = []
        table.forEach { p, d in if d.pageCount == 1 { pages.append(p) } }
        return pages
    }

    // MARK: Nested transactions

    /// Whether dirty page `page` may be changed in place: always without a nested transaction;
    /// inside one, when the innermost layer made its buffer.
    @inline(__always)
    func isWritable(_ page: PageNumber) -> Bool {
        layers.isEmpty || layers[layers.count - 1].below[page] != nil
    }

    /// Copy-on-write inside a nested transaction of single page `page`, dirty in a lower layer: a
    /// buffer of the innermost layer with its content, under the same page number (no snapshot
    /// and no meta reaches an uncommitted page, so it needs no new place).
    mutating func shadow(_ page: PageNumber) -> UnsafeMutableRawPointer {
        let below = table[page]!
        precondition(below.pageCount == 1 && !layers.isEmpty, "only single pages of a lower layer are shadowed")
        let buffer = buffers.take()
        buffer.copyMemory(from: UnsafeRawPointer(below.buffer), byteCount: pageSize)
        recordBelow(page)
        table.insert(page, DirtyPage(buffer: buffer, pageCount: 1))
        heldPages += 1
        return buffer
    }

    /// Whether `page` may be written to the file before commit (spilled, `SpilledPages`) and its
    /// buffer dropped: always without a nested transaction; inside one, only when the innermost
    /// layer made it dirty and no lower layer had it (a page a lower layer holds, or shadowed,
    /// must stay as that layer left it, in memory, for the child's abort).
    @inline(__always)
    func isSpillable(_ page: PageNumber) -> Bool {
        guard let top = layers.last else { return true }
        if case .some(.none) = top.below[page] { return true }
        return false
    }

    /// Records the entry `page` has now, before the innermost layer first changes it.
    private mutating func recordBelow(_ page: PageNumber) {
        let top = layers.count - 1
        if layers[top].below[page] == nil { layers[top].below[page] = .some(table[page]) }
    }

    /// Opens a layer for a nested transaction.
    mutating func beginLayer() {
        layers.append(DirtyLayer())
    }

    /// Merges the innermost layer into its parent: the entries it replaced are given back, unless
    /// they belong to a layer below the parent, whose record the parent takes over.
    mutating func commitLayer() {
        let layer = layers.removeLast()
        let parent = layers.count - 1
        for (page, below) in layer.below {
            if parent >= 0 && layers[parent].below[page] == nil {
                layers[parent].below[page] = .some(below)   // not the parent's buffer: its abort needs it
            } else if let d = below {
                buffers.give(d.buffer, pages: d.pageCount)
                heldPages -= d.pageCount
            }
        }
    }

    /// Drops the innermost layer: its buffers go back to the pool, and each page it changed has
    /// its entry from below again. Costs the pages the layer changed.
    mutating func abortLayer() {
        let layer = layers.removeLast()
        for (page, below) in layer.below {
            if let d = table.remove(page) {
                buffers.give(d.buffer, pages: d.pageCount)
                heldPages -= d.pageCount
            }
            if let d = below { table.insert(page, d) }
        }
    }
}

/// What a nested transaction changed in the dirty-page table (see `DirtyPages`).
struct DirtyLayer {
    /// For each page the layer changed, the entry it had below the layer (nil: it was not dirty).
    var below: [PageNumber: DirtyPage?] = [:]
}

/// Page-size buffers for dirty pages, recycled across write transactions so that steady-state
/// writes do not allocate. Used only by the writer, under the `WriterLock`: that lock is the
/// synchronization Swift cannot see, hence `@unchecked Sendable`.
final class PageBufferPool: @unchecked Sendable {
    let pageSize: Int
    /// The pool's state in one value, so that each call makes one exclusivity-checked access to
    /// the class's storage rather than one per field (two checked accesses per page taken and
    /// given back were 3% of the instructions of a random fill in transactions of 1,000 puts).
    private var store = Store()

    /// Spare single-page buffers and the count of pages handed out.
    private struct Store {
        var spare: [UnsafeMutableRawPointer] = []
        /// Pages in buffers taken and not given back (for tests: every transaction gives all back).
        var outstandingPages = 0
    }

    private static let maxSpare = 4096

    init(pageSize: Int) { self.pageSize = pageSize }

    /// Pages in buffers taken and not given back (for tests: every transaction gives all back).
    var outstandingPages: Int { store.outstandingPages }

    /// Cache-line aligned, not page aligned: nothing needs more (the file is written with buffered
    /// `pwritev`, the CRC code loads unaligned), and glibc's page-aligned allocation of a page-size
    /// block took about twice its size in resident memory (a 64 MiB dirty budget peaked at 170 MiB
    /// of `RssAnon` in a 2 GB load, 108 MiB with this alignment; issue 14).
    func take(pages: Int = 1) -> UnsafeMutableRawPointer {
        let spare = Self.take(pages: pages, from: &store)
        return spare ?? UnsafeMutableRawPointer.allocate(byteCount: pages * pageSize, alignment: 64)
    }

    private static func take(pages: Int, from store: inout Store) -> UnsafeMutableRawPointer? {
        store.outstandingPages += pages
        return pages == 1 ? store.spare.popLast() : nil
    }

    func give(_ buffer: UnsafeMutableRawPointer, pages: Int) {
        if !Self.keep(buffer, pages: pages, in: &store) { buffer.deallocate() }
    }

    private static func keep(_ buffer: UnsafeMutableRawPointer, pages: Int, in store: inout Store) -> Bool {
        store.outstandingPages -= pages
        guard pages == 1 && store.spare.count < maxSpare else { return false }
        store.spare.append(buffer)
        return true
    }

    /// Gives back many single-page buffers at once, and `otherPages` pages of runs already freed.
    func give(singles: [UnsafeMutableRawPointer], otherPages: Int) {
        let kept = Self.keep(singles, otherPages: otherPages, in: &store)
        for b in singles[kept...] { b.deallocate() }
    }

    private static func keep(_ singles: [UnsafeMutableRawPointer], otherPages: Int, in store: inout Store) -> Int {
        store.outstandingPages -= singles.count + otherPages
        let kept = min(singles.count, max(0, maxSpare - store.spare.count))
        store.spare.append(contentsOf: singles[..<kept])
        return kept
    }

    deinit { for b in store.spare { b.deallocate() } }
}

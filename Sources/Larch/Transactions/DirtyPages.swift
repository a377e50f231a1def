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
struct DirtyPages: ~Copyable {
    private(set) var table = DirtyTable(capacity: 32)   // a one-put commit touches a handful of pages
    let buffers: PageBufferPool
    let scratch: UnsafeMutableRawPointer
    let pageSize: Int
    /// Set by `giveBack()`: the buffers belong to the pool again.
    private(set) var isGivenBack = false
    /// Pages held in buffers (an overflow run counts its pages), against `Options.maxDirtyBytes`.
    private(set) var heldPages = 0

    init(buffers: PageBufferPool) {
        self.buffers = buffers
        self.pageSize = buffers.pageSize
        self.scratch = buffers.take()
    }

    deinit {
        guard !isGivenBack else { return }
        table.forEach { _, d in d.buffer.deallocate() }
        scratch.deallocate()
    }

    /// Returns every buffer to the pool; the table is empty afterwards.
    mutating func giveBack() {
        guard !isGivenBack else { return }
        table.forEach { _, d in buffers.give(d.buffer, pages: d.pageCount) }
        table.removeAll()
        heldPages = 0
        buffers.give(scratch, pages: 1)
        isGivenBack = true
    }

    @inline(__always)
    subscript(page: PageNumber) -> DirtyPage? { table[page] }

    var count: Int { table.count }

    /// A new buffer of `pages` pages for `page`, registered as dirty.
    mutating func add(_ page: PageNumber, pages: Int = 1) -> UnsafeMutableRawPointer {
        let buffer = buffers.take(pages: pages)
        table.insert(page, DirtyPage(buffer: buffer, pageCount: pages))
        heldPages += pages
        return buffer
    }

    /// Drops dirty page `page`, returning its buffer to the pool; false when it was not dirty.
    mutating func drop(_ page: PageNumber) -> Bool {
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
}

/// Page-size buffers for dirty pages, recycled across write transactions so that steady-state
/// writes do not allocate. Used only by the writer, under the `WriterLock`: that lock is the
/// synchronization Swift cannot see, hence `@unchecked Sendable`.
final class PageBufferPool: @unchecked Sendable {
    let pageSize: Int
    private var spare: [UnsafeMutableRawPointer] = []
    private let maxSpare = 4096

    init(pageSize: Int) { self.pageSize = pageSize }

    /// Cache-line aligned, not page aligned: nothing needs more (the file is written with buffered
    /// `pwritev`, the CRC code loads unaligned), and glibc's page-aligned allocation of a page-size
    /// block took about twice its size in resident memory (a 64 MiB dirty budget peaked at 170 MiB
    /// of `RssAnon` in a 2 GB load, 108 MiB with this alignment; issue 14).
    func take(pages: Int = 1) -> UnsafeMutableRawPointer {
        if pages == 1, let b = spare.popLast() { return b }
        return UnsafeMutableRawPointer.allocate(byteCount: pages * pageSize, alignment: 64)
    }

    func give(_ buffer: UnsafeMutableRawPointer, pages: Int) {
        if pages == 1 && spare.count < maxSpare { spare.append(buffer) } else { buffer.deallocate() }
    }

    deinit { for b in spare { b.deallocate() } }
}

/// A page (or overflow run) written by the current write transaction, held in a private buffer
/// until commit. Its page number was allocated at a free offset; nothing committed points at it.
struct DirtyPage {
    let buffer: UnsafeMutableRawPointer
    /// 1 for branch and leaf pages; the run length for overflow runs.
    let pageCount: Int
}

/// Page-size buffers for dirty pages, recycled across write transactions so that steady-state
/// writes do not allocate.
final class PageBufferPool: @unchecked Sendable {  // used only by the writer, under WriterLock
    let pageSize: Int
    @exclusivity(unchecked) private var spare: [UnsafeMutableRawPointer] = []
    private let maxSpare = 4096

    init(pageSize: Int) { self.pageSize = pageSize }

    func take(pages: Int = 1) -> UnsafeMutableRawPointer {
        if pages == 1, let b = spare.popLast() { return b }
        return UnsafeMutableRawPointer.allocate(byteCount: pages * pageSize, alignment: 4096)
    }

    func give(_ buffer: UnsafeMutableRawPointer, pages: Int) {
        if pages == 1 && spare.count < maxSpare { spare.append(buffer) } else { buffer.deallocate() }
    }

    deinit { for b in spare { b.deallocate() } }
}

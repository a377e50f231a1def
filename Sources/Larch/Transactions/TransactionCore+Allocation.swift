/// Page allocation, release and copy-on-write for write transactions.
extension TransactionCore {
    /// Allocates `count` contiguous pages: from the pool, then from free-tree records no reader
    /// needs, then — only when no reusable record is left — from the end of the file. Throws `mapFull` when the file would exceed its limit.
    func allocate(_ w: WriteState, pages count: Int = 1) throws(LarchError) -> PageNumber {
        while true {
            if let p = takeFromPool(w, count: count) { return p }
            if try !claimFreeRecord(w, wantPages: count) { break }
        }
        let first = w.nextPage
        let end = first + UInt64(count)
        let required = Int(end) * pageSize
        guard required <= w.maxSizeBytes else { throw .mapFull(limitBytes: w.maxSizeBytes, requiredBytes: required) }
        w.nextPage = end
        return PageNumber(first)
    }

    private func takeFromPool(_ w: WriteState, count: Int) -> PageNumber? {
        guard !w.pool.isEmpty else { return nil }
        w.sortPoolIfNeeded()
        if count == 1 { return w.allocateFromTop ? w.pool.removeFirst() : w.pool.popLast() }
        // Descending order: a run of `count` pages ending at index i + count - 1 has the lowest page last.
        guard w.pool.count >= count else { return nil }
        var i = w.pool.count - count
        while i >= 0 {
            if w.pool[i].rawValue - w.pool[i + count - 1].rawValue == UInt64(count - 1) {
                let first = w.pool[i + count - 1]
                w.pool.removeSubrange(i..<(i + count))
                return first
            }
            i -= 1
        }
        return nil
    }

    /// Allocates a page and a buffer for it, registered as dirty.
    func newPage(_ w: WriteState, kind: PageKind) throws(LarchError) -> (PageNumber, MutablePage) {
        let p = try allocate(w)
        let buf = w.buffers.take()
        w.dirty.insert(p, DirtyPage(buffer: buf, pageCount: 1))
        let m = MutablePage(base: buf, pageSize: pageSize)
        m.initialize(kind: kind, number: p)
        return (p, m)
    }

    /// The dirty page `page` as a mutable page (it must be dirty).
    @inline(__always)
    func mutable(_ w: WriteState, _ page: PageNumber) -> MutablePage {
        MutablePage(base: w.dirty[page]!.buffer, pageSize: pageSize)
    }

    /// Copy-on-write: a dirty page with the content of `page`, which is `page` itself when it is
    /// already dirty. The old page is released.
    func touch(_ w: WriteState, _ page: PageNumber) throws(LarchError) -> PageNumber {
        if w.dirty[page] != nil { return page }
        let p = try allocate(w)
        let buf = w.buffers.take()
        buf.copyMemory(from: mapping.page(page, pageSize: pageSize), byteCount: pageSize)
        w.dirty.insert(p, DirtyPage(buffer: buf, pageCount: 1))
        MutablePage(base: buf, pageSize: pageSize).setPageNumber(p)
        release(w, page, count: 1)
        return p
    }

    /// Stops using `count` pages starting at `page`: dirty ones return to the pool at once, the
    /// others are recorded as freed by this transaction.
    func release(_ w: WriteState, _ page: PageNumber, count: Int) {
        if let d = w.dirty.remove(page) {
            w.buffers.give(d.buffer, pages: d.pageCount)
            w.pool.append(contentsOf: PageExtent(first: page, count: count).pages)
            w.poolSorted = false
        } else {
            w.freed.append(contentsOf: PageExtent(first: page, count: count).pages)
        }
    }

    /// Writes `value` to a new overflow run and returns its first page and checksum.
    func writeOverflow(_ w: WriteState, value: UnsafeRawBufferPointer) throws(LarchError) -> (PageNumber, UInt32) {
        let pages = OverflowLayout.pageCount(valueLength: value.count, pageSize: pageSize)
        let first = try allocate(w, pages: pages)
        let buf = w.buffers.take(pages: pages)
        let total = pages * pageSize
        buf.initializeMemory(as: UInt8.self, repeating: 0, count: PageLayout.headerSize)
        buf.storeBytes(of: PageKind.overflow.rawValue, toByteOffset: PageLayout.kindOffset, as: UInt8.self)
        buf.setU32(UInt32(pages), at: PageLayout.runPagesOffset)
        buf.setU64(first.rawValue, at: PageLayout.pageNumberOffset)
        // The run's checksum is taken as it is filled, so the value is read once.
        var crc = CRC32C.checksum(UnsafeRawPointer(buf), count: OverflowLayout.headerSize)
        if value.count > 0 {
            crc = CRC32C.copy(continuing: crc, to: buf + OverflowLayout.headerSize, from: value.baseAddress!, count: value.count)
        }
        let used = OverflowLayout.headerSize + value.count
        (buf + used).initializeMemory(as: UInt8.self, repeating: 0, count: total - used)
        crc = CRC32C.checksum(continuing: crc, UnsafeRawPointer(buf + used), count: total - used)
        w.dirty.insert(first, DirtyPage(buffer: buf, pageCount: pages))
        return (first, crc)
    }
}

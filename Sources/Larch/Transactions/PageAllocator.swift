/// Where a write transaction's pages come from and where the pages it stops using go: the pool of
/// pages it may reuse at once, the pages it freed (recorded in the free tree at commit), and the
/// end of the file. Claiming free-tree records into the pool is `WriteState.allocate`'s part.
///
/// Page states during a write transaction:
/// - **dirty**: allocated by this transaction, content in a private buffer (`DirtyPages`);
/// - **pool**: free and invisible to every snapshot: taken from free-tree records that no reader
///   needs, or dirty pages this transaction allocated and then dropped. Reusable at once;
/// - **freed**: reachable from the snapshot this transaction started from (and maybe older readers),
///   no longer used by it. Recorded in the free tree under this transaction's id at commit.
struct PageAllocator {
    /// The high-water mark: pages at or above it have never been used.
    var nextPage: UInt64
    let maxSizeBytes: Int
    let pageSize: Int
    /// Free-tree records keyed at or below this transaction may be reused: the oldest snapshot a
    /// reader, this writer or a meta that may survive a crash can still read, fixed at begin
    /// (later readers start at this writer's snapshot or newer).
    let reuseBound: TransactionID
    /// Reusable pages, sorted descending when `poolSorted` (so `popLast` yields the lowest page).
    var pool: [PageNumber] = []
    var poolSorted = true
    var freed: [PageNumber] = []
    /// While set, single-page allocations take the pool's highest page rather than its lowest
    /// (saving a record of unused pages draws from that record's own pages).
    var allocateFromTop = false

    /// Crash-lab negative test only: reuse pages in the transaction that frees them, though the
    /// published meta still reaches them (`Environment.UnsafeTestBehaviour.reuseFreedPagesAtOnce`).
    var reuseFreedAtOnce = false

    init(nextPage: UInt64, maxSizeBytes: Int, pageSize: Int, reuseBound: TransactionID) {
        self.nextPage = nextPage
        self.maxSizeBytes = maxSizeBytes
        self.pageSize = pageSize
        self.reuseBound = reuseBound
    }

    mutating func sortPoolIfNeeded() {
        if !poolSorted { pool.sort(by: >); poolSorted = true }
    }

    /// `count` contiguous pages from the pool, or nil.
    mutating func takeFromPool(count: Int) -> PageNumber? {
        guard !pool.isEmpty else { return nil }
        sortPoolIfNeeded()
        if count == 1 { return allocateFromTop ? pool.removeFirst() : pool.popLast() }
        // Descending order: a run of `count` pages ending at index i + count - 1 has the lowest page last.
        guard pool.count >= count else { return nil }
        var i = pool.count - count
        while i >= 0 {
            if pool[i].rawValue - pool[i + count - 1].rawValue == UInt64(count - 1) {
                let first = pool[i + count - 1]
                pool.removeSubrange(i..<(i + count))
                return first
            }
            i -= 1
        }
        return nil
    }

    /// `count` new pages at the end of the file; throws `mapFull` past `maxSizeBytes`.
    mutating func extendFile(count: Int) throws(LarchError) -> PageNumber {
        let first = nextPage
        let end = first + UInt64(count)
        let required = Int(end) * pageSize
        guard required <= maxSizeBytes else { throw .mapFull(limitBytes: maxSizeBytes, requiredBytes: required) }
        nextPage = end
        return PageNumber(first)
    }

    /// Pages reusable at once.
    mutating func addToPool(_ extent: PageExtent) {
        pool.append(contentsOf: extent.pages)
        poolSorted = false
    }

    /// Pages of the snapshot this transaction no longer uses.
    mutating func addFreed(_ extent: PageExtent) {
        if reuseFreedAtOnce { addToPool(extent); return }   // crash-lab negative test only
        freed.append(contentsOf: extent.pages)
    }
}

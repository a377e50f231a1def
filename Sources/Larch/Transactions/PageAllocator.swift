/// Where a write transaction's pages come from and where the pages it stops using go: the pool of
/// pages it may reuse at once, the meta's free list, the pages it freed (recorded in the meta's
/// free list or the free tree at commit), and the end of the file. Claiming free-tree records into
/// the pool is `WriteState.allocate`'s part.
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
    /// The meta's free list as this transaction changes it: entries leave it as their pages are
    /// claimed (`claimFromFreeList`); at commit it is rebuilt with the pages freed and unused.
    var freeList: [FreeListEntry]
    /// The page allocated last: the next single page is the one after it when that one is free,
    /// so that a commit's pages lie together and go out in few writes.
    private var lastTaken: PageNumber?
    /// While set, single-page allocations take the pool's highest page rather than its lowest
    /// (saving a record of unused pages draws from that record's own pages).
    var allocateFromTop = false

    /// Crash-lab negative test only: reuse pages in the transaction that frees them, though the
    /// published meta still reaches them (`Environment.UnsafeTestBehaviour.reuseFreedPagesAtOnce`).
    var reuseFreedAtOnce = false

    init(nextPage: UInt64, maxSizeBytes: Int, pageSize: Int, reuseBound: TransactionID, freeList: [FreeListEntry]) {
        self.nextPage = nextPage
        self.freeList = freeList
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
        if count == 1 {
            if allocateFromTop { return pool.removeFirst() }
            if let last = lastTaken, pool.last == last + 1 {
                lastTaken = pool.popLast()   // the common case, without a search
            } else if let last = lastTaken, let i = indexInPool(last + 1) {
                lastTaken = pool.remove(at: i)
            } else {
                lastTaken = pool.popLast()
            }
            return lastTaken
        }
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

    /// The index of `page` in the sorted (descending) pool, if it is there.
    private func indexInPool(_ page: PageNumber) -> Int? {
        var low = 0, high = pool.count
        while low < high {
            let mid = (low + high) / 2
            if pool[mid] > page { low = mid + 1 } else { high = mid }
        }
        return low < pool.count && pool[low] == page ? low : nil
    }

    /// Moves pages of the oldest reusable entry of the meta's free list into the pool — at most
    /// `max(wantPages, 64)` of them, the rest stay listed; false when no entry is reusable.
    mutating func claimFromFreeList(wantPages: Int) -> Bool {
        // Sorted by transaction: when the first entry is not reusable, none is.
        guard let entry = freeList.first, entry.txn <= reuseBound.rawValue else { return false }
        let take = min(entry.extent.count, max(wantPages, 64))
        Self.append(PageExtent(first: entry.extent.first, count: take), to: &pool)
        poolSorted = false
        if take == entry.extent.count {
            freeList.removeFirst()
        } else {
            freeList[0].extent = PageExtent(first: entry.extent.first + take, count: entry.extent.count - take)
        }
        return true
    }

    /// The meta's free list after this transaction, holding the pages it freed and the pool's
    /// unused pages beside the entries not claimed; nil when that is more than a meta holds.
    /// Sorts `freed` in place: when the list does not fit, the free tree's records are made of
    /// it next, and sorting it once rather than twice saved 3% of a bulk commit's instructions.
    mutating func freeListAtCommit(txn: TransactionID) -> [FreeListEntry]? {
        var entries = freeList
        freed.sort()
        for e in FreeRecord.extents(ofSorted: freed) { entries.append(FreeListEntry(txn: txn.rawValue, extent: e)) }
        for e in FreeRecord.extents(ofSorted: pool.sorted()) { entries.append(FreeListEntry(txn: 0, extent: e)) }
        guard entries.count <= MetaPage.maxFreeListEntries * 2 else { return nil }
        let list = FreeListEntry.normalized(entries)
        return list.count <= MetaPage.maxFreeListEntries ? list : nil
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
        Self.append(extent, to: &pool)
        poolSorted = false
    }

    /// Pages of the snapshot this transaction no longer uses.
    mutating func addFreed(_ extent: PageExtent) {
        if reuseFreedAtOnce { addToPool(extent); return }   // crash-lab negative test only
        Self.append(extent, to: &freed)
    }

    /// Appends the pages of `extent` to `list` (a plain loop: appending the extent's lazy sequence
    /// of pages went through the generic path, 2% of a bulk commit's instructions).
    private static func append(_ extent: PageExtent, to list: inout [PageNumber]) {
        var page = extent.first.rawValue
        for _ in 0..<extent.count {
            list.append(PageNumber(page))
            page += 1
        }
    }
}

/// What a write transaction holds beyond its snapshot: the pages it has written so far, where free
/// pages come from, and the pages it has stopped using.
///
/// Page states during a write transaction:
/// - **dirty**: allocated by this transaction, content in a private buffer (`dirty`);
/// - **pool**: free and invisible to every snapshot: taken from free-tree records that no reader
///   needs, or dirty pages this transaction allocated and then dropped. Reusable at once;
/// - **freed**: reachable from the snapshot this transaction started from (and maybe older readers),
///   no longer used by it. Recorded in the free tree under this transaction's id at commit.
final class WriteState {
    let txnID: TransactionID
    let buffers: PageBufferPool
    let maxSizeBytes: Int
    /// Starts small (a one-put commit touches a handful of pages) and doubles as it fills.
    @exclusivity(unchecked) var dirty = DirtyTable(capacity: 32)
    /// The high-water mark: pages at or above it have never been used.
    @exclusivity(unchecked) var nextPage: UInt64
    /// Reusable pages, sorted descending when `poolSorted` (so `popLast` yields the lowest page).
    /// Unchecked (see `TransactionCore`): every copy-on-write page goes through `pool` or `freed`;
    /// with Swift's run-time exclusivity checks on these two, random overwrites ran 387–405k/s
    /// against 451–470k/s and sequential fills 7.7–7.8M/s against 8.4–9.0M/s (larch-bench, Larch
    /// alone, N = 100,000, medians of 5, alternating builds in one session).
    @exclusivity(unchecked) var pool: [PageNumber] = []
    @exclusivity(unchecked) var poolSorted = true
    @exclusivity(unchecked) var freed: [PageNumber] = []
    /// The oldest snapshot any reader (or this writer) may still read, computed once.
    @exclusivity(unchecked) var oldestSnapshot: TransactionID?
    /// Set while the free tree is being changed: allocations then claim only records already read
    /// ahead, and the deletion of claimed records waits (`pendingDeletes`).
    @exclusivity(unchecked) var freeTreeBusy = false
    /// (The free-tree fields below are off the put path: Swift checks their exclusivity.)
    /// Reusable free-tree records read ahead and not yet claimed, newest first (`popLast` yields the
    /// oldest).
    var claimable: [ClaimableRecord] = []
    /// Keys of records whose pages were claimed into the pool, to delete from the free tree.
    var pendingDeletes: [[UInt8]] = []
    /// While set, single-page allocations take the pool's highest page rather than its lowest
    /// (saving a record of unused pages draws from that record's own pages).
    var allocateFromTop = false
    /// A page-size scratch buffer for rebuilding pages during splits.
    let scratch: UnsafeMutableRawPointer
    /// Write transactions' live cursors, told to remember their position before the tree changes.
    @exclusivity(unchecked) var cursors: [ObjectIdentifier: Unmanaged<CursorState>] = [:]
    /// The path a put (or a top-level delete) walks, and the one a delete nested in it borrows
    /// (`lendPath`); `pathsInUse` of them are in use.
    let operationPath = TreePath()
    let nestedPath = TreePath()
    @exclusivity(unchecked) var pathsInUse = 0
    /// The path of the last put that changed no page boundaries, valid for tree `hintTree` until
    /// any other change to that tree (`beginChange` sets `hintTree` to -1): the next put there
    /// tries its leaf (buffer `hintLeaf`) before descending from the root. `hintRightmost`: every
    /// page on the path is entered through its last cell, so keys past the leaf's end belong to it.
    let hintPath = TreePath()
    @exclusivity(unchecked) var hintTree = -1
    @exclusivity(unchecked) var hintLeaf: UnsafeMutableRawPointer?
    @exclusivity(unchecked) var hintRightmost = false
    /// Consecutive puts the hint did not serve, and puts left before it is tried again.
    @exclusivity(unchecked) var hintMisses = 0
    @exclusivity(unchecked) var hintSkips = 0
    /// Set when an operation failed part-way: the transaction can only be aborted.
    @exclusivity(unchecked) var failure: LarchError? { didSet { hasFailed = failure != nil } }
    /// `failure != nil`, read on every put and delete without copying the error.
    @exclusivity(unchecked) private(set) var hasFailed = false

    init(txnID: TransactionID, nextPage: UInt64, buffers: PageBufferPool, maxSizeBytes: Int) {
        self.txnID = txnID
        self.nextPage = nextPage
        self.buffers = buffers
        self.maxSizeBytes = maxSizeBytes
        self.scratch = buffers.take()
    }

    /// Returns every buffer to the pool (at commit or abort).
    func releaseBuffers() {
        dirty.forEach { _, d in buffers.give(d.buffer, pages: d.pageCount) }
        dirty.deallocate()
        buffers.give(scratch, pages: 1)
    }

    func sortPoolIfNeeded() {
        if !poolSorted { pool.sort(by: >); poolSorted = true }
    }
}

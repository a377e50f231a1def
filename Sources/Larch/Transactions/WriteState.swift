/// What a write transaction holds beyond its snapshot, as a noncopyable value built from parts
/// with one job each: the trees it changes, its dirty pages, the page allocator, the free-tree
/// records it claimed, the path of the current operation and the put hint. The B+ tree operations
/// (`Tree/WriteState+*.swift`) and the in-memory half of commit are `mutating` methods on it, so
/// Swift checks statically that no two of them overlap; the transaction reaches it through
/// `TransactionCore.modifying`, one run-time-checked access per operation.
struct WriteState: ~Copyable {
    let txnID: TransactionID
    /// The snapshot this transaction started from: pages that are not dirty are read from it.
    let snapshot: Snapshot
    /// Its pages in the map (kept here: one reference fewer on every page access).
    let pages: MappedPages
    /// The trees of this transaction: the meta's three, and the named databases it opened.
    var trees: [TreeSlot]
    var dirty: DirtyPages
    var allocator: PageAllocator
    var claims = FreeTreeClaims()
    var path = TreePath()
    var hint = PutHint()
    /// Live cursors of this transaction, told to remember their position before a tree changes.
    var cursors: [ObjectIdentifier: CursorReference] = [:]
    /// Pages of this process's commits that wait for their group's meta (no meta reaches them,
    /// no reader sees them, a crash falls back past them): copy-on-write rewrites them in place
    /// instead of copying them elsewhere, so a group writes the pages its commits share (the root,
    /// the free tree's leaf) once. Empty unless the writer was begun with `inPlace`.
    var rewritable: Set<PageNumber> = []
    /// The newest snapshot's transaction (0: none): pages born at or before it that this
    /// transaction stops using are kept as dead extents, not freed (`release`).
    var pinBound = TransactionID(0)
    /// Pages this transaction stopped using that a snapshot still reaches, saved at commit.
    var dead: [DeadExtent] = []
    /// `Options.shrinkWithCommits`: the commit drops the reusable free pages at the end of the file.
    var trimsFreeTail = false
    /// A snapshot to record of the state this transaction commits (`Environment.receive`).
    var snapshotOfResult: (name: [UInt8], id: [UInt8], createdNanoseconds: UInt64)?
    /// Pages of `rewritable` rewritten so far: once any is, a failed page write damages a waiting commit.
    var rewrittenInPlace = 0
    /// Those pages: never spilled (`SpilledPages`), since an abort must leave them as they were.
    var inPlacePages: Set<PageNumber> = []
    /// `Options.maxDirtyBytes` in pages (`Int.max`: never spill): checked before every change.
    var spillLimitPages = Int.max
    /// What spilling needs (nil: this transaction never spills).
    var spillSetup: SpillSetup?
    /// Pages written to the file before commit to keep the dirty pages under the budget; nil until
    /// the first spill, so reads of a transaction under the budget test one nil on a dirty miss.
    var spilled: SpilledPages?
    var rewroteInPlace: Bool { rewrittenInPlace > 0 }

    /// What each open nested transaction must restore when it aborts, innermost last
    /// (`WriteState+Nested.swift`); empty without one.
    var nestedSaves: [NestedSave] = []

    /// Set when an operation failed part-way: the transaction can only be aborted.
    var failure: LarchError? { didSet { hasFailed = failure != nil } }
    /// `failure != nil`, read on every put and delete without copying the error.
    private(set) var hasFailed = false

    init(txnID: TransactionID, snapshot: Snapshot, buffers: PageBufferPool, maxSizeBytes: Int, reuseBound: TransactionID) {
        self.txnID = txnID
        self.snapshot = snapshot
        self.pages = snapshot.pages
        self.limits = snapshot.limits
        self.trees = snapshot.initialTrees
        self.dirty = DirtyPages(buffers: buffers)
        self.allocator = PageAllocator(nextPage: snapshot.meta.pageCount, maxSizeBytes: maxSizeBytes,
                                       pageSize: snapshot.pageSize, reuseBound: reuseBound,
                                       freeList: snapshot.meta.freeList)
    }

    var pageSize: Int { pages.pageSize }
    let limits: PageLimits

    /// Runs a modification; if it fails part-way, the transaction is marked failed, because the
    /// tree may be half-changed in memory. Nothing is written to the file until commit, so an
    /// abort then leaves the database exactly as it was.
    @inline(__always)
    mutating func modifying<R>(_ body: (inout WriteState) throws(LarchError) -> R) throws(LarchError) -> R {
        if hasFailed, let f = failure { throw f }
        do {
            if dirty.heldPages > spillLimitPages { try spillOverBudget() }
            return try body(&self)
        } catch {
            switch error {
            case .keyExists, .emptyKey, .keyTooLarge, .valueTooLarge, .databaseNotFound, .invalidDatabaseName,
                 .snapshotNotFound, .snapshotExists, .invalidSnapshotName, .snapshotNotAllowed,
                 .changeStreamBaseMismatch, .incompatibleDatabase, .duplicateExists, .duplicateValueSize:
                break // rejected before anything changed
            default:
                failure = error
            }
            throw error
        }
    }

    /// The dirty page `page` as a mutable page (it must be dirty).
    @inline(__always)
    func mutable(_ page: PageNumber) -> MutablePage { dirty.mutable(page) }

    /// Ends the transaction's use of its buffers (at commit or abort); it cannot change afterwards.
    mutating func finish() {
        hint = PutHint()   // points into a buffer
        nestedSaves = []
        dirty.giveBack()   // drops the layers of nested transactions still open
        spilled?.clear()
        if failure == nil { failure = .transactionEnded }
    }
}

extension WriteState: PageReader {
    /// A branch or leaf page, from the dirty pages or the snapshot.
    @inline(__always)
    func node(_ page: PageNumber, checksum: UInt32, kind: PageKind) throws(LarchError) -> PageView {
        if let d = dirty[page] { return PageView(base: UnsafeRawPointer(d.buffer), pageSize: pageSize, number: page) }
        if let s = spilled, let e = s[page] { return try s.node(page, e, kind: kind) }
        return try pages.node(page, checksum: checksum, kind: kind)
    }

    @inline(__always)
    func validatedPage(_ page: PageNumber) -> PageView {
        if let d = dirty[page] { return PageView(base: UnsafeRawPointer(d.buffer), pageSize: pageSize, number: page) }
        if let s = spilled, s[page] != nil { return s.validatedPage(page) }
        return pages.validatedPage(page)
    }

    func overflowValue(first: PageNumber, checksum: UInt32, length: Int) throws(LarchError) -> UnsafeRawBufferPointer {
        if let d = dirty[first] {
            return OverflowRun.value(UnsafeRawPointer(d.buffer), length: length)
        }
        if let s = spilled, let e = s[first] { return try s.overflowValue(first: first, e, length: length) }
        return try pages.overflowValue(first: first, checksum: checksum, length: length)
    }
}

/// A write transaction's pages as `TransactionCore` reads them between changes (gets, cursors,
/// entries): the dirty pages, then the snapshot. A small copyable value built per read: reading
/// through `WriteState` itself would borrow that large value out of its box, which copies it
/// (338 bytes on every page access).
struct WritePageReader: PageReader {
    let pages: MappedPages
    let dirty: DirtyTable.View
    /// The transaction's spilled pages (nil until it first spills).
    let spilled: SpilledPages?

    @inline(__always)
    func node(_ page: PageNumber, checksum: UInt32, kind: PageKind) throws(LarchError) -> PageView {
        if let d = dirty[page] { return PageView(base: UnsafeRawPointer(d.buffer), pageSize: pages.pageSize, number: page) }
        if let s = spilled, let e = s[page] { return try s.node(page, e, kind: kind) }
        return try pages.node(page, checksum: checksum, kind: kind)
    }

    @inline(__always)
    func validatedPage(_ page: PageNumber) -> PageView {
        if let d = dirty[page] { return PageView(base: UnsafeRawPointer(d.buffer), pageSize: pages.pageSize, number: page) }
        if let s = spilled, s[page] != nil { return s.validatedPage(page) }
        return pages.validatedPage(page)
    }

    func overflowValue(first: PageNumber, checksum: UInt32, length: Int) throws(LarchError) -> UnsafeRawBufferPointer {
        if let d = dirty[first] { return OverflowRun.value(UnsafeRawPointer(d.buffer), length: length) }
        if let s = spilled, let e = s[first] { return try s.overflowValue(first: first, e, length: length) }
        return try pages.overflowValue(first: first, checksum: checksum, length: length)
    }
}

/// The home of a write transaction's `WriteState` in its `TransactionCore`.
final class WriteStateBox {
    /// The library's one `@exclusivity(unchecked)`. Every operation of a write transaction begins
    /// one access to `state` here (`TransactionCore.modifying`), inside which Swift checks every
    /// access statically; the box is reached only through its transaction, used by one thread at a
    /// time, and no operation reaches `state` again while it runs (the operations nested in a put
    /// call the inner methods on the same `inout` value). The run-time check of that one access cost
    /// 8% of a sequential fill: 11.0M/s against 12.0M/s (larch-bench, 20,000 keys, medians of 3,
    /// builds alternated in one run); random writes ran alike either way.
    @exclusivity(unchecked) var state: WriteState
    init(_ state: consuming WriteState) { self.state = state }
}

import Atomics
import Synchronization

/// One transaction as the API sees it: the handle that a `Transaction` value and its cursors share.
/// It holds the snapshot, the transaction's state and reader slot, and, for a write transaction,
/// its `WriteState`; it routes each operation to the snapshot (reads) or the write state.
///
/// Not thread-safe: a transaction belongs to one thread (or one isolation domain) at a time.
/// Swift checks the exclusivity of its stored properties at run time; the tree operations run on
/// the `WriteState` (a value) inside one such access (`modifying`), where Swift checks them
/// statically. The lifecycle fields read on every call (`state`, the lent views) are `Atomic`
/// constants instead: relaxed loads and stores, which cost what plain ones do and need no
/// exclusivity check (with checked `var`s, a sequential scan spent 9% of its time in
/// `swift_beginAccess`).
final class TransactionCore {
    /// `suspended`: a write transaction whose nested transaction is open (`Transaction.nested`);
    /// it is active again when the child ends.
    enum State: UInt8, AtomicRepresentable { case active, committed, aborted, suspended }

    let env: Environment
    /// The snapshot this transaction reads: the committed meta when it began.
    let snapshot: Snapshot
    /// Whether this is the write transaction (`writeBox` is set).
    let isWrite: Bool
    /// The snapshot's page access and main tree, kept here beside the other fields a read touches
    /// (behind the `Snapshot` reference they cost random reads of a large file a cache line more).
    private let mapped: MappedPages
    private let mainRoot: TreeRoot
    let stateStorage = Atomic<State>(.active)
    /// The trees of a read transaction (a write transaction's are in its `WriteState`).
    private var readTrees: [TreeSlot]
    /// Reader-table slot, for read transactions.
    var readerSlot: Int?
    /// The expiry mark of this read transaction's slot (`Options.maxReaderLag`).
    private let expiryMark: UnsafeAtomic<UInt64>?
    /// Zero-copy views (`withValue`, `forEach`, `Cursor.withCurrent`) whose closures are running:
    /// while there are any, changes through a cursor throw `viewInUse`, and ending the transaction
    /// waits for the last of them to return (`endDeferred`), so that no view outlives its bytes.
    let lentViews = Atomic<Int>(0)
    let endDeferred = Atomic<Bool>(false)
    /// The write transaction's state. Boxed: reading a part of a large noncopyable value kept
    /// inline in an `Optional` copied the whole value (546 bytes) on every page access; through the
    /// box each access reads only the part it needs. A constant, so that reaching it costs no
    /// retain and no exclusivity check (a tenth of a sequential fill); the transaction's end gives
    /// its buffers back (`WriteState.finish`).
    let writeBox: WriteStateBox?
    /// For a nested write transaction: its parent, suspended while it runs. It shares the
    /// parent's `writeBox`; its changes are a layer of that state (`WriteState+Nested.swift`).
    let parent: TransactionCore?
    /// For a nested write transaction: its layer is open, so that ending it without a commit
    /// rolls the layer back.
    var nestedLayerOpen = false

    /// A read transaction (or a read-only view of a snapshot, for the checker and copies).
    init(env: Environment, snapshot: Snapshot, readerSlot: Int?) {
        self.env = env
        self.snapshot = snapshot
        self.mapped = snapshot.pages
        self.mainRoot = snapshot.meta.main
        self.isWrite = false
        self.readTrees = snapshot.initialTrees
        self.readerSlot = readerSlot
        self.expiryMark = readerSlot.map { env.readers.expiryMark(slot: $0) }
        self.writeBox = nil
        self.parent = nil
    }

    /// The write transaction.
    init(env: Environment, write: consuming WriteState) {
        self.env = env
        self.snapshot = write.snapshot
        self.mapped = write.snapshot.pages
        self.mainRoot = write.snapshot.meta.main
        self.isWrite = true
        self.readTrees = []
        self.readerSlot = nil
        self.expiryMark = nil
        self.writeBox = WriteStateBox(write)
        self.parent = nil
    }

    /// A nested write transaction of `parent`, on its write state (see `beginNested`).
    init(nestedIn parent: TransactionCore) {
        self.env = parent.env
        self.snapshot = parent.snapshot
        self.mapped = parent.mapped
        self.mainRoot = parent.mainRoot
        self.isWrite = true
        self.readTrees = []
        self.readerSlot = nil
        self.expiryMark = nil
        self.writeBox = parent.writeBox
        self.parent = parent
        self.nestedLayerOpen = true
    }

    /// Active until the transaction commits or aborts.
    var state: State { stateStorage.load(ordering: .relaxed) }

    var meta: MetaPage { snapshot.meta }
    var mapping: Mapping { snapshot.mapping }
    var pageSize: Int { snapshot.pageSize }
    var limits: PageLimits { snapshot.limits }
    var readablePages: UInt64 { snapshot.readablePages }

    @inline(__always)
    func checkActive() throws(LarchError) {
        guard state == .active else { throw inactiveError }
        try checkNotExpired()
    }

    /// What a use of this transaction throws when it is not active.
    var inactiveError: LarchError { state == .suspended ? .nestedTransactionOpen : .transactionEnded }

    /// Throws `snapshotExpired` when a writer expired this read transaction: called before a read
    /// and again after its bytes were copied or shown (`expiring`), since its pages may have been
    /// reused while it read them.
    @inline(__always)
    func checkNotExpired() throws(LarchError) {
        if let mark = expiryMark, ReaderTable.isExpired(mark) { throw .snapshotExpired(snapshot: meta.txnID.rawValue) }
    }

    /// Runs a read, then checks that the snapshot was not expired meanwhile: whatever the read
    /// returned, or threw (a reused page can look corrupt), a reader of an expired snapshot gets
    /// `snapshotExpired` instead.
    @inline(__always)
    func expiring<R>(_ body: () throws -> R) throws -> R {
        guard expiryMark != nil else { return try body() }
        do { let r = try body(); try checkNotExpired(); return r } catch { try checkNotExpired(); throw error }
    }

    /// `expiring` for reads that throw only `LarchError`.
    @inline(__always)
    func expiringTyped<R>(_ body: () throws(LarchError) -> R) throws(LarchError) -> R {
        guard expiryMark != nil else { return try body() }
        do { let r = try body(); try checkNotExpired(); return r } catch { try checkNotExpired(); throw error }
    }

    func validateKey(_ key: UnsafeRawBufferPointer) throws(LarchError) {
        guard key.count > 0 else { throw .emptyKey }
        guard key.count <= limits.maxKeySize else { throw .keyTooLarge(size: key.count, limit: limits.maxKeySize) }
    }

    /// The kind of page expected at `level` of a tree of `depth` levels.
    @inline(__always)
    static func kind(level: Int, depth: Int) -> PageKind { level == depth - 1 ? .leaf : .branch }

    // MARK: Trees

    /// The descriptor of tree `tree` (loaded: see `tree(_:)`).
    @inline(__always)
    func treeRoot(_ tree: Int) -> TreeRoot {
        if isWrite { return writeBox!.state.trees[tree].root }
        // A read transaction's main tree is its snapshot's.
        return tree == TreeIndex.main ? mainRoot : readTrees[tree].root
    }

    /// The change counter of tree `tree`, which cursors compare.
    @inline(__always)
    func treeVersion(_ tree: Int) -> UInt64 {
        if isWrite { return writeBox!.state.trees[tree].version }
        return readTrees[tree].version
    }

    /// Loads the descriptor of named database `index` (name `name`) from the catalog, once.
    func loadNamed(index: Int, name: String) throws(LarchError) -> TreeSlot.Status {
        if isWrite { return try writeBox!.state.loadNamed(index: index, name: name) }
        return try readTrees.loadNamed(index: index, name: name, from: mapped)
    }

    // MARK: Page access

    /// The write transaction's pages, for a read between changes.
    @inline(__always)
    private var writeReader: WritePageReader { WritePageReader(pages: mapped, dirty: writeBox!.state.dirty.table.view, spilled: writeBox!.state.spilled) }

    /// A branch or leaf page, from this transaction's dirty pages or from the map (see `PageReader`).
    @inline(__always)
    func node(_ page: PageNumber, checksum: UInt32, kind: PageKind) throws(LarchError) -> PageView {
        if !isWrite { return try mapped.node(page, checksum: checksum, kind: kind) }
        return try writeReader.node(page, checksum: checksum, kind: kind)
    }

    /// The value bytes of a leaf entry, inline or in its overflow run.
    @inline(__always)
    func valueBytes(_ e: LeafEntry) throws(LarchError) -> UnsafeRawBufferPointer {
        if case .inline(let b) = e.value { return b }
        if !isWrite { return try mapped.valueBytes(e) }
        return try writeReader.valueBytes(e)
    }

    /// The named snapshots as this transaction sees them, with the pages each reaches and holds alone.
    func snapshotInfos() throws(LarchError) -> [SnapshotInfo] {
        let root = treeRoot(TreeIndex.snapshots)
        if !isWrite { return try SnapshotCatalog.infos(in: root, reader: mapped, pageSize: pageSize) }
        return try SnapshotCatalog.infos(in: root, reader: writeReader, pageSize: pageSize)
    }

    /// The bytes the state `record` keeps reaches: its trees' pages (reads its catalog only).
    func referencedBytes(of record: SnapshotRecord) throws(LarchError) -> UInt64 {
        let pages = isWrite ? try SnapshotCatalog.referencedPages(of: record, reader: writeReader)
                            : try SnapshotCatalog.referencedPages(of: record, reader: mapped)
        return pages * UInt64(pageSize)
    }

    /// The record of snapshot `name`; throws `snapshotNotFound`.
    func snapshotRecord(named name: String) throws(LarchError) -> SnapshotRecord {
        let root = treeRoot(TreeIndex.snapshots)
        let key = SnapshotKey.record(Array(name.utf8))
        let entry = try withBytes(key) { k throws(LarchError) in try lookup(tree: TreeIndex.snapshots, key: k) }
        guard let entry else { throw .snapshotNotFound(name: name) }
        guard let record = SnapshotRecord(decoding: try valueBytes(entry)) else {
            throw .corruptPage(page: root.root.rawValue, reason: "snapshot record of \(quotedForMessage(name)) is malformed")
        }
        return record
    }

    /// Finds `key` in tree `tree` and returns its leaf entry, or nil.
    @inline(__always)
    func lookup(tree: Int, key: UnsafeRawBufferPointer) throws(LarchError) -> LeafEntry? {
        if !isWrite { return try mapped.lookup(root: treeRoot(tree), key: key) }
        return try writeReader.lookup(root: writeBox!.state.trees[tree].root, key: key)
    }
}

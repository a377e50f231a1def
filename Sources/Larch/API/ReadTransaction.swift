/// A read-only view of one committed snapshot. Sees the same data for its whole life, however
/// many commits happen meanwhile.
///
/// Lifetime rules:
/// - End it with `abort()`, or let it go (it ends when released). After it ends, every method
///   throws `LarchError.transactionEnded`.
/// - Bytes passed to the closures of `withValue` and `Cursor.withCurrent` are read from the
///   file's memory map without copying, and are valid only inside the closure.
/// - A transaction is not `Sendable`: use it on one thread (or isolation domain) at a time.
///
/// `WriteTransaction` is a subclass: everything here works in write transactions too, and sees
/// the transaction's own uncommitted changes.
public class ReadTransaction {
    let core: TransactionCore

    init(core: TransactionCore) { self.core = core }

    deinit {
        if core.state == .active { end(as: .aborted) }
    }

    /// Whether the transaction can still be used.
    public final var isActive: Bool { core.state == .active }

    /// The id of the snapshot this transaction reads (for write transactions, the one it started from).
    public final var snapshotID: UInt64 { core.meta.txnID.rawValue }

    /// Ends the transaction, discarding any changes. Calling it again does nothing.
    public final func abort() {
        if core.state == .active { end(as: .aborted) }
    }

    final func end(as state: TransactionCore.State) {
        core.state = state
        // A view is in use (the transaction was ended inside `withValue` and the like): its bytes
        // stay pinned until it returns.
        if core.lentViews > 0 {
            core.endDeferred = true
            return
        }
        release()
    }

    /// Gives back what the ended transaction held: its reader slot, or its buffers and the writer.
    @usableFromInline
    final func release() {
        if let slot = core.readerSlot {
            core.env.readers.release(slot: slot)
            core.readerSlot = nil
        }
        if let w = core.write {
            w.releaseBuffers()
            core.env.writerLock.unlock()
        }
    }

    // MARK: Databases

    /// The tree index for `db`, loading a named database's descriptor on first use.
    final func tree(_ db: Database) throws(LarchError) -> Int {
        try core.checkActive()
        if db.index == TreeIndex.main { return TreeIndex.main }
        guard db.environment == ObjectIdentifier(core.env), let name = db.name else { throw .foreignDatabase }
        guard try core.loadNamed(index: db.index, name: name) == .present else { throw .databaseNotFound(name: name) }
        return db.index
    }

    /// Opens the existing named database `name`; throws `databaseNotFound` if there is none.
    public final func openDatabase(_ name: String) throws(LarchError) -> Database {
        let db = try handle(name)
        _ = try tree(db)
        return db
    }

    final func handle(_ name: String) throws(LarchError) -> Database {
        try core.checkActive()
        guard !name.isEmpty else { throw .invalidDatabaseName(name: name, reason: "names must not be empty") }
        guard name.utf8.count <= core.limits.maxKeySize else {
            throw .invalidDatabaseName(name: name, reason: "longer than \(core.limits.maxKeySize) bytes")
        }
        return Database(index: core.env.databaseIndex(name), name: name, environment: ObjectIdentifier(core.env))
    }

    /// The names of all named databases, in byte order.
    public final func databaseNames() throws(LarchError) -> [String] {
        try core.checkActive()
        var names: [String] = []
        let c = CursorState(core: core, tree: TreeIndex.catalog)
        var more = try c.first()
        while more {
            names.append(String(decoding: try c.currentKey(), as: UTF8.self))
            more = try c.next()
        }
        return names
    }

    /// Statistics of `db` in this snapshot.
    public final func stats(_ db: Database = .main) throws(LarchError) -> DatabaseStats {
        DatabaseStats(core.trees[try tree(db)].root)
    }

    // MARK: Reading

    /// A copy of the value stored under `key`, or nil.
    public final func get(_ key: some Collection<UInt8>, in db: Database = .main) throws(LarchError) -> [UInt8]? {
        try valueBuffer(forKey: key, in: db).map { Array($0) }
    }

    /// A copy of the value stored under the UTF-8 bytes of `key`, or nil.
    public final func get(_ key: String, in db: Database = .main) throws(LarchError) -> [UInt8]? {
        try withBytes(key) { k throws(LarchError) in try valueBuffer(forKey: k, in: db).map { Array($0) } }
    }

    /// The value under `key` decoded as UTF-8, or nil.
    public final func getString(_ key: String, in db: Database = .main) throws(LarchError) -> String? {
        try get(key, in: db).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Whether `key` is present.
    public final func contains(_ key: some Collection<UInt8>, in db: Database = .main) throws(LarchError) -> Bool {
        try valueBuffer(forKey: key, in: db) != nil
    }

    /// Whether the UTF-8 bytes of `key` are present.
    public final func contains(_ key: String, in db: Database = .main) throws(LarchError) -> Bool {
        try withBytes(key) { k throws(LarchError) in try valueBuffer(forKey: k, in: db) != nil }
    }

    /// Calls `body` with the value under `key`, read in place from the map (no copy); nil when absent.
    /// The span is valid only inside `body`.
    @inlinable
    public final func withValue<R>(forKey key: some Collection<UInt8>, in db: Database = .main,
                             _ body: (RawSpan) throws -> R) throws -> R? {
        guard let b = try valueBuffer(forKey: key, in: db) else { return nil }
        return try lendingView { try body(b.bytes) }
    }

    /// Runs `body`, which reads a zero-copy view: while it runs, changes to this transaction throw
    /// `viewInUse`, and ending it takes effect when `body` returns.
    @usableFromInline
    final func lendingView<R>(_ body: () throws -> R) rethrows -> R {
        try core.lendingView(ended: { release() }, body)
    }

    /// The value under `key`, in place: valid until the transaction ends or next changes `db`.
    @inlinable
    final func valueBuffer(forKey key: some Collection<UInt8>, in db: Database) throws(LarchError) -> UnsafeRawBufferPointer? {
        try withBytes(key) { k throws(LarchError) in try valueBytes(forKey: k, in: db) }
    }

    /// `valueBuffer` on contiguous key bytes: the non-generic body of every read.
    @usableFromInline
    func valueBytes(forKey k: UnsafeRawBufferPointer, in db: Database) throws(LarchError) -> UnsafeRawBufferPointer? {
        let t = try tree(db)
        try core.validateKey(k)
        guard let e = try core.lookup(tree: t, key: k) else { return nil }
        return try core.valueBytes(e)
    }

    /// A cursor over `db`, unpositioned.
    public final func cursor(_ db: Database = .main) throws(LarchError) -> Cursor {
        Cursor(state: CursorState(core: core, tree: try tree(db)), transaction: self)
    }

    /// The entries of `db` within `range`, in key order (or reverse), as copies.
    ///
    /// Iteration stops at the first error (a corrupt page); `Entries.error` then holds it. Use
    /// `forEach(in:range:reverse:_:)` to have errors thrown.
    public final func entries(in db: Database = .main, _ range: KeyRange = .all, reverse: Bool = false) throws(LarchError) -> Entries {
        Entries(cursor: try cursor(db), range: range, reverse: reverse)
    }

    public final func entries(in db: Database = .main, _ range: Range<ByteKey>, reverse: Bool = false) throws(LarchError) -> Entries {
        try entries(in: db, KeyRange(range), reverse: reverse)
    }
    public final func entries(in db: Database = .main, _ range: ClosedRange<ByteKey>, reverse: Bool = false) throws(LarchError) -> Entries {
        try entries(in: db, KeyRange(range), reverse: reverse)
    }
    public final func entries(in db: Database = .main, _ range: PartialRangeFrom<ByteKey>, reverse: Bool = false) throws(LarchError) -> Entries {
        try entries(in: db, KeyRange(range), reverse: reverse)
    }
    public final func entries(in db: Database = .main, _ range: PartialRangeUpTo<ByteKey>, reverse: Bool = false) throws(LarchError) -> Entries {
        try entries(in: db, KeyRange(range), reverse: reverse)
    }
    public final func entries(in db: Database = .main, _ range: PartialRangeThrough<ByteKey>, reverse: Bool = false) throws(LarchError) -> Entries {
        try entries(in: db, KeyRange(range), reverse: reverse)
    }

    /// Calls `body` with each entry of `db` within `range`, zero-copy; errors are thrown.
    /// Return false from `body` to stop early.
    public final func forEach(in db: Database = .main, _ range: KeyRange = .all, reverse: Bool = false,
                        _ body: (_ key: RawSpan, _ value: RawSpan) throws -> Bool) throws {
        try lendingView { try forEachUnlent(in: db, range, reverse: reverse, body) }
    }

    private final func forEachUnlent(in db: Database, _ range: KeyRange, reverse: Bool,
                                     _ body: (_ key: RawSpan, _ value: RawSpan) throws -> Bool) throws {
        let c = try cursor(db)
        var more = try c.start(range, reverse: reverse)
        // Read-only snapshots never change: walk each leaf's cells in a local loop.
        let fast = core.write == nil
        // Only a bounded end needs a comparison per entry.
        let bounded = reverse ? range.hasLowerBound : range.hasUpperBound
        while more {
            if fast {
                let (leaf, start) = c.state.leafPosition
                var i = start
                let end = reverse ? -1 : leaf.count
                let step = reverse ? -1 : 1
                while i != end {
                    let e = try leaf.leafCell(i)
                    if bounded, reverse ? !range.isAboveLower(e.key) : !range.isBelowUpper(e.key) { return }
                    guard try body(e.key.bytes, core.valueBytes(e).bytes) else { return }
                    i += step
                }
                c.state.setLeafIndex(end - step)
            } else {
                guard try c.state.withCurrentUnsafe({ k, v in try body(k.bytes, v.bytes) }) else { return }
            }
            more = try c.advance(range, reverse: reverse)
        }
    }
}

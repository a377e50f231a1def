/// A transaction: `ReadTransaction` (`Transaction<ReadOnly>`) reads one committed snapshot and sees
/// the same data for its whole life, however many commits happen meanwhile; `WriteTransaction`
/// (`Transaction<ReadWrite>`) is the environment's one write transaction, whose reads see its own
/// uncommitted changes.
///
/// A transaction is a noncopyable value, and the compiler enforces its rules:
/// - `commit()` and `abort()` consume it: a transaction cannot be used after it ended. A
///   transaction that is dropped (goes out of scope) is aborted.
/// - Changes (`put`, `delete`, ...) are `mutating`, and the zero-copy views of `withValue` and
///   `forEach` borrow the transaction: a change inside a view, which could free the bytes the view
///   shows, does not compile. The spans cannot escape their closure.
/// - The mode is part of the type: a read transaction, and its cursors, have no way to change data.
/// - A transaction is not `Sendable`: use it on one thread (or isolation domain) at a time.
///
/// What the compiler cannot see is checked at run time and reported as a `LarchError`: a cursor
/// used after its transaction ended (`transactionEnded`), a change through a write cursor inside a
/// view (`viewInUse`), a cursor of a write transaction used while a nested transaction of it is
/// open (`nestedTransactionOpen`, see `nested(_:)`).
public struct Transaction<Mode: TransactionMode>: ~Copyable {
    let core: TransactionCore

    init(core: TransactionCore) { self.core = core }

    deinit { core.endIfActive() }

    /// Whether the transaction can still be used (false once its environment failed or closed it).
    public var isActive: Bool { core.state == .active }

    /// The id of the snapshot this transaction reads (for write transactions, the one it started from).
    public var snapshotID: UInt64 { core.meta.txnID.rawValue }

    /// Ends the transaction, discarding any changes.
    public consuming func abort() {
        core.endIfActive()
    }

    // MARK: Databases

    /// Opens the existing named database `name`; throws `databaseNotFound` if there is none.
    /// Pass `duplicates: .sorted` for a database created with sorted duplicates: opening a
    /// database as the other kind throws `incompatibleDatabase` (`databaseKind(_:)` tells the kind).
    public func openDatabase(_ name: String, duplicates: Duplicates = .none) throws(LarchError) -> Database {
        try core.expiringTyped { () throws(LarchError) in
            let db = try core.handle(name)
            try core.checkKind(db, duplicates)
            return db
        }
    }

    /// Whether the existing named database `name` holds sorted duplicates; throws
    /// `databaseNotFound` if there is none.
    public func databaseKind(_ name: String) throws(LarchError) -> Duplicates {
        try core.expiringTyped { () throws(LarchError) in
            core.hasSortedDuplicates(try core.tree(try core.handle(name))) ? .sorted : .none
        }
    }

    /// The names of all named databases, in byte order.
    public func databaseNames() throws(LarchError) -> [String] {
        try core.expiringTyped { () throws(LarchError) in try core.databaseNames() }
    }

    /// Statistics of `db` in this snapshot.
    public func stats(_ db: Database = .main) throws(LarchError) -> DatabaseStats {
        DatabaseStats(core.treeRoot(try core.tree(db)))
    }

    // MARK: Reading

    /// A copy of the value stored under `key`, or nil.
    @inlinable
    public func get(_ key: some Collection<UInt8>, in db: Database = .main) throws(LarchError) -> [UInt8]? {
        try checkedRead { () throws(LarchError) in
            try withBytes(key) { k throws(LarchError) in try valueBytes(forKey: k, in: db).map { Array($0) } }
        }
    }

    /// A copy of the value stored under the UTF-8 bytes of `key`, or nil.
    public func get(_ key: String, in db: Database = .main) throws(LarchError) -> [UInt8]? {
        try checkedRead { () throws(LarchError) in
            try withBytes(key) { k throws(LarchError) in try valueBytes(forKey: k, in: db).map { Array($0) } }
        }
    }

    /// The value under `key` decoded as UTF-8, or nil.
    public func getString(_ key: String, in db: Database = .main) throws(LarchError) -> String? {
        try get(key, in: db).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Whether `key` is present.
    @inlinable
    public func contains(_ key: some Collection<UInt8>, in db: Database = .main) throws(LarchError) -> Bool {
        try checkedRead { () throws(LarchError) in try withBytes(key) { k throws(LarchError) in try valueBytes(forKey: k, in: db) != nil } }
    }

    /// Whether the UTF-8 bytes of `key` are present.
    public func contains(_ key: String, in db: Database = .main) throws(LarchError) -> Bool {
        try checkedRead { () throws(LarchError) in try withBytes(key) { k throws(LarchError) in try valueBytes(forKey: k, in: db) != nil } }
    }

    /// Calls `body` with the value under `key`, read in place from the map (no copy); nil when absent.
    /// The span cannot leave `body`, and the transaction cannot change while `body` runs.
    @inlinable
    public func withValue<R>(forKey key: some Collection<UInt8>, in db: Database = .main,
                             _ body: (RawSpan) throws -> R) throws -> R? {
        try checkedView {
            guard let b = try withBytes(key, { k throws(LarchError) in try valueBytes(forKey: k, in: db) }) else { return nil }
            return try lendingView { try body(b.bytes) }
        }
    }

    /// Runs a read that copies bytes out, then checks that its snapshot was not expired
    /// meanwhile (`Options.maxReaderLag`): a reader never gets bytes of a reused page.
    @usableFromInline
    func checkedRead<R>(_ body: () throws(LarchError) -> R) throws(LarchError) -> R {
        try core.expiringTyped(body)
    }

    /// `checkedRead` for a zero-copy view: when the snapshot expired while `body` ran, what it saw
    /// may have been reused, and the call throws `snapshotExpired`.
    @usableFromInline
    func checkedView<R>(_ body: () throws -> R) throws -> R {
        try core.expiring(body)
    }

    /// Runs `body`, which reads a zero-copy view; ending the transaction from a cursor's view
    /// takes effect when `body` returns.
    @usableFromInline
    func lendingView<R>(_ body: () throws -> R) rethrows -> R {
        try core.lendingView(body)
    }

    /// The value under `key`, in place: valid until the transaction ends or next changes `db`.
    @usableFromInline
    func valueBytes(forKey k: UnsafeRawBufferPointer, in db: Database) throws(LarchError) -> UnsafeRawBufferPointer? {
        let t = try core.tree(db)
        try core.validateKey(k)
        if core.hasSortedDuplicates(t) {
            // A sorted-duplicates database: the key's first value.
            guard let set = try core.duplicateSet(tree: t, key: k) else { return nil }
            return try core.firstDuplicateBytes(set)
        }
        guard let e = try core.lookup(tree: t, key: k) else { return nil }
        return try core.valueBytes(e)
    }

    /// A cursor over `db`, unpositioned. It reads this transaction, and cannot be used after the
    /// transaction ends (`transactionEnded`).
    public func cursor(_ db: Database = .main) throws(LarchError) -> Cursor<Mode> {
        Cursor(state: CursorState(core: core, tree: try core.plainTree(db, operation: "cursor(_:)")))
    }

    /// The entries of `db` within `range`, in key order (or reverse), as copies: iterate with
    /// `next()`, `forEach` or `collect()`, each of which throws the first error it meets.
    public func entries(in db: Database = .main, _ range: KeyRange = .all, reverse: Bool = false) throws(LarchError) -> Entries {
        Entries(state: CursorState(core: core, tree: try core.plainTree(db, operation: "entries(in:)")), range: range, reverse: reverse)
    }

    /// The entries of `db` within the key range `range` (see `entries(in:_:reverse:)`).
    public func entries(in db: Database = .main, _ range: Range<ByteKey>, reverse: Bool = false) throws(LarchError) -> Entries {
        try entries(in: db, KeyRange(range), reverse: reverse)
    }
    /// The entries of `db` within the key range `range` (see `entries(in:_:reverse:)`).
    public func entries(in db: Database = .main, _ range: ClosedRange<ByteKey>, reverse: Bool = false) throws(LarchError) -> Entries {
        try entries(in: db, KeyRange(range), reverse: reverse)
    }
    /// The entries of `db` within the key range `range` (see `entries(in:_:reverse:)`).
    public func entries(in db: Database = .main, _ range: PartialRangeFrom<ByteKey>, reverse: Bool = false) throws(LarchError) -> Entries {
        try entries(in: db, KeyRange(range), reverse: reverse)
    }
    /// The entries of `db` within the key range `range` (see `entries(in:_:reverse:)`).
    public func entries(in db: Database = .main, _ range: PartialRangeUpTo<ByteKey>, reverse: Bool = false) throws(LarchError) -> Entries {
        try entries(in: db, KeyRange(range), reverse: reverse)
    }
    /// The entries of `db` within the key range `range` (see `entries(in:_:reverse:)`).
    public func entries(in db: Database = .main, _ range: PartialRangeThrough<ByteKey>, reverse: Bool = false) throws(LarchError) -> Entries {
        try entries(in: db, KeyRange(range), reverse: reverse)
    }

    /// Calls `body` with each entry of `db` within `range`, zero-copy; errors are thrown.
    /// Return false from `body` to stop early. The spans cannot leave `body`, and the transaction
    /// cannot change while it runs.
    public func forEach(in db: Database = .main, _ range: KeyRange = .all, reverse: Bool = false,
                        _ body: (_ key: RawSpan, _ value: RawSpan) throws -> Bool) throws {
        try checkedView {
            let state = CursorState(core: core, tree: try core.plainTree(db, operation: "forEach(in:)"))
            try core.lendingView { try state.forEach(range, reverse: reverse, body) }
        }
    }
}

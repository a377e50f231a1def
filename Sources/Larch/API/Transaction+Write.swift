/// Changes, available in write transactions only. Nothing reaches the file until `commit()`, and
/// `abort()` (or an error inside `Environment.write`, or dropping the transaction) discards it all.
///
/// After an operation fails part-way (for example `mapFull` during a split), the transaction can
/// only be aborted: every further call throws the same error. Rejected input (`emptyKey`,
/// `keyTooLarge`, `keyExists`, ...) changes nothing and leaves the transaction usable.
extension Transaction where Mode == ReadWrite {
    /// Stores `value` under `key`, replacing any value there; with `overwrite: false`, an existing
    /// key throws `keyExists` instead.
    @inlinable
    public mutating func put(_ value: some Collection<UInt8>, forKey key: some Collection<UInt8>, in db: Database = .main,
                             overwrite: Bool = true) throws(LarchError) {
        try withBytes(key) { k throws(LarchError) in
            try withBytes(value) { v throws(LarchError) in try putBytes(v, forKey: k, in: db, overwrite: overwrite) }
        }
    }

    /// `put` on contiguous bytes: the non-generic body every `put` overload ends in.
    @usableFromInline
    mutating func putBytes(_ value: UnsafeRawBufferPointer, forKey key: UnsafeRawBufferPointer, in db: Database,
                           overwrite: Bool) throws(LarchError) {
        try core.put(tree: try core.tree(db), key: key, value: value, overwrite: overwrite)
    }

    /// Stores the UTF-8 bytes of `value` under those of `key`.
    public mutating func put(_ value: String, forKey key: String, in db: Database = .main, overwrite: Bool = true) throws(LarchError) {
        let t = try core.tree(db)
        try withBytes(key) { k throws(LarchError) in
            try withBytes(value) { v throws(LarchError) in try core.put(tree: t, key: k, value: v, overwrite: overwrite) }
        }
    }

    /// Deletes `key`; returns whether it was present.
    @discardableResult @inlinable
    public mutating func delete(_ key: some Collection<UInt8>, in db: Database = .main) throws(LarchError) -> Bool {
        try withBytes(key) { k throws(LarchError) in try deleteBytes(k, in: db) }
    }

    /// `delete` on contiguous bytes.
    @usableFromInline
    mutating func deleteBytes(_ key: UnsafeRawBufferPointer, in db: Database) throws(LarchError) -> Bool {
        try core.delete(tree: try core.tree(db), key: key)
    }

    /// Deletes the UTF-8 bytes of `key`; returns whether it was present.
    @discardableResult
    public mutating func delete(_ key: String, in db: Database = .main) throws(LarchError) -> Bool {
        let t = try core.tree(db)
        return try withBytes(key) { k throws(LarchError) in try core.delete(tree: t, key: k) }
    }

    /// Opens the named database `name`, creating it (empty) when `create` is true and it is missing.
    /// With `duplicates: .sorted` the database holds any number of values per key, in byte order
    /// (LMDB's `MDB_DUPSORT`; see `putDuplicate`); an existing database opened as the other kind
    /// throws `incompatibleDatabase`.
    public mutating func openDatabase(_ name: String, create: Bool, duplicates: Duplicates = .none) throws(LarchError) -> Database {
        let db = try core.handle(name)
        if try core.loadNamed(index: db.index, name: name) == .missing {
            guard create else { throw .databaseNotFound(name: name) }
            try core.createNamed(index: db.index, name: name, flags: duplicates == .sorted ? TreeRoot.flagSortedDuplicates : 0)
        }
        try core.checkKind(db, duplicates)
        return db
    }

    /// Deletes every entry of `db`, freeing all its pages. The database itself remains.
    public mutating func clear(_ db: Database = .main) throws(LarchError) {
        try core.clearTree(try core.tree(db))
    }

    /// Deletes the named database `db` and frees all its pages.
    public mutating func dropDatabase(_ db: Database) throws(LarchError) {
        guard db.index != TreeIndex.main else { throw .invalidDatabaseName(name: "", reason: "the main database cannot be dropped; use clear()") }
        try core.dropNamed(try core.tree(db))
    }

    /// Makes the changes durable and visible to new transactions (see `Durability`), and ends the
    /// transaction, which has ended too if it throws. Returns once the sync covering the commit
    /// has returned; that sync may cover the commits of other threads too (group commit), and the
    /// next write transaction may begin while it runs. An error before the meta page is written
    /// (most: `mapFull`, a failed page write) means nothing was committed. An error while the
    /// meta page is written or synced leaves it unknown whether the commit reached the disk: the
    /// environment then refuses further use (`environmentFailed`); reopen it to find out.
    @discardableResult
    public consuming func commit() throws(LarchError) -> CommitStats {
        try core.commitAndEnd()
    }

    /// `commit()` for async code: the task suspends while the sync runs, without blocking its thread.
    @discardableResult
    nonisolated(nonsending) public consuming func commit() async throws(LarchError) -> CommitStats {
        try await core.commitAndEndAsync()
    }
}

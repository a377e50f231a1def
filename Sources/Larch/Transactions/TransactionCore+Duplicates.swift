/// Sorted-duplicates databases as a transaction routes them: checks, then reads over the
/// snapshot or the write transaction's pages, and changes on the `WriteState`.
extension TransactionCore {
    /// Whether tree `tree` holds sorted duplicates.
    @inline(__always)
    func hasSortedDuplicates(_ tree: Int) -> Bool { treeRoot(tree).hasSortedDuplicates }

    /// The tree of `db`, which must hold sorted duplicates (else `incompatibleDatabase`).
    func duplicateTree(_ db: Database) throws(LarchError) -> Int {
        let t = try tree(db)
        guard hasSortedDuplicates(t) else {
            throw .incompatibleDatabase(name: db.name ?? "", reason: "it was not created with sorted duplicates, so it has no duplicate operations")
        }
        return t
    }

    /// The tree of `db` for an operation that sees one value per key (cursors, entries, forEach):
    /// refused on a database with sorted duplicates.
    func plainTree(_ db: Database, operation: String) throws(LarchError) -> Int {
        let t = try tree(db)
        if hasSortedDuplicates(t) {
            throw .incompatibleDatabase(name: db.name ?? "", reason: "it holds sorted duplicates; \(operation) sees one value per key — use duplicateCursor(_:), values(forKey:in:) or forEachDuplicate(in:_:)")
        }
        return t
    }

    /// Checks a value of a sorted-duplicates database: 1 ... maxKeySize bytes.
    func validateDuplicateValue(_ value: UnsafeRawBufferPointer) throws(LarchError) {
        guard value.count >= 1, value.count <= limits.maxKeySize else {
            throw .duplicateValueSize(size: value.count, limit: limits.maxKeySize)
        }
    }

    // MARK: Reads

    /// The stored values of `key` in sorted-duplicates tree `tree`, or nil when the key is absent.
    func duplicateSet(tree: Int, key: UnsafeRawBufferPointer) throws(LarchError) -> DuplicateSet? {
        guard let e = try lookup(tree: tree, key: key) else { return nil }
        return isWrite ? try writeReaderForDuplicates.duplicateSet(e) : try snapshot.pages.duplicateSet(e)
    }

    /// The stored values of leaf entry `e` of a sorted-duplicates tree.
    func duplicateSet(of e: LeafEntry) throws(LarchError) -> DuplicateSet {
        isWrite ? try writeReaderForDuplicates.duplicateSet(e) : try snapshot.pages.duplicateSet(e)
    }

    /// The pages this transaction reads duplicates from.
    private var writeReaderForDuplicates: WritePageReader {
        WritePageReader(pages: snapshot.pages, dirty: writeBox!.state.dirty.table.view, spilled: writeBox!.state.spilled)
    }

    /// The number of values in `set`.
    func duplicateCount(_ set: DuplicateSet) throws(LarchError) -> Int {
        isWrite ? try writeReaderForDuplicates.duplicateCount(set, maxLength: limits.maxKeySize)
                : try snapshot.pages.duplicateCount(set, maxLength: limits.maxKeySize)
    }

    /// Calls `body` with each value of `set` from the first `≥ lower`, until it returns false.
    func forEachDuplicate(_ set: DuplicateSet, from lower: [UInt8]?,
                          _ body: (UnsafeRawBufferPointer) throws(LarchError) -> Bool) throws(LarchError) {
        if isWrite {
            try writeReaderForDuplicates.forEachDuplicate(set, from: lower, maxLength: limits.maxKeySize, body)
        } else {
            try snapshot.pages.forEachDuplicate(set, from: lower, maxLength: limits.maxKeySize, body)
        }
    }

    /// The first value of `set` `≥ value` (`> value` when `strict`; nil value: the first).
    func duplicate(atLeast value: [UInt8]?, strict: Bool, in set: DuplicateSet) throws(LarchError) -> [UInt8]? {
        isWrite ? try writeReaderForDuplicates.duplicate(atLeast: value, strict: strict, in: set, maxLength: limits.maxKeySize)
                : try snapshot.pages.duplicate(atLeast: value, strict: strict, in: set, maxLength: limits.maxKeySize)
    }

    /// The last value of `set` `≤ value` (`< value` when not `inclusive`; nil value: the last).
    func duplicate(atMost value: [UInt8]?, inclusive: Bool, in set: DuplicateSet) throws(LarchError) -> [UInt8]? {
        isWrite ? try writeReaderForDuplicates.duplicate(atMost: value, inclusive: inclusive, in: set, maxLength: limits.maxKeySize)
                : try snapshot.pages.duplicate(atMost: value, inclusive: inclusive, in: set, maxLength: limits.maxKeySize)
    }

    /// The first value of `set`, in place (valid until the transaction ends or changes the database).
    func firstDuplicateBytes(_ set: DuplicateSet) throws(LarchError) -> UnsafeRawBufferPointer? {
        var first: UnsafeRawBufferPointer?
        try forEachDuplicate(set, from: nil) { v in first = v; return false }
        return first
    }

    // MARK: Changes

    /// Adds (key, value); returns false when the pair was present (or throws `duplicateExists`
    /// when `allowExisting` is false).
    func putDuplicate(tree: Int, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, allowExisting: Bool) throws(LarchError) -> Bool {
        try validateKey(key)
        try validateDuplicateValue(value)
        let added = try modifying { w throws(LarchError) in try w.putDuplicate(tree: tree, key: key, value: value) }
        if !added && !allowExisting { throw .duplicateExists }
        return added
    }

    /// Removes the pair (key, value); returns whether it was present.
    func deleteDuplicate(tree: Int, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws(LarchError) -> Bool {
        try validateKey(key)
        try validateDuplicateValue(value)
        return try modifying { w throws(LarchError) in try w.deleteDuplicate(tree: tree, key: key, value: value) }
    }

    /// Removes `key` with all its values; returns how many values it had.
    func deleteAllDuplicates(tree: Int, key: UnsafeRawBufferPointer) throws(LarchError) -> Int {
        try validateKey(key)
        return try modifying { w throws(LarchError) in try w.deleteAllDuplicates(tree: tree, key: key) }
    }
}

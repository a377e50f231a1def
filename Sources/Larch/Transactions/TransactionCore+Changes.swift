/// The changes of a write transaction: each checks the transaction and its input, then runs on the
/// `WriteState` in one access (`modifying`).
extension TransactionCore {
    /// Runs `body` on the write state, after checking that the transaction is active, writable and
    /// lends no view. A failure part-way marks the transaction failed (`WriteState.modifying`).
    @inline(__always)
    func modifying<R>(_ body: (inout WriteState) throws(LarchError) -> R) throws(LarchError) -> R {
        guard state == .active else { throw inactiveError }
        // Only `Transaction<ReadWrite>` and its cursors have changes, and they always have a write state.
        precondition(isWrite, "a change reached a read transaction")
        guard lentViews.load(ordering: .relaxed) == 0 else { throw .viewInUse }
        return try writeBox!.state.modifying(body)
    }

    /// Inserts or replaces `key`. With `overwrite: false`, an existing key throws `keyExists`.
    /// In a sorted-duplicates database, adds the pair (key, value) instead; with `overwrite: false`
    /// an existing key throws `keyExists` (LMDB's `MDB_NOOVERWRITE`).
    func put(tree: Int, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, overwrite: Bool = true) throws(LarchError) {
        try validateKey(key)
        guard value.count <= PageLimits.maxValueSize else { throw .valueTooLarge(size: value.count, limit: PageLimits.maxValueSize) }
        if hasSortedDuplicates(tree) {
            if !overwrite, try lookup(tree: tree, key: key) != nil { throw .keyExists }
            _ = try putDuplicate(tree: tree, key: key, value: value, allowExisting: true)
            return
        }
        try modifying { w throws(LarchError) in try w.put(tree: tree, key: key, value: value, overwrite: overwrite) }
    }

    /// Deletes `key`; returns whether it was present. In a sorted-duplicates database, deletes
    /// the key with all its values.
    func delete(tree: Int, key: UnsafeRawBufferPointer) throws(LarchError) -> Bool {
        try validateKey(key)
        if hasSortedDuplicates(tree) { return try deleteAllDuplicates(tree: tree, key: key) > 0 }
        return try modifying { w throws(LarchError) in try w.delete(tree: tree, key: key) }
    }

    /// Records a new, empty named database in the catalog.
    func createNamed(index: Int, name: String, flags: UInt16 = 0) throws(LarchError) {
        try modifying { w throws(LarchError) in try w.createNamed(index: index, name: name, flags: flags) }
    }

    /// Frees every page of `tree` and leaves it empty.
    func clearTree(_ tree: Int) throws(LarchError) {
        try modifying { w throws(LarchError) in try w.clearTree(tree) }
    }

    /// Frees every page of named database `tree` and deletes its catalog record.
    func dropNamed(_ tree: Int) throws(LarchError) {
        try modifying { w throws(LarchError) in try w.dropNamed(tree) }
    }
}

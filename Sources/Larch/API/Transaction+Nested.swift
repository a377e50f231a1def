/// Nested write transactions: a step of a write transaction that can fail alone.
extension Transaction where Mode == ReadWrite {
    /// Runs `body` in a nested (child) transaction of this one: its changes become part of this
    /// transaction when `body` returns, and are rolled back alone — this transaction goes on as
    /// it was before the call — when `body` throws. Returns what `body` returns.
    ///
    /// ```swift
    /// try env.write { txn in
    ///     try txn.put("started", forKey: "import:status")
    ///     for record in batch {
    ///         // A record that fails leaves no trace; the others are kept.
    ///         try? txn.nested { child in try importRecord(record, into: &child) }
    ///     }
    /// }
    /// ```
    ///
    /// - Nesting has any depth: `child.nested { grandchild in ... }`. Nothing reaches the file
    ///   before the outermost transaction commits, which writes exactly what one transaction
    ///   with the surviving changes would.
    /// - To discard the child's changes, throw from `body` (the child cannot be committed or
    ///   aborted by hand: `child.commit()` and `child.abort()` do not compile on the `inout`
    ///   parameter). The error is rethrown; catch it around the call to go on.
    /// - A child that failed part-way (for example `mapFull` during a split) is rolled back even
    ///   when `body` catches the error and returns: the call then throws that error, and the
    ///   parent is not marked failed.
    /// - While `body` runs, this transaction is out of reach: using it inside `body` does not
    ///   compile, a zero-copy view of it cannot be open, and its cursors throw
    ///   `nestedTransactionOpen`. Afterwards they work again, re-seeking to the key they were on
    ///   when the child changed their database (as after any change); the child's cursors
    ///   throw `transactionEnded` once `body` returned.
    /// - Cost: the pages the child changes (a page this transaction had changed already is
    ///   copied once into the child), not the size of this transaction.
    public mutating func nested<R>(_ body: (inout WriteTransaction) throws -> R) throws -> R {
        let childCore = try core.beginNested()
        var child = WriteTransaction(core: childCore)
        let result: R
        do {
            result = try body(&child)
        } catch {
            childCore.endIfActive()   // rolls the child back
            throw error
        }
        try childCore.commitNested()
        return result
    }

    /// `nested(_:)` for a body that suspends, in an async `Environment.write` (or any async
    /// code holding the write transaction): the child commits into this transaction when `body`
    /// returns and is rolled back alone when it throws. Other writers keep waiting meanwhile.
    nonisolated(nonsending) public mutating func nested<R>(_ body: nonisolated(nonsending) (inout WriteTransaction) async throws -> R) async throws -> R {
        let childCore = try core.beginNested()
        var child = WriteTransaction(core: childCore)
        let result: R
        do {
            result = try await body(&child)
        } catch {
            childCore.endIfActive()
            throw error
        }
        try childCore.commitNested()
        return result
    }
}

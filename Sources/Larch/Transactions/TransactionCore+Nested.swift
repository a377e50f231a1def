/// Nested write transactions as the API sees them: a child core shares its parent's write state
/// and has a lifecycle of its own; the parent is `suspended` while the child runs, so that the
/// parent's cursors (which the compiler cannot keep out of the child's closure) throw
/// `nestedTransactionOpen` instead of reading or changing the state under the child.
extension TransactionCore {
    /// Begins a nested transaction of this write transaction and suspends this one.
    func beginNested() throws(LarchError) -> TransactionCore {
        try checkActive()
        precondition(isWrite, "a nested transaction of a read transaction")
        guard lentViews.load(ordering: .relaxed) == 0 else { throw .viewInUse }
        // A transaction that failed part-way can only be aborted.
        if let f = writeBox!.state.failure { throw f }
        writeBox!.state.beginNested()
        stateStorage.store(.suspended, ordering: .relaxed)
        return TransactionCore(nestedIn: self)
    }

    /// Commits this nested transaction into its parent and ends it. When it had failed part-way,
    /// it is rolled back instead and the failure thrown; the parent is unaffected either way.
    func commitNested() throws(LarchError) {
        try checkActive()
        guard lentViews.load(ordering: .relaxed) == 0 else { throw .viewInUse }
        do {
            nestedLayerOpen = false
            try writeBox!.state.commitNested()
        } catch {
            end(as: .aborted)   // `commitNested` rolled the layer back
            throw error
        }
        end(as: .committed)
    }

    /// The end of a nested transaction (`release`): its layer rolled back unless it committed,
    /// its cursors forgotten (their views may be buffers given back), its parent active again.
    func endNested(parent: TransactionCore) {
        if nestedLayerOpen {
            nestedLayerOpen = false
            writeBox!.state.abortNested()
        }
        let cursors = writeBox!.state.cursors
        if !cursors.isEmpty {
            writeBox!.state.cursors = cursors.filter { _, c in c.state.map { $0.core !== self } ?? false }
        }
        parent.stateStorage.store(.active, ordering: .relaxed)
    }
}

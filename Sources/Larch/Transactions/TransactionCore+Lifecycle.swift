import Synchronization

/// How a transaction ends: what it gives back, and the views that hold off its end.
extension TransactionCore {
    /// Ends the transaction as aborted unless it has ended already.
    func endIfActive() {
        if state == .active { end(as: .aborted) }
    }

    /// Ends the transaction. While a zero-copy view is lent (a cursor's `withCurrent` whose
    /// closure ended the transaction), its bytes stay pinned until it returns.
    func end(as newState: State) {
        stateStorage.store(newState, ordering: .relaxed)
        if lentViews.load(ordering: .relaxed) > 0 {
            endDeferred.store(true, ordering: .relaxed)
            return
        }
        release()
    }

    /// Gives back what the ended transaction held: its reader slot, or its buffers and the writer.
    private func release() {
        if let slot = readerSlot {
            env.readers.release(slot: slot)
            readerSlot = nil
        }
        if let parent {
            endNested(parent: parent)
        } else if isWrite {
            // A transaction that did not commit gives back the file growth its spills made.
            if state != .committed, let size = writeBox!.state.abandonSpills() {
                env.committed.withLock { $0.fileSizeBytes = min($0.fileSizeBytes, size) }
            }
            writeBox!.state.finish()   // its buffers go back to the pool, under the writer lock
            env.writerEnded()          // the file's writer lock stays held while its commit waits for a meta
            env.writerLock.unlock()
        }
    }

    /// Runs `body`, which reads a zero-copy view of this transaction's pages (see `lentViews`).
    @inline(__always)
    func lendingView<R>(_ body: () throws -> R) rethrows -> R {
        // One thread at a time: a load and a store, no read-modify-write instruction.
        let lent = lentViews.load(ordering: .relaxed)
        lentViews.store(lent + 1, ordering: .relaxed)
        defer {
            lentViews.store(lent, ordering: .relaxed)
            if lent == 0 && endDeferred.load(ordering: .relaxed) {
                endDeferred.store(false, ordering: .relaxed)
                release()
            }
        }
        return try body()
    }
}

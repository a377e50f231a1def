/// How a transaction ends: what it gives back, and the views that hold off its end.
extension TransactionCore {
    /// Ends the transaction as aborted unless it has ended already.
    func endIfActive() {
        if state == .active { end(as: .aborted) }
    }

    /// Ends the transaction. While a zero-copy view is lent (a cursor's `withCurrent` whose
    /// closure ended the transaction), its bytes stay pinned until it returns.
    func end(as newState: State) {
        state = newState
        if lentViews > 0 {
            endDeferred = true
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
        if let w = write {
            w.releaseBuffers()
            env.writerLock.unlock()
        }
    }

    /// Runs `body`, which reads a zero-copy view of this transaction's pages (see `lentViews`).
    @inline(__always)
    func lendingView<R>(_ body: () throws -> R) rethrows -> R {
        lentViews += 1
        defer {
            lentViews -= 1
            if lentViews == 0 && endDeferred {
                endDeferred = false
                release()
            }
        }
        return try body()
    }

    /// Commits the write transaction and ends it, whether or not the commit succeeds.
    func commitAndEnd() throws(LarchError) -> CommitStats {
        try checkActive()
        guard lentViews == 0 else { throw .viewInUse }
        do {
            let stats = try commit()
            end(as: .committed)
            return stats
        } catch {
            end(as: .aborted)
            throw error
        }
    }
}

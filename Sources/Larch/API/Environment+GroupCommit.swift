import Dispatch
import Synchronization

/// Group commit (docs/CRASH-SAFETY.md): committers hand their written commits to `CommitQueue`;
/// one of them at a time leads — writes the newest commit's meta and syncs once — while the next
/// write transactions are built; every committer returns once a sync covers its commit.
extension Environment {
    /// What a committer does next.
    private enum Step {
        case done
        case failed(LarchError)
        case lead(CommitGroup)
        case wait
    }

    /// Hands a commit whose pages are written to the queue: the next write transaction of this
    /// process begins on it, and a group will write its meta.
    func enqueue(_ meta: MetaPage, mapping: Mapping, pages: [PageNumber], changes: DatabaseChanges) {
        committed.withLock { c in
            c.queue.pendingEvents.append(PendingCommitEvent(txn: meta.txnID, changes: changes))
            c.queue.unpublished = (meta, mapping)
            c.queue.waitingForMeta = true
            c.queue.rewritable.formUnion(pages)
        }
    }

    /// A page write of a transaction that rewrote waiting commits' pages in place failed: those
    /// commits may be damaged, and none of them may be published.
    func failWaitingCommits(_ error: LarchError) {
        CommitWaiter.wake(committed.withLock { c in
            c.queue.failure = error
            c.failure = "a page write failed after pages of commits waiting for their sync were rewritten: \(error)"
            c.queue.pendingEvents.removeAll()
            return c.queue.takeAll()
        })
    }

    /// The write transaction ended (committed into the queue, or aborted): releases the file's
    /// writer lock unless this process still needs it.
    func writerEnded() {
        CommitWaiter.wake(committed.withLock { c in
            c.queue.writerActive = false
            var woken: [CommitWaiter] = []
            if c.queue.rewritingWriterActive {
                c.queue.rewritingWriterActive = false
                woken = c.queue.takeCovered(upTo: c.meta.txnID)   // a group may form now: wake a leader
            }
            releaseFileLockIfIdle(&c)
            return woken
        })
    }

    /// Releases the file's writer lock when no write transaction of this process is open and no
    /// commit waits for its meta. (Called under the lock, so that no writer takes the flag between
    /// the decision and the `flock` call.)
    private func releaseFileLockIfIdle(_ c: inout Committed) {
        guard c.queue.holdsFileLock, !c.queue.writerActive, !c.queue.waitingForMeta, c.queue.inFlight == nil else { return }
        file.unlockWriter()
        c.queue.holdsFileLock = false
        c.queue.unpublished = nil   // another process may now commit on top of it
    }

    /// The next step of the committer waiting for transaction `txn`, under the lock.
    private func step(for txn: TransactionID, _ c: inout Committed) -> Step {
        if let failure = c.queue.failure { return .failed(failure) }
        if c.meta.txnID >= txn { return .done }
        guard c.queue.inFlight == nil, c.queue.waitingForMeta, !c.queue.rewritingWriterActive,
              let newest = c.queue.unpublished else { return .wait }
        let slot = 1 - c.metaSlot
        var meta = newest.meta
        meta.durableBase = c.meta.txnID
        c.queue.waitingForMeta = false
        c.queue.rewritable.removeAll(keepingCapacity: true)
        c.queue.inFlight = (meta, slot)
        return .lead(CommitGroup(meta: meta, mapping: newest.mapping, slot: slot))
    }

    /// Blocks until a sync covers commit `txn`, leading groups while none is in flight. Returns
    /// the syncs this caller made and the size of the group that covered its commit.
    func awaitDurable(_ txn: TransactionID) throws(LarchError) -> (syncs: Int, groupSize: Int, ledMeta: Bool) {
        var syncs = 0
        var ledOwn = false
        var groupSize = 1
        let semaphore = DispatchSemaphore(value: 0)
        while true {
            let next = committed.withLock { c -> Step in
                let s = step(for: txn, &c)
                if case .wait = s { c.queue.waiters.append((txn, .thread(semaphore))) }
                return s
            }
            switch next {
            case .done: return (syncs, groupSize, ledOwn)
            case .failed(let e): throw e
            case .wait: semaphore.wait()
            case .lead(let group):
                let size = try runGroup(group)
                syncs += options.durability == .noSync ? 0 : 1
                if group.meta.txnID >= txn && !ledOwn { ledOwn = true; groupSize = size }
            }
        }
    }

    /// `awaitDurable` for tasks: the task suspends while it waits; a group it should lead is synced
    /// on `syncQueue` instead (a sync blocks its thread, which must not be one of the cooperative pool).
    func awaitDurableAsync(_ txn: TransactionID) async throws(LarchError) -> (syncs: Int, groupSize: Int, ledMeta: Bool) {
        while true {
            let next = committed.withLock { c -> Step in step(for: txn, &c) }
            switch next {
            case .done: return (0, 1, false)
            case .failed(let e): throw e
            case .lead(let group):
                if options.durability == .noSync {
                    _ = try runGroup(group)
                    continue
                }
                syncQueue.async { [self] in leadOnQueue(group) }
            case .wait: break
            }
            await withCheckedContinuation { (k: CheckedContinuation<Void, Never>) in
                let now = committed.withLock { c -> Bool in
                    if c.queue.failure != nil || c.meta.txnID >= txn { return true }
                    if c.queue.inFlight == nil && c.queue.waitingForMeta && !c.queue.rewritingWriterActive { return true }   // lead it
                    c.queue.waiters.append((txn, .task(k)))
                    return false
                }
                if now { k.resume() }
            }
        }
    }

    /// Runs `group` on `syncQueue` (its committers are woken when it is done, or fails).
    private func leadOnQueue(_ group: CommitGroup) {
        _ = try? runGroup(group)
    }

    /// Writes the group's meta, syncs, and publishes the group; returns the number of commits it
    /// covered. A failure makes the environment refuse further use: whether the meta reached the
    /// disk is unknown.
    @discardableResult
    private func runGroup(_ group: CommitGroup) throws(LarchError) -> Int {
        do {
            try withUnsafeTemporaryAllocation(byteCount: pageSize, alignment: 16) { page throws(LarchError) in
                group.meta.encodePage(at: page.baseAddress!, pageSize: pageSize)
                try file.write(UnsafeRawBufferPointer(page), at: group.slot * pageSize)
            }
            if options.durability != .noSync { try file.sync() }
        } catch {
            CommitWaiter.wake(committed.withLock { c in
                c.queue.failure = error
                c.failure = "committing transaction \(group.meta.txnID) failed after writing its meta page: \(error)"
                c.queue.pendingEvents.removeAll()
                c.queue.inFlight = nil
                releaseFileLockIfIdle(&c)
                return c.queue.takeAll()
            })
            throw error
        }
        readers.publish(upTo: group.meta.txnID)
        let (covered, woken) = committed.withLock { c -> (Int, [CommitWaiter]) in
            // Another process may have published past this group meanwhile (it synced it first).
            let covered = group.meta.txnID > c.meta.txnID ? Int(group.meta.txnID.rawValue - c.meta.txnID.rawValue) : 1
            c.queue.inFlight = nil
            if group.meta.txnID > c.meta.txnID {
                c.meta = group.meta
                c.metaSlot = group.slot
                if group.mapping.sizeBytes > c.mapping.sizeBytes { c.mapping = group.mapping }
                c.fileSizeBytes = max(c.fileSizeBytes, Int(group.meta.pageCount) * pageSize)
            }
            if let u = c.queue.unpublished, u.meta.txnID <= c.meta.txnID, !c.queue.waitingForMeta {
                c.queue.unpublished = nil
            }
            // Subscribers learn of each commit of the group, in order, now that it is published.
            let published = c.queue.pendingEvents.prefix { $0.txn <= group.meta.txnID }
            if !published.isEmpty {
                for e in published { c.observers.report(e) }
                c.queue.pendingEvents.removeFirst(published.count)
            }
            releaseFileLockIfIdle(&c)
            return (max(covered, 1), c.queue.takeCovered(upTo: c.meta.txnID))
        }
        CommitWaiter.wake(woken)
        return covered
    }

    /// Waits until every commit of this process is published (for `close`).
    func drainCommits() throws(LarchError) {
        while let pending = pendingCommit() { _ = try awaitDurable(pending) }
    }

    /// The newest commit of this process not yet published (waiting for its meta, or syncing).
    func pendingCommit() -> TransactionID? {
        committed.withLock { c -> TransactionID? in
            if c.queue.failure != nil { return nil }
            if c.queue.waitingForMeta, let u = c.queue.unpublished { return u.meta.txnID }
            return c.queue.inFlight?.meta.txnID
        }
    }
}

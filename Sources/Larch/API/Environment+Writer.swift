import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The write transaction: taking the writer turn (threads block, tasks suspend), the state it
/// begins on, and the `write` and `read` entry points.
extension Environment {
    /// Begins the write transaction, blocking the calling thread while another one is open. End it
    /// with `commit()` or `abort()` (dropping it aborts). Throws `nestedWriteTransaction` if this
    /// thread has it open already. From async code, use `write(_:) async`, which suspends instead
    /// of blocking a thread of the cooperative pool (blocked, those threads could not run the task
    /// that holds the writer).
    public func beginWrite() throws(LarchError) -> WriteTransaction {
        try beginWrite(rewriting: false)
    }

    /// `beginWrite()`; with `rewriting`, for closure-scoped transactions (`beginWriteHoldingLocks`).
    private func beginWrite(rewriting: Bool) throws(LarchError) -> WriteTransaction {
        guard !options.readOnly else { throw .readOnlyEnvironment }
        let started = ContinuousClock.now
        try writerLock.lock(timeout: options.writerTimeout)
        let left = options.writerTimeout.map { max(.zero, $0 - (ContinuousClock.now - started)) }
        do {
            if try shouldYieldFileLock() {
                try drainCommits()
                yieldFileLock()
            }
            if try !takeFileLockIfHeld() {
                readers.writerWaiting(+1)
                defer { readers.writerWaiting(-1) }
                try file.lockWriter(timeout: left)
                markFileLockTaken()
            }
        } catch {
            writerEnded()   // a writer marked active to drain its commits is not (and the lock goes, if idle)
            writerLock.unlock()
            throw timeoutNamingConfiguredWait(error)
        }
        return try beginWriteHoldingLocks(rewriting: rewriting)
    }

    /// Begins the write transaction, suspending the calling task (never blocking its thread) while
    /// another write transaction is open, in this process or another.
    func beginWriteAsync(rewriting: Bool) async throws(LarchError) -> WriteTransaction {
        guard !options.readOnly else { throw .readOnlyEnvironment }
        await writerLock.lockAsync()
        do throws(LarchError) {
            if try shouldYieldFileLock() {
                while let pending = pendingCommit() { _ = try await awaitDurableAsync(pending) }
                yieldFileLock()
            }
            if try !takeFileLockIfHeld() {
                readers.writerWaiting(+1)
                defer { readers.writerWaiting(-1) }
                // flock cannot be awaited: try, and sleep the task a little longer each time.
                let clock = ContinuousClock()
                let deadline = options.writerTimeout.map { clock.now + $0 }
                var pause = Duration.microseconds(200)
                while try !file.tryLockWriter() {
                    if let deadline, clock.now >= deadline { throw LarchError.writerTimeout(seconds: options.writerTimeout!.inSeconds) }
                    try? await Task.sleep(for: pause)
                    pause = min(pause * 2, .milliseconds(20))
                }
                markFileLockTaken()
            }
        } catch {
            writerEnded()   // a writer marked active to drain its commits is not (and the lock goes, if idle)
            writerLock.unlock()
            throw error
        }
        return try beginWriteHoldingLocks(rewriting: rewriting)
    }

    private func timeoutNamingConfiguredWait(_ error: LarchError) -> LarchError {
        // The message names the configured wait, not what was left of it for this step.
        if case .writerTimeout = error, let configured = options.writerTimeout { return .writerTimeout(seconds: configured.inSeconds) }
        return error
    }

    /// When this process already holds the file's writer lock (its group of commits is on the
    /// way), marks the writer active and returns true: the lock stays held for it.
    private func takeFileLockIfHeld() throws(LarchError) -> Bool {
        try committed.withLock { c throws(LarchError) in
            guard !c.closed else { throw LarchError.environmentClosed }
            guard c.queue.holdsFileLock else { return false }
            c.queue.writerActive = true
            return true
        }
    }

    private func markFileLockTaken() {
        committed.withLock { c in
            c.queue.holdsFileLock = true
            c.queue.writerActive = true
            c.queue.fileLockTakenAt = .now
        }
    }

    /// How long a process keeps the file's writer lock through a run of groups while a writer of
    /// another process waits for it.
    static let fileLockTurn = Duration.milliseconds(5)

    /// Whether this writer (holding the process's writer turn) should first let this process's
    /// commits drain and give the file's writer lock up: the process has held it for a turn while
    /// another process's writer waits. Without this, a process whose threads commit without pause
    /// would keep it for ever (it releases it only when idle).
    ///
    /// When it should, this writer counts as active from here (`writerActive`): the commits drain
    /// without the lock going on an idle moment between them, and `yieldFileLock` gives it up
    /// itself — and learns whether anyone took it.
    private func shouldYieldFileLock() throws(LarchError) -> Bool {
        guard readers.writersWaiting > 0 else { return false }
        return try committed.withLock { c throws(LarchError) in
            guard !c.closed else { throw LarchError.environmentClosed }
            guard c.queue.holdsFileLock, let since = c.queue.fileLockTakenAt, ContinuousClock.now - since > Self.fileLockTurn else { return false }
            c.queue.writerActive = true
            return true
        }
    }

    /// Releases the file's writer lock once the commits drained, and waits (at most 20 ms) until a
    /// waiting writer of another process took it, so that this one does not take it back first.
    private func yieldFileLock() {
        let waiting = readers.writersWaiting
        let released = committed.withLock { c -> Bool in
            c.queue.writerActive = false   // set by shouldYieldFileLock; this writer waits for the lock like any other now
            guard c.queue.holdsFileLock, !c.queue.waitingForMeta, c.queue.inFlight == nil else { return false }
            file.unlockWriter()
            c.queue.holdsFileLock = false
            c.queue.unpublished = nil
            return true
        }
        guard released, waiting > 0 else { return }
        let deadline = ContinuousClock.now + .milliseconds(20)
        while readers.writersWaiting >= waiting && ContinuousClock.now < deadline { usleep(50) }
        // No one took it: the writers counted are gone (killed while they waited); a live one blocks
        // in flock and gets the lock within microseconds. Their count goes, so that holders stop
        // giving the lock up for them.
        if readers.writersWaiting >= waiting { readers.forgetWaitingWriters(waiting) }
    }

    /// Begins the write transaction once this caller has the writer turn and the file's writer lock.
    /// With `rewriting`, it may rewrite in place the pages of this process's commits that wait for
    /// their meta (`WriteState.rewritable`): only for a transaction that ends without suspending
    /// (a closure-scoped synchronous body), since no group can take those commits until it ends.
    private func beginWriteHoldingLocks(rewriting: Bool) throws(LarchError) -> WriteTransaction {
        do {
            let (meta, mapping, rewritable) = try writerBase(rewriting: rewriting)
            let snapshot = Snapshot(meta: meta, mapping: mapping, verifyChecksums: options.verifyChecksums)
            var w = WriteState(txnID: meta.txnID.next, snapshot: snapshot, buffers: buffers, maxSizeBytes: options.maxSize,
                               reuseBound: oldestNeededSnapshot(current: meta.txnID))
            w.allocator.reuseFreedAtOnce = unsafeBehaviour.contains(.reuseFreedPagesAtOnce)
            w.rewritable = rewritable
            w.trimsFreeTail = options.shrinkWithCommits
            if options.maxDirtyBytes < Int.max {
                w.spillLimitPages = max(options.maxDirtyBytes / meta.pageSize, 1)
                w.spillSetup = SpillSetup(device: file, options: options, limitPages: w.spillLimitPages)
            }
            try w.loadPinBound()
            if options.shrinkWithCommits && rewritable.isEmpty { cutFileTailIfWorthIt(pageCount: meta.pageCount) }
            return WriteTransaction(core: TransactionCore(env: self, write: w))
        } catch {
            writerEnded()
            writerLock.unlock()
            throw error
        }
    }

    /// The state the write transaction begins on: this process's newest commit while it is on its
    /// way to the disk; otherwise the newest meta in the file. A meta newer than the published
    /// transaction was left by a process that died before its sync, or is being synced by another
    /// process now: it is checked like at open, then synced and published before anything builds
    /// on it (a commit that did not reach the page cache whole is passed over).
    private func writerBase(rewriting: Bool) throws(LarchError) -> (MetaPage, Mapping, Set<PageNumber>) {
        try committed.withLock { c throws(LarchError) in
            guard !c.closed else { throw LarchError.environmentClosed }
            if let f = c.failure { throw LarchError.environmentFailed(reason: f) }
            if let failure = c.queue.failure { throw failure }
            if let own = c.queue.unpublished {
                guard rewriting, c.queue.waitingForMeta, !c.queue.rewritable.isEmpty else { return (own.meta, own.mapping, []) }
                c.queue.rewritingWriterActive = true
                return (own.meta, own.mapping, c.queue.rewritable)
            }
            let (meta, mapping) = try writerBaseFromFile(&c)
            return (meta, mapping, [])
        }
    }

    /// `writerBase` when this process has no commit on its way: the newest meta in the file.
    private func writerBaseFromFile(_ c: inout Committed) throws(LarchError) -> (MetaPage, Mapping) {
        _ = try newest(&c)
        let published = max(readers.publishedTxn, c.meta.txnID)
        guard let (found, slot) = Self.newestMeta(in: c.mapping, pageSize: pageSize), found.txnID > published else {
            return (c.meta, c.mapping)
        }
        if let flight = c.queue.inFlight, flight.meta == found {
            // This process's own group, still syncing: build on it as on any unpublished commit.
            c.queue.unpublished = (found, c.mapping)
            return (found, c.mapping)
        }
        try cover(found, &c)
        var verifier = CommitVerifier(meta: found, mapping: c.mapping)
        guard (try? verifier.run()) != nil else { return (c.meta, c.mapping) }
        if options.durability != .noSync { try file.sync() }
        readers.publish(upTo: found.txnID)
        try adopt(found, slot: slot, &c)
        return (c.meta, c.mapping)
    }

    /// Runs `body` in a read transaction and ends it (the async form of `read(_:)`: a read never
    /// waits, but this overload lets async code call `read` without a blocking-call warning).
    nonisolated(nonsending) public func read<R>(_ body: (borrowing ReadTransaction) throws -> R) async throws -> R {
        let txn = try beginRead()
        return try body(txn)
    }

    /// Runs `body` in a read transaction and ends it. `body` may suspend; the snapshot stays
    /// pinned until it returns (a long suspension keeps pages from being reused, like any long reader).
    nonisolated(nonsending) public func read<R>(_ body: (borrowing ReadTransaction) async throws -> R) async throws -> R {
        let txn = try beginRead()
        return try await body(txn)
    }

    /// Runs `body` in a write transaction: commits when it returns, aborts when it throws.
    /// Blocks the calling thread while another write transaction is open (see `beginWrite()`) and
    /// until the commit is durable; from async code, use `write(_:) async`. `body` cannot end the
    /// transaction itself; to discard its changes, throw. The commit's statistics are in `lastCommit`.
    public func write<R>(_ body: (inout WriteTransaction) throws -> R) throws -> R {
        var txn = try beginWrite(rewriting: true)
        let result = try body(&txn)   // a throw drops (aborts) the transaction
        try txn.commit()
        return result
    }

    /// Runs `body` in a write transaction: commits when it returns, aborts when it throws. While
    /// another write transaction is open, and while the sync that makes the commit durable runs,
    /// the calling task suspends — it never blocks its thread — and writers are served in the
    /// order they arrived. (Swift picks this form for a synchronous `body` in async code.)
    nonisolated(nonsending) public func write<R>(_ body: (inout WriteTransaction) throws -> R) async throws -> R {
        var txn = try await beginWriteAsync(rewriting: true)
        let result = try body(&txn)
        try await txn.commit()
        return result
    }

    /// Runs `body` in a write transaction: commits when it returns, aborts when it throws. While
    /// another write transaction is open, and while the sync that makes the commit durable runs,
    /// the calling task suspends — it never blocks its thread — and writers are served in the
    /// order they arrived. `body` may suspend too, holding the writer turn meanwhile: other
    /// writers wait (suspended) until it returns, readers do not.
    nonisolated(nonsending) public func write<R>(_ body: (inout WriteTransaction) async throws -> R) async throws -> R {
        var txn = try await beginWriteAsync(rewriting: false)
        let result = try await body(&txn)
        try await txn.commit()
        return result
    }

    /// Makes every commit durable: under `Durability.noSync`, commits are published without a
    /// sync, and this is the sync.
    public func sync() throws(LarchError) {
        let txn = try committed.withLock { c throws(LarchError) in
            guard !c.closed else { throw LarchError.environmentClosed }
            return c.meta.txnID
        }
        try file.sync()
        readers.publish(upTo: txn)
    }
}

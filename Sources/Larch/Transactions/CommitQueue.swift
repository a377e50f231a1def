import Dispatch

/// This process's commits on their way from the writer to the disk: the state of group commit
/// (docs/CRASH-SAFETY.md, "Group commit"). Kept in `Environment.Committed`, under its lock.
///
/// A write transaction writes its pages when it commits and hands its meta here; the writer turn
/// then passes on, and the next transaction builds on that commit before it is durable. One
/// committer at a time leads: it writes the meta of the newest commit waiting (one meta covers all
/// of them, since each contains the ones before it) and syncs once; then every commit up to that
/// meta is published and its caller returns. Commits that arrive during the sync form the next group.
struct CommitQueue {
    /// The newest commit of this process not yet published, and the map that covers it: the next
    /// write transaction of this process begins on it. Nil when this process has none, or has
    /// released the file's writer lock since (another process may have committed on top).
    var unpublished: (meta: MetaPage, mapping: Mapping)?
    /// `unpublished` waits for a group to take it (its meta is not written yet).
    var waitingForMeta = false
    /// The group whose meta is written and whose sync runs now, and the meta page it went to.
    var inFlight: (meta: MetaPage, slot: Int)?
    /// A write transaction of this process is open.
    var writerActive = false
    /// Single pages written by the commits that wait for their meta: the next writer may rewrite
    /// them in place (`WriteState.rewritable`). Emptied when a group takes those commits. Only
    /// commits of at most `maxRewritablePages` pages add theirs: rewriting in place pays for the
    /// small commits that share a group (their root and branches); hashing every page of a bulk
    /// commit cost 5% of the instructions of a random fill in transactions of 1,000 puts. A page
    /// left out is copied on write as usual.
    var rewritable: Set<PageNumber> = []
    static let maxRewritablePages = 64
    /// The open write transaction may rewrite pages of waiting commits: no group may take them
    /// (write their meta) until it ends, since its commit would then overwrite published pages.
    var rewritingWriterActive = false
    /// This process holds the file's writer lock. It keeps it from the first commit of a group
    /// until the group's meta is written, so that no other process builds on the file's older meta
    /// meanwhile.
    var holdsFileLock = false
    /// When this process last took the file's writer lock.
    var fileLockTakenAt: ContinuousClock.Instant?
    /// Committers waiting for a sync to cover their commit (or to lead the next one), with the
    /// transaction each waits for.
    var waiters: [(txn: TransactionID, waiter: CommitWaiter)] = []
    /// The sync failed: nothing after the last published commit can be trusted.
    var failure: LarchError?
    /// This process's commits not yet published, oldest first, with the databases each changed:
    /// reported to `Environment.commits` subscribers when their group is published.
    var pendingEvents: [PendingCommitEvent] = []

    /// Takes every waiter, to be woken (each checks again whether its commit is covered, or leads).
    /// The caller wakes them after releasing the lock (`CommitWaiter.wake(_:)`).
    mutating func takeAll() -> [CommitWaiter] {
        let all = waiters.map(\.waiter)
        waiters.removeAll(keepingCapacity: true)
        return all
    }

    /// After a group is published: takes the waiters whose commits it covered, and, when commits
    /// wait for a meta and no sync runs, the oldest other waiter, to lead them; the caller wakes
    /// them after releasing the lock. The rest sleep on: waking every waiter after every group
    /// cost a context switch per waiter on two cores.
    mutating func takeCovered(upTo published: TransactionID) -> [CommitWaiter] {
        var leaderWoken = !(waitingForMeta && inFlight == nil && !rewritingWriterActive)
        var woken: [CommitWaiter] = []
        var kept: [(txn: TransactionID, waiter: CommitWaiter)] = []
        for w in waiters {
            if w.txn <= published {
                woken.append(w.waiter)
            } else if !leaderWoken {
                leaderWoken = true
                woken.append(w.waiter)
            } else {
                kept.append(w)
            }
        }
        waiters = kept
        return woken
    }
}

/// A committer waiting in `CommitQueue`: a blocked thread or a suspended task.
///
/// Waiters are woken after the environment's lock is released, never under it: a woken thread
/// may preempt the waker on its processor, and a lock holder descheduled there makes every other
/// committer spin in the lock's slow path (a third of the processor time of 16 writer threads).
enum CommitWaiter {
    case thread(DispatchSemaphore)
    case task(CheckedContinuation<Void, Never>)

    func wake() {
        switch self {
        case .thread(let s): s.signal()
        case .task(let c): c.resume()
        }
    }

    /// Wakes each of `waiters`.
    static func wake(_ waiters: [CommitWaiter]) {
        for w in waiters { w.wake() }
    }
}

/// A group of commits to make durable: the newest commit's meta, where it goes, and what it needs.
struct CommitGroup {
    var meta: MetaPage
    var mapping: Mapping
    /// The meta page (0 or 1) to write: the one not holding the published meta.
    var slot: Int
}

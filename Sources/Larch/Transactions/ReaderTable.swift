import Atomics

/// The table of live read transactions and the snapshot (transaction id) each one pins, shared by
/// every process that has the database open: the reader slots of the lock file
/// (`LockFileLayout`), or, when there is no lock file (a simulated disk, read-only media), the same
/// layout in this process's memory.
///
/// The writer asks it for the oldest pinned snapshot before reusing pages from the free tree:
/// pages freed by transaction `T` are reused only when every reader's snapshot is `≥ T`. Slots of
/// processes that died are reclaimed whenever the writer asks, or a reader finds no free slot.
///
/// A reader claims a slot (compare-and-swap of the owner field), publishes the snapshot it is about
/// to read, then checks that the snapshot is still the newest (`Environment.beginRead`): a writer
/// that looked at the table before the publication committed at most once since, and the pages it
/// reused were freed by transactions the new snapshot no longer reaches.
final class ReaderTable: @unchecked Sendable {
    // @unchecked: `base` points into memory shared with other processes (or owned by `storage`);
    // every access to it is atomic, and `base`, `storage` and `capacity` never change.
    private let storage: AnyObject
    private let base: UnsafeMutableRawPointer
    let capacity: Int
    private let me = ProcessIdentity.current

    /// The reader slots of `lockFile`.
    init(lockFile: LockFile) {
        storage = lockFile
        base = lockFile.base
        capacity = lockFile.slotCount
    }

    /// A table of `capacity` slots in this process's memory.
    init(capacity: Int) {
        let local = LocalSlots(capacity: capacity)
        storage = local
        base = local.base
        self.capacity = capacity
    }

    @inline(__always)
    private func field(_ slot: Int, _ offset: Int) -> UnsafeAtomic<UInt64> {
        LockFile.word(in: base, at: LockFileLayout.offset(slot: slot, field: offset))
    }

    /// Claims a free slot for a read transaction of this process; throws `readersFull` when every
    /// slot belongs to a live reader.
    func claim() throws(LarchError) -> Int {
        for attempt in 0..<2 {
            for i in 0..<capacity {
                let owner = field(i, LockFileLayout.ownerOffset)
                guard owner.load(ordering: .relaxed) == 0,
                      owner.compareExchange(expected: 0, desired: me.pid, ordering: .acquiringAndReleasing).exchanged else { continue }
                field(i, LockFileLayout.startTimeOffset).store(me.startTime, ordering: .relaxed)
                field(i, LockFileLayout.beganOffset).store(ProcessIdentity.wallClockNanoseconds(), ordering: .relaxed)
                field(i, LockFileLayout.expiredOffset).store(0, ordering: .relaxed)
                field(i, LockFileLayout.snapshotOffset).store(LockFileLayout.noSnapshot, ordering: .sequentiallyConsistent)
                return i
            }
            if attempt == 0 && reclaimStale() == 0 { break }
        }
        throw .readersFull(limit: capacity)
    }

    /// Publishes the snapshot the reader in `slot` reads.
    func publish(slot: Int, snapshot: TransactionID) {
        field(slot, LockFileLayout.snapshotOffset).store(snapshot.rawValue, ordering: .sequentiallyConsistent)
    }

    /// Releases a slot claimed by `claim`. Its start time is zeroed first: see `reclaimStale`.
    func release(slot: Int) {
        field(slot, LockFileLayout.snapshotOffset).store(LockFileLayout.noSnapshot, ordering: .releasing)
        field(slot, LockFileLayout.startTimeOffset).store(0, ordering: .releasing)
        let was = field(slot, LockFileLayout.ownerOffset).exchange(0, ordering: .releasing)
        precondition(was == me.pid, "reader slot released by another process or twice")
    }

    /// The oldest snapshot pinned by a live reader of any process, or nil when there are none.
    /// Reclaims the slots of dead processes first. With `maxLag`, a reader more than `maxLag`
    /// commits behind `current` is expired instead: marked (its next access throws
    /// `snapshotExpired`) and left out, so that its pages may be reused.
    func oldestSnapshot(current: TransactionID? = nil, maxLag: UInt64? = nil) -> TransactionID? {
        reclaimStale()
        var oldest = LockFileLayout.noSnapshot
        for i in 0..<capacity where field(i, LockFileLayout.ownerOffset).load(ordering: .sequentiallyConsistent) != 0 {
            let snapshot = field(i, LockFileLayout.snapshotOffset).load(ordering: .sequentiallyConsistent)
            let expired = field(i, LockFileLayout.expiredOffset)
            if expired.load(ordering: .sequentiallyConsistent) != 0 { continue }
            if let maxLag, let current, snapshot != LockFileLayout.noSnapshot, snapshot &+ maxLag < current.rawValue {
                // Marked before any of its pages can be reused (they are written only later, in
                // this writer's commit): a reader that checks the mark after reading cannot have
                // read a reused page without seeing it.
                expired.store(1, ordering: .sequentiallyConsistent)
                continue
            }
            oldest = min(oldest, snapshot)
        }
        return oldest == LockFileLayout.noSnapshot ? nil : TransactionID(oldest)
    }

    /// The expiry mark of the reader in `slot`, for `TransactionCore` to check (`isExpired`).
    func expiryMark(slot: Int) -> UnsafeAtomic<UInt64> { field(slot, LockFileLayout.expiredOffset) }

    /// Whether the mark says a writer expired its reader. Called after reading from the snapshot:
    /// the fence keeps the page reads before the mark's (an acquiring fence: nothing on x86, a
    /// load barrier on ARM; a sequentially consistent one cost a tenth of a random read).
    @inline(__always)
    static func isExpired(_ mark: UnsafeAtomic<UInt64>) -> Bool {
        atomicMemoryFence(ordering: .acquiring)
        return mark.load(ordering: .relaxed) != 0
    }

    /// Frees the slots of processes that no longer run; returns how many.
    ///
    /// A free slot's start time is always 0: `release` and this method zero it before they free the
    /// owner. A claim sets the owner first and the start time after it, so a slot being claimed
    /// shows its new owner with start time 0, which is judged by the pid alone (alive: kept). Had
    /// a freed slot kept its dead owner's start time, a claim caught between its two stores would
    /// look like a dead process (the new pid with the old start time): its slot would be freed
    /// under it, the writer would stop seeing its snapshot and reuse its pages, and two readers
    /// could share the slot.
    @discardableResult
    func reclaimStale() -> Int {
        var freed = 0
        for i in 0..<capacity {
            let owner = field(i, LockFileLayout.ownerOffset)
            let pid = owner.load(ordering: .acquiring)
            guard pid != 0 else { continue }
            let startTime = field(i, LockFileLayout.startTimeOffset)
            let started = startTime.load(ordering: .acquiring)
            if pid == me.pid && (started == me.startTime || started == 0) { continue }   // ours (or being claimed)
            guard !ProcessIdentity.isAlive(pid: pid, startTime: started) else { continue }
            // Zero the start time while the slot is still owned (nobody can claim it meanwhile); if
            // it changed, another process reclaimed it, or its owner is not the one judged dead.
            guard startTime.compareExchange(expected: started, desired: 0, ordering: .acquiringAndReleasing).exchanged else { continue }
            if owner.compareExchange(expected: pid, desired: 0, ordering: .acquiringAndReleasing).exchanged { freed += 1 }
        }
        return freed
    }

    /// One taken slot, as `slots()` reads it.
    struct Slot {
        var index: Int
        var pid: UInt64
        var startTime: UInt64
        var snapshot: TransactionID?
        var beganNanoseconds: UInt64
        var isLive: Bool
        var isExpired: Bool
    }

    /// The taken slots, with whether their process still runs.
    func slots() -> [Slot] {
        (0..<capacity).compactMap { i in
            let pid = field(i, LockFileLayout.ownerOffset).load(ordering: .acquiring)
            guard pid != 0 else { return nil }
            let started = field(i, LockFileLayout.startTimeOffset).load(ordering: .relaxed)
            let snapshot = field(i, LockFileLayout.snapshotOffset).load(ordering: .acquiring)
            let live = (pid == me.pid && (started == me.startTime || started == 0)) || ProcessIdentity.isAlive(pid: pid, startTime: started)
            return Slot(index: i, pid: pid, startTime: started,
                        snapshot: snapshot == LockFileLayout.noSnapshot ? nil : TransactionID(snapshot),
                        beganNanoseconds: field(i, LockFileLayout.beganOffset).load(ordering: .relaxed), isLive: live,
                        isExpired: field(i, LockFileLayout.expiredOffset).load(ordering: .relaxed) != 0)
        }
    }

    /// The number of live readers (of every process).
    var activeCount: Int {
        (0..<capacity).reduce(0) { $0 + (field($1, LockFileLayout.ownerOffset).load(ordering: .relaxed) != 0 ? 1 : 0) }
    }

    /// The newest published commit: its pages and meta are whole and, unless it was committed
    /// with `noSync`, durable. Read transactions of every process begin on the newest meta not
    /// newer than it; a writer that finds a newer meta checks it and syncs before building on it.
    var publishedTxn: TransactionID {
        TransactionID(LockFile.word(in: base, at: LockFileLayout.publishedTxnOffset).load(ordering: .acquiring))
    }

    /// Writers of any process waiting for the writer lock (`flock`) now.
    var writersWaiting: UInt64 {
        LockFile.word(in: base, at: LockFileLayout.writersWaitingOffset).load(ordering: .relaxed)
    }

    /// Counts this process's writer as waiting for the writer lock (`+1`), or no longer (`-1`,
    /// never below 0: `forgetWaitingWriters` may have taken its count away already).
    func writerWaiting(_ delta: Int) {
        let w = LockFile.word(in: base, at: LockFileLayout.writersWaitingOffset)
        if delta > 0 { w.wrappingIncrement(ordering: .relaxed) } else { forgetWaitingWriters(1) }
    }

    /// Takes `count` waiting writers off the count (not below 0): a holder that gave the writer
    /// lock up and saw no one take it for 20 ms counted writers that are gone — a process killed
    /// while it waited never takes its count back, and the count would make every holder give the
    /// lock up for nothing.
    func forgetWaitingWriters(_ count: UInt64) {
        let w = LockFile.word(in: base, at: LockFileLayout.writersWaitingOffset)
        var current = w.load(ordering: .relaxed)
        while current > 0 {
            let (exchanged, original) = w.weakCompareExchange(expected: current, desired: current - min(current, count), ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }

    /// Raises `publishedTxn` to `txn`.
    func publish(upTo txn: TransactionID) {
        let a = LockFile.word(in: base, at: LockFileLayout.publishedTxnOffset)
        var current = a.load(ordering: .relaxed)
        while current < txn.rawValue {
            let (done, found) = a.compareExchange(expected: current, desired: txn.rawValue, ordering: .acquiringAndReleasing)
            if done { break }
            current = found
        }
    }
}

/// The reader slots of a database without a lock file, in this process's memory.
private final class LocalSlots {
    let base: UnsafeMutableRawPointer
    let size: Int

    init(capacity: Int) {
        size = LockFileLayout.size(slots: capacity)
        base = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
        LockFileLayout.initialize(base, slots: capacity)
    }

    deinit { base.deallocate() }
}

import Synchronization

/// A commit of this environment waiting for its sync, and what it changed: published as a
/// `CommitEvent` when its group is (`Environment+GroupCommit`).
struct PendingCommitEvent {
    let txn: TransactionID
    let changes: DatabaseChanges
}

/// The subscribers of `Environment.commits` and the newest transaction reported to them. Kept in
/// `Environment.Committed`, under its lock, so that events leave in transaction order.
struct CommitObservers {
    var subscribers: [ObjectIdentifier: CommitSubscriber] = [:]
    /// Every transaction up to this one has been reported (to the subscribers of the time).
    var reported: TransactionID

    /// Reports the commits of other processes up to `bound`, if any are unreported.
    mutating func reportElsewhere(upTo bound: TransactionID, changes: DatabaseChanges? = nil) {
        guard bound > reported else { return }
        let event = CommitEvent(transactions: reported.next.rawValue...bound.rawValue, isFromThisEnvironment: false, changes: changes)
        reported = bound
        for s in subscribers.values { s.deliver(event) }
    }

    /// Reports a commit of this environment, and first those of others it was built on.
    mutating func report(_ commit: PendingCommitEvent) {
        guard commit.txn > reported else { return }
        reportElsewhere(upTo: TransactionID(commit.txn.rawValue - 1))
        let event = CommitEvent(transactions: commit.txn.rawValue...commit.txn.rawValue, isFromThisEnvironment: true, changes: commit.changes)
        reported = commit.txn
        for s in subscribers.values { s.deliver(event) }
    }

    mutating func finishAll() {
        for s in subscribers.values { s.finish(discarding: false) }
        subscribers.removeAll()
    }
}

/// What the poller of other processes' commits last saw: a snapshot, its main tree's descriptor
/// and its catalog (each named database's descriptor record). Two of them give the databases
/// changed between their snapshots: every change makes a new root, so a new descriptor.
struct PolledState {
    var txn: TransactionID
    var main: TreeRoot
    var catalog: TreeRoot
    var records: [String: [UInt8]]

    /// The databases whose descriptors differ from `earlier`'s.
    func changes(since earlier: PolledState) -> DatabaseChanges {
        var d = DatabaseChanges(main: main != earlier.main)
        guard catalog != earlier.catalog else { return d }
        for (name, record) in records where earlier.records[name] != record { d.named.insert(name) }
        for name in earlier.records.keys where records[name] == nil { d.named.insert(name) }
        return d
    }
}

/// One subscription: its buffer of events not yet read, and the task waiting for the next one.
///
/// The buffer holds at most `limit` events; when it is full, a new event is merged into the
/// newest one buffered (its range and changes grow), so that a subscriber that does not read costs
/// at most `limit` events and never holds up a commit.
final class CommitSubscriber: Sendable {
    private struct State {
        var buffer: [CommitEvent] = []
        var head = 0
        var waiting: CheckedContinuation<CommitEvent?, Never>?
        var finished = false
        var pollTask: Task<Void, Never>?
        var count: Int { buffer.count - head }

        mutating func removeFirst() -> CommitEvent {
            let e = buffer[head]
            head += 1
            if head > 64 && head * 2 > buffer.count {
                buffer.removeFirst(head)
                head = 0
            }
            return e
        }
    }

    private let state = Mutex(State())
    let limit: Int
    /// Transactions up to this one were published before the subscription.
    let startAfter: UInt64

    init(limit: Int, startAfter: UInt64) {
        self.limit = limit
        self.startAfter = startAfter
    }

    /// Adds `event` (the part after `startAfter`), waking the waiting task.
    func deliver(_ event: CommitEvent) {
        guard event.transactionID > startAfter else { return }
        var event = event
        if event.transactions.lowerBound <= startAfter {
            event = CommitEvent(transactions: (startAfter + 1)...event.transactionID,
                                isFromThisEnvironment: event.isFromThisEnvironment, changes: event.changes)
        }
        state.withLock { s in
            guard !s.finished else { return }
            if let k = s.waiting {
                s.waiting = nil
                k.resume(returning: event)
            } else if s.count < limit {
                s.buffer.append(event)
            } else {
                s.buffer[s.buffer.count - 1] = s.buffer[s.buffer.count - 1].merged(with: event)
            }
        }
    }

    /// Ends the subscription: a waiting task gets nil. `discarding` drops the events not yet read
    /// (cancellation); otherwise they are still delivered (the environment closed).
    func finish(discarding: Bool) {
        let (k, task) = state.withLock { s in
            s.finished = true
            if discarding { s.buffer.removeAll(); s.head = 0 }
            defer { s.waiting = nil; s.pollTask = nil }
            return (s.waiting, s.pollTask)
        }
        k?.resume(returning: nil)
        task?.cancel()
    }

    /// Keeps `task` (the poller of this subscription), cancelling it with the subscription.
    func setPollTask(_ task: Task<Void, Never>) {
        let finished = state.withLock { s in
            if !s.finished { s.pollTask = task }
            return s.finished
        }
        if finished { task.cancel() }
    }

    var isFinished: Bool { state.withLock { $0.finished } }
    var buffered: Int { state.withLock { $0.count } }

    /// The next event, waiting for it; nil once the subscription has ended.
    func next() async -> CommitEvent? {
        await withCheckedContinuation { (k: CheckedContinuation<CommitEvent?, Never>) in
            let ready: CommitEvent?? = state.withLock { s in
                if s.count > 0 { return .some(s.removeFirst()) }
                if s.finished { return .some(nil) }
                precondition(s.waiting == nil, "a commits() sequence is iterated by two tasks at once")
                s.waiting = k
                return nil
            }
            if let ready { k.resume(returning: ready) }
        }
    }
}

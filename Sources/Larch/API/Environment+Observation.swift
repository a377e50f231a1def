/// Change observation: an `AsyncSequence` of commits (docs/CONCURRENCY.md, "Observing commits").
extension Environment {
    /// The commits made from now on, as events in transaction order: each commit made through this
    /// environment, with the databases it changed, once it is published (after its sync; with
    /// `Durability.noSync`, after its meta is written); and commits of other processes (or other
    /// `Environment`s on the file): with `pollingEvery`, when a poll of the lock file finds them,
    /// with the databases they changed (`CommitEvent.changes`); otherwise, with their changes
    /// unknown, when a commit of this environment is built on them. A poll reports to every
    /// subscriber of the environment.
    ///
    /// ```swift
    /// for await commit in env.commits() where commit.mayHaveChanged(users) {
    ///     await model.reload()
    /// }
    /// ```
    ///
    /// The subscription starts when this is called (not when iteration starts): every transaction
    /// published after it is covered by exactly one event, and events come in order with no gap.
    /// A subscriber that keeps up gets one event per commit of this environment. One that falls
    /// behind never slows a writer: its buffer holds at most `limit` events, and when it is full a
    /// new event is merged into the newest one buffered (`CommitEvent.isCoalesced`: a range of
    /// transactions and the union of their changes) — the subscriber learns everything that
    /// changed, in fewer events, and costs at most `limit` events of memory.
    ///
    /// The subscription ends (and its buffer is freed) when the iterating task is cancelled, when
    /// the sequence and its iterators are released, or when the environment closes (iteration
    /// then ends after the buffered events). Iterate it from one task at a time. The sequence keeps
    /// the environment alive.
    ///
    /// - Parameters:
    ///   - limit: the most events buffered for a subscriber that has not read them (at least 1).
    ///   - interval: how often to look for commits of other processes (the newest published
    ///     transaction in the lock file: one atomic load). nil: they are reported only when a commit
    ///     of this environment follows them.
    public func commits(bufferingNewest limit: Int = 256, pollingEvery interval: Duration? = nil) -> CommitSequence {
        let subscriber = committed.withLock { c -> CommitSubscriber in
            let start = max(c.meta.txnID, readers.publishedTxn)
            let s = CommitSubscriber(limit: max(limit, 1), startAfter: start.rawValue)
            if c.closed { s.finish(discarding: false) } else { c.observers.subscribers[ObjectIdentifier(s)] = s }
            return s
        }
        if let interval, !subscriber.isFinished {
            // The state polls compare with: from now (an older one would widen the first report).
            polled.withLock { p in p = try? observedState(reusing: p) }
            subscriber.setPollTask(Task { [weak subscriber, self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    guard let subscriber, !subscriber.isFinished else { return }
                    pollOtherProcesses()
                }
            })
        }
        return CommitSequence(subscription: CommitSubscription(env: self, subscriber: subscriber))
    }

    /// Reports the commits of other processes published since the last one reported (never one of
    /// this environment's own commits still waiting for publication: those are reported by their
    /// group), with the databases that differ between the previous poll's snapshot and the newest:
    /// every database those commits changed, and maybe some that this environment's own commits
    /// in between changed (a superset; exact when none came between). Unknown (nil) when the
    /// previous poll's snapshot is not at or before the last transaction reported, or the newest
    /// snapshot cannot be read.
    func pollOtherProcesses() {
        polled.withLock { previous in
            let published = readers.publishedTxn
            let reported = committed.withLock { $0.observers.reported }
            guard published > reported else { return }
            let seen = try? observedState(reusing: previous)
            committed.withLock { c in
                guard !c.closed, !c.observers.subscribers.isEmpty else { return }
                var bound = max(published, seen?.txn ?? published)
                var changes: DatabaseChanges?
                if let seen, let previous, previous.txn <= c.observers.reported, seen.txn == bound {
                    changes = seen.changes(since: previous)
                }
                if let own = c.queue.pendingEvents.first, own.txn <= bound {
                    bound = TransactionID(own.txn.rawValue - 1)
                    changes = nil
                }
                c.observers.reportElsewhere(upTo: bound, changes: changes)
            }
            if let seen { previous = seen }
        }
    }

    /// The newest snapshot's id, main descriptor and catalog records (the catalog is read only
    /// when its root differs from `previous`'s).
    func observedState(reusing previous: PolledState?) throws(LarchError) -> PolledState {
        let txn = try beginRead()
        let core = txn.core
        let meta = core.meta
        if let previous, previous.catalog == meta.catalog {
            return PolledState(txn: meta.txnID, main: meta.main, catalog: meta.catalog, records: previous.records)
        }
        var records: [String: [UInt8]] = [:]
        let c = CursorState(core: core, tree: TreeIndex.catalog)
        var more = try c.first()
        while more {
            let e = try c.currentEntry()
            records[String(decoding: e.key, as: UTF8.self)] = Array(try core.valueBytes(e))
            more = try c.next()
        }
        return PolledState(txn: meta.txnID, main: meta.main, catalog: meta.catalog, records: records)
    }

    /// Ends `subscriber`'s subscription and forgets it.
    func unsubscribe(_ subscriber: CommitSubscriber) {
        _ = committed.withLock { c in c.observers.subscribers.removeValue(forKey: ObjectIdentifier(subscriber)) }
        subscriber.finish(discarding: true)
    }

    /// Subscriptions open now (for tests).
    package var commitSubscriberCount: Int { committed.withLock { $0.observers.subscribers.count } }
}

/// Holds a subscription open while a sequence or iterator refers to it; ends it when released.
final class CommitSubscription: Sendable {
    let env: Environment
    let subscriber: CommitSubscriber

    init(env: Environment, subscriber: CommitSubscriber) {
        self.env = env
        self.subscriber = subscriber
    }

    deinit { env.unsubscribe(subscriber) }
}

/// The commits of an environment from the moment `Environment.commits` was called: see there.
public struct CommitSequence: AsyncSequence, Sendable {
    public typealias Element = CommitEvent
    public typealias Failure = Never
    let subscription: CommitSubscription

    public func makeAsyncIterator() -> Iterator { Iterator(subscription: subscription) }

    /// Events not yet read (for tests and diagnostics).
    public var bufferedCount: Int { subscription.subscriber.buffered }

    public struct Iterator: AsyncIteratorProtocol, Sendable {
        public typealias Element = CommitEvent
        public typealias Failure = Never
        let subscription: CommitSubscription

        /// The next commit event; nil once the subscription has ended (the task was cancelled or
        /// the environment closed).
        public mutating func next() async -> CommitEvent? {
            let s = subscription
            if Task.isCancelled {
                s.env.unsubscribe(s.subscriber)
                return nil
            }
            return await withTaskCancellationHandler {
                await s.subscriber.next()
            } onCancel: {
                s.env.unsubscribe(s.subscriber)
            }
        }

        public mutating func next(isolation actor: isolated (any Actor)?) async throws(Never) -> CommitEvent? {
            await next()
        }
    }
}

/// Scans as async sequences: large scans from async code, in batches, each read in a short read
/// transaction of its own.
extension Environment {
    /// The entries of `range` in `db`, as an `AsyncSequence` of copied `(key, value)` pairs read in
    /// batches of `batchSize`, each in a read transaction of its own that ends before the batch is
    /// handed out: no thread is held and no snapshot is pinned between batches, so a scan that
    /// takes minutes (or waits on a slow consumer) never keeps writers from reusing pages.
    ///
    /// ```swift
    /// for try await (key, value) in env.entries(in: users, .prefix("user:".utf8)) { ... }
    /// ```
    ///
    /// Snapshot semantics: each batch is consistent (one snapshot); the scan as a whole is not.
    /// Keys come in strictly increasing order (decreasing with `reverse`), each at most once; the
    /// next batch resumes after the last key handed out, on the newest commit at that time, so
    /// entries committed meanwhile ahead of the scan are seen and entries deleted ahead of it are
    /// not. For a single snapshot of the whole range, iterate `txn.entries` in one read
    /// transaction instead (it pins its snapshot for as long as it runs).
    public func entries(in db: Database = .main, _ range: KeyRange = .all, reverse: Bool = false,
                        batchSize: Int = 512) -> AsyncEntries {
        AsyncEntries(env: self, db: db, range: range, reverse: reverse, batchSize: max(batchSize, 1))
    }

    /// `entries(in:_:reverse:batchSize:)` over a Swift range of keys (`"a"..<"m"`).
    public func entries(in db: Database = .main, _ range: Range<ByteKey>, reverse: Bool = false,
                        batchSize: Int = 512) -> AsyncEntries {
        entries(in: db, KeyRange(range), reverse: reverse, batchSize: batchSize)
    }

    /// Up to `limit` entries of `range`, in one read transaction.
    func entryBatch(in db: Database, _ range: KeyRange, reverse: Bool, limit: Int) throws(LarchError) -> [Entries.Element] {
        let txn = try beginRead()
        var entries = try txn.entries(in: db, range, reverse: reverse)
        var batch: [Entries.Element] = []
        batch.reserveCapacity(min(limit, 1024))
        while batch.count < limit, let e = try entries.next() { batch.append(e) }
        return batch
    }
}

/// The entries of a key range read in batches from async code: see `Environment.entries(in:_:reverse:batchSize:)`.
/// Iteration throws the first `LarchError` it meets (a batch that fails ends the scan).
public struct AsyncEntries: AsyncSequence, Sendable {
    public typealias Element = (key: [UInt8], value: [UInt8])
    public typealias Failure = LarchError
    let env: Environment
    let db: Database
    let range: KeyRange
    let reverse: Bool
    let batchSize: Int

    public func makeAsyncIterator() -> Iterator { Iterator(sequence: self, remaining: range) }

    public struct Iterator: AsyncIteratorProtocol {
        public typealias Element = (key: [UInt8], value: [UInt8])
        public typealias Failure = LarchError
        let sequence: AsyncEntries
        /// What is left to scan: the range, narrowed past the last key handed out.
        var remaining: KeyRange
        private var batch: [Element] = []
        private var position = 0
        private var done = false

        init(sequence: AsyncEntries, remaining: KeyRange) {
            self.sequence = sequence
            self.remaining = remaining
        }

        public mutating func next() async throws(LarchError) -> Element? {
            try await next(isolation: nil)
        }

        public mutating func next(isolation actor: isolated (any Actor)?) async throws(LarchError) -> Element? {
            if position == batch.count {
                guard !done else { return nil }
                await Task.yield()   // between batches, let other tasks run
                do {
                    batch = try sequence.env.entryBatch(in: sequence.db, remaining, reverse: sequence.reverse, limit: sequence.batchSize)
                } catch {
                    done = true
                    batch = []
                    position = 0
                    throw error
                }
                position = 0
                if batch.count < sequence.batchSize { done = true }
                if let last = batch.last {
                    if sequence.reverse { remaining.upper = .excluded(last.key) } else { remaining.lower = .excluded(last.key) }
                }
                guard !batch.isEmpty else { return nil }
            }
            defer { position += 1 }
            return batch[position]
        }
    }
}

import Synchronization

/// One Larch database file, open: the entry point for transactions.
///
/// ```swift
/// let env = try Environment(path: "data.larch")
/// try env.write { txn in try txn.put("world", forKey: "hello") }
/// let v = try env.read { txn in try txn.getString("hello") }
/// ```
///
/// Any number of read transactions may run at once on any threads, and in any number of
/// processes that have the same file open, each on the snapshot that was current when it began;
/// one write transaction runs at a time across all of them (a second one waits). Readers never
/// wait for the writer and the writer never waits for readers. The processes coordinate through
/// a lock file beside the database (`<path>-lock`, docs/FORMAT.md).
public final class Environment: Sendable {
    /// The committed state that new transactions start from.
    struct Committed {
        var meta: MetaPage
        var mapping: Mapping
        var fileSizeBytes: Int
        /// The newest commit whose meta is known to be on disk. Pages freed after it are not reused,
        /// so that a crash never leaves a durable meta pointing at overwritten pages.
        var durableTxn: TransactionID
        var closed = false
        var failure: String?
        var lastCommit: CommitStats?
    }

    /// The file's path.
    public let path: String
    let options: Options
    let file: any StorageDevice
    let pageSize: Int
    let committed: Mutex<Committed>
    let readers: ReaderTable
    let writerLock = WriterLock()
    let buffers: PageBufferPool
    let databases = Mutex<[String: Int]>([:])
    /// Crash-lab tests only: write the meta page before syncing the data (unsafe on purpose).
    let unsafeMetaBeforeDataSync: Bool

    /// Opens (or creates) the database at `path`.
    public convenience init(path: String, options: Options = Options()) throws(LarchError) {
        try Self.validate(options)
        let file = try DataFile.open(path: path, create: options.createIfMissing, readOnly: options.readOnly)
        try self.init(storage: file, options: options)
    }

    /// Opens the database on `storage` (the file, or a simulated disk in tests). Closes the storage
    /// if opening fails.
    package init(storage: any StorageDevice, options: Options, unsafeMetaBeforeDataSync: Bool = false) throws(LarchError) {
        try Self.validate(options)
        self.unsafeMetaBeforeDataSync = unsafeMetaBeforeDataSync
        self.path = storage.path
        self.options = options
        file = storage
        do throws(LarchError) {
            var size = try file.size()
            if size == 0 {
                guard !options.readOnly else { throw LarchError.notALarchFile(path: path) }
                // Another process may be creating it too: the writer lock makes one of them do it.
                size = try Self.initializeIfEmpty(storage, options: options)
            }
            var meta: MetaPage
            var attempt = 0
            while true {
                do throws(LarchError) {
                    meta = try Self.readCurrentMeta(file, path: path, fileSize: size)
                    break
                } catch .truncatedFile(let p, let s, let r) {
                    // Another process committed between reading the size and the metas: its meta
                    // may need more than the size read. A file that stays short is truncated.
                    attempt += 1
                    guard attempt < 5 else { throw LarchError.truncatedFile(path: p, sizeBytes: s, requiredBytes: r) }
                    size = try file.size()
                }
            }
            pageSize = meta.pageSize
            let mapping = try file.map(sizeBytes: Self.reservation(fileSize: size, options: options, pageSize: meta.pageSize))
            // The newest meta may be in the page cache only (a process that committed with
            // noMetaSync and exited), and then a power loss falls back to the one before it, whose
            // pages must not be reused: a writable open syncs once, so that the newest is durable.
            // (noSync promises nothing across power loss.)
            if !options.readOnly && options.durability != .noSync { try file.sync() }
            committed = Mutex(Committed(meta: meta, mapping: mapping, fileSizeBytes: size, durableTxn: meta.txnID))
        } catch {
            file.close()
            throw error
        }
        do throws(LarchError) {
            readers = try file.openLockFile(slots: options.maxReaders).map(ReaderTable.init(lockFile:))
                ?? ReaderTable(capacity: options.maxReaders)
        } catch {
            file.close()
            throw error
        }
        buffers = PageBufferPool(pageSize: pageSize)
    }

    private static func validate(_ options: Options) throws(LarchError) {
        guard options.maxReaders >= 1 else { throw .invalidOption("maxReaders must be at least 1") }
        guard PageLayout.isValidPageSize(options.pageSize) else {
            throw .invalidOption("pageSize \(options.pageSize) is not a power of two from 4096 to 65536")
        }
        guard options.maxSize >= 4 * options.pageSize else { throw .invalidOption("maxSize \(options.maxSize) is smaller than four pages") }
    }

    deinit { file.close() }

    /// Initializes the file if it is still empty once this process holds the writer lock (another
    /// process may be creating it at the same time); returns its size.
    private static func initializeIfEmpty(_ file: any StorageDevice, options: Options) throws(LarchError) -> Int {
        try file.lockWriter(timeout: options.writerTimeout)
        defer { file.unlockWriter() }
        if try file.size() == 0 {
            try initialize(file, pageSize: options.pageSize, durability: options.durability)
        }
        return try file.size()
    }

    /// Writes the two meta pages of an empty database.
    private static func initialize(_ file: any StorageDevice, pageSize: Int, durability: Durability) throws(LarchError) {
        let pages = MetaPage.initialPages(pageSize: pageSize)
        try withBytes(pages) { b throws(LarchError) in try file.write(b, at: 0) }
        if durability != .noSync { try file.sync() }
    }

    /// Reads both meta pages and returns the valid one with the higher transaction id.
    static func readCurrentMeta(_ file: any StorageDevice, path: String, fileSize: Int) throws(LarchError) -> MetaPage {
        let (first, second) = try readMetaSlots(file, fileSize: fileSize)
        switch (first, second) {
        case let (.success(a), .success(b)):
            return a.txnID > b.txnID ? a : b
        case let (.success(a), .failure): return a
        case let (.failure, .success(b)): return b
        case let (.failure(a), .failure(b)):
            if a == .badMagic && b == .badMagic { throw .notALarchFile(path: path) }
            if case .unsupportedVersion(let v) = a, case .unsupportedVersion = b {
                throw .unsupportedVersion(path: path, found: v, supported: MetaPage.formatVersion)
            }
            if case .truncated(let required, _) = a {
                throw .truncatedFile(path: path, sizeBytes: fileSize, requiredBytes: required)
            }
            throw .bothMetaPagesInvalid(path: path, page0: a.description, page1: b.description)
        }
    }

    /// Reads and validates both meta pages: each must decode, sit in the slot its transaction id
    /// names, and fit the file.
    static func readMetaSlots(_ file: any StorageDevice, fileSize: Int) throws(LarchError)
        -> (Result<MetaPage, MetaPage.DecodeFailure>, Result<MetaPage, MetaPage.DecodeFailure>) {
        var probe = [UInt8](repeating: 0, count: MetaPage.encodedSize)
        func decode(at offset: Int) throws(LarchError) -> Result<MetaPage, MetaPage.DecodeFailure> {
            try probe.withUnsafeMutableBytes { b in Result { () throws(LarchError) in try file.read(into: b, at: offset) } }.get()
            return MetaPage.decode(probe)
        }
        func checked(_ r: Result<MetaPage, MetaPage.DecodeFailure>, slot: Int) -> Result<MetaPage, MetaPage.DecodeFailure> {
            guard case .success(let m) = r else { return r }
            if m.slot != slot { return .failure(.wrongSlot(txnID: m.txnID.rawValue, slot: slot)) }
            if m.pageCount > UInt64(fileSize / m.pageSize) || m.pageCount < 2 {
                let (required, overflow) = Int(truncatingIfNeeded: m.pageCount).multipliedReportingOverflow(by: m.pageSize)
                return .failure(.truncated(requiredBytes: overflow || m.pageCount > UInt64(Int.max) ? Int.max : required, fileSize: fileSize))
            }
            return r
        }
        let first = checked(try decode(at: 0), slot: 0)
        // Page 1's offset depends on the page size: take it from page 0, or try each size.
        var second: Result<MetaPage, MetaPage.DecodeFailure> = .failure(.badMagic)
        if case .success(let m) = first {
            second = checked(try decode(at: m.pageSize), slot: 1)
            if case .success(let n) = second, n.pageSize != m.pageSize {
                second = .failure(.pageSizeMismatch(found: n.pageSize, expected: m.pageSize))
            }
        } else {
            var size = PageLayout.minPageSize
            while size <= PageLayout.maxPageSize {
                let r = try decode(at: size)
                if case .success(let m) = r, m.pageSize == size { second = checked(r, slot: 1); break }
                if case .failure(let f) = r, case .failure(.badMagic) = second { second = .failure(f) }
                size *= 2
            }
        }
        return (first, second)
    }

    /// Virtual address space to reserve: twice the file, at least 1 GiB (`minimumReservation`), at
    /// most `maxSize` (or the file, if it is larger).
    static func reservation(fileSize: Int, options: Options, pageSize: Int) -> Int {
        let want = max(2 * fileSize, options.minimumReservation)
        let r = max(min(want, options.maxSize), fileSize)
        return (r + pageSize - 1) / pageSize * pageSize
    }

    // MARK: Transactions

    /// Begins a read transaction on the newest snapshot (committed by this process or another).
    /// End it with `abort()`, or let it go out of scope.
    public func beginRead() throws(LarchError) -> ReadTransaction {
        let slot = try readers.claim()
        do throws(LarchError) {
            while true {
                let (meta, mapping) = try committed.withLock { c throws(LarchError) in try newest(&c) }
                // Published, then confirmed still the newest: a writer that missed the slot has
                // committed at most once since, reusing only pages this snapshot no longer reaches.
                readers.publish(slot: slot, snapshot: meta.txnID)
                let confirmed = try committed.withLock { c throws(LarchError) in try newest(&c).meta.txnID }
                guard confirmed == meta.txnID else { continue }
                let snapshot = Snapshot(meta: meta, mapping: mapping, verifyChecksums: options.verifyChecksums)
                return ReadTransaction(core: TransactionCore(env: self, snapshot: snapshot, readerSlot: slot))
            }
        } catch {
            readers.release(slot: slot)
            throw error
        }
    }

    /// The newest committed state, as the file has it now: another process may have committed
    /// since this one last looked, and grown the file past this process's map.
    private func newest(_ c: inout Committed) throws(LarchError) -> (meta: MetaPage, mapping: Mapping) {
        guard !c.closed else { throw LarchError.environmentClosed }
        if let f = c.failure { throw LarchError.environmentFailed(reason: f) }
        let found = try Self.newestMeta(in: c.mapping, pageSize: pageSize, path: path)
        guard found.txnID > c.meta.txnID else { return (c.meta, c.mapping) }
        let required = Int(found.pageCount) * pageSize
        if required > c.mapping.sizeBytes || required > c.fileSizeBytes {
            let size = try file.size()
            guard size >= required else { throw LarchError.truncatedFile(path: path, sizeBytes: size, requiredBytes: required) }
            if required > c.mapping.sizeBytes {
                c.mapping = try file.map(sizeBytes: Self.reservation(fileSize: size, options: options, pageSize: pageSize))
            }
            c.fileSizeBytes = max(c.fileSizeBytes, size)
        }
        // Another process committed it. Under noMetaSync its meta may not be durable yet, but the
        // previous one is (the committer synced its data, and that meta, first).
        let durable = options.durability == .noMetaSync ? max(readers.sharedDurableTxn, TransactionID(found.txnID.rawValue - 1)) : found.txnID
        c.durableTxn = max(c.durableTxn, min(durable, found.txnID))
        c.meta = found
        return (c.meta, c.mapping)
    }

    /// The newest valid meta page in `mapping` (pages 0 and 1): a meta being written by another
    /// process fails its checksum and the other one is current.
    static func newestMeta(in mapping: Mapping, pageSize: Int, path: String) throws(LarchError) -> MetaPage {
        var best: MetaPage?
        for slot in 0..<2 {
            guard case .success(let m) = MetaPage.decode(mapping.page(PageNumber(UInt64(slot)), pageSize: pageSize)),
                  m.slot == slot, m.pageSize == pageSize else { continue }
            if best == nil || m.txnID > best!.txnID { best = m }
        }
        guard let best else { throw LarchError.notALarchFile(path: path) }
        return best
    }

    /// Begins the write transaction, blocking the calling thread while another one is open. End it
    /// with `commit()` or `abort()` (dropping it aborts). Throws `nestedWriteTransaction` if this thread has it open
    /// already. From async code, use `write(_:) async`, which suspends instead of blocking a thread
    /// of the cooperative pool (blocked, those threads could not run the task that holds the writer).
    public func beginWrite() throws(LarchError) -> WriteTransaction {
        guard !options.readOnly else { throw .readOnlyEnvironment }
        let started = ContinuousClock.now
        try writerLock.lock(timeout: options.writerTimeout)
        return try beginWriteHoldingLock(timeout: options.writerTimeout.map { max(.zero, $0 - (ContinuousClock.now - started)) })
    }

    /// Begins the write transaction once this caller holds the writer lock.
    private func beginWriteHoldingLock(timeout: Duration?) throws(LarchError) -> WriteTransaction {
        do {
            try file.lockWriter(timeout: timeout)
        } catch {
            writerLock.unlock()
            // The message names the configured wait, not what was left of it for this step.
            if case .writerTimeout = error, let configured = options.writerTimeout {
                throw LarchError.writerTimeout(seconds: configured.inSeconds)
            }
            throw error
        }
        do {
            let (meta, mapping) = try committed.withLock { c throws(LarchError) in try newest(&c) }
            let snapshot = Snapshot(meta: meta, mapping: mapping, verifyChecksums: options.verifyChecksums)
            let w = WriteState(txnID: meta.txnID.next, snapshot: snapshot, buffers: buffers, maxSizeBytes: options.maxSize,
                               reuseBound: oldestNeededSnapshot(current: meta.txnID))
            return WriteTransaction(core: TransactionCore(env: self, write: w))
        } catch {
            file.unlockWriter()
            writerLock.unlock()
            throw error
        }
    }

    /// Runs `body` in a read transaction and ends it.
    public func read<R>(_ body: (borrowing ReadTransaction) throws -> R) throws -> R {
        let txn = try beginRead()
        return try body(txn)
    }

    /// Runs `body` in a write transaction: commits when it returns, aborts when it throws.
    /// Blocks the calling thread while another write transaction is open (see `beginWrite()`);
    /// from async code, use `write(_:) async`. `body` cannot end the transaction itself; to
    /// discard its changes, throw. The commit's statistics are in `lastCommit`.
    public func write<R>(_ body: (inout WriteTransaction) throws -> R) throws -> R {
        try run(try beginWrite(), body)
    }

    /// Runs `body` in a write transaction: commits when it returns, aborts when it throws. While
    /// another write transaction is open, the calling task suspends — it does not block its
    /// thread — and writers are served in the order they arrived. `body` itself is synchronous,
    /// so the transaction is never held across a suspension point.
    public func write<R>(_ body: (inout WriteTransaction) throws -> R) async throws -> R {
        guard !options.readOnly else { throw LarchError.readOnlyEnvironment }
        await writerLock.lockAsync()
        return try run(try beginWriteHoldingLock(timeout: options.writerTimeout), body)
    }

    private func run<R>(_ txn: consuming WriteTransaction, _ body: (inout WriteTransaction) throws -> R) throws -> R {
        let result = try body(&txn)   // a throw drops (aborts) the transaction
        try txn.commit()
        return result
    }

    /// Makes all commits durable (for `Durability.noSync` and `.noMetaSync`).
    public func sync() throws(LarchError) {
        let txn = try committed.withLock { c throws(LarchError) in
            guard !c.closed else { throw LarchError.environmentClosed }
            return c.meta.txnID
        }
        try file.sync()
        committed.withLock { c in if c.durableTxn < txn { c.durableTxn = txn } }
        readers.raiseSharedDurableTxn(to: txn)
    }

    /// Closes the environment and releases the file (another `Environment` may then open it).
    /// Waits for an open write transaction to end; new transactions throw `environmentClosed`.
    /// Open read transactions stay readable until they end (their memory map outlives the file
    /// descriptor). Also happens when the environment is released.
    public func close() {
        // On a thread that has the write transaction open, closing waits for nothing: the
        // transaction's later calls throw `environmentClosed`.
        let locked = (try? writerLock.lock()) != nil
        defer { if locked { writerLock.unlock() } }
        committed.withLock { $0.closed = true }
        file.close()
    }

    /// The statistics of the last commit made through this environment.
    public var lastCommit: CommitStats? { committed.withLock { $0.lastCommit } }

    /// The handle index of named database `name`, stable for the life of the environment.
    func databaseIndex(_ name: String) -> Int {
        databases.withLock { d in
            if let i = d[name] { return i }
            let i = TreeIndex.firstNamed + d.count
            d[name] = i
            return i
        }
    }
}

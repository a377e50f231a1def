import SystemPackage
import Dispatch
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
    /// The published state that new read transactions start from, and the commits on their way.
    struct Committed {
        /// The newest published commit: whole and (unless `noSync`) durable. Pages freed after it
        /// are not reused, so that a crash never leaves it pointing at overwritten pages.
        var meta: MetaPage
        /// The meta page (0 or 1) that holds `meta`, as this process last saw the file.
        var metaSlot: Int
        var mapping: Mapping
        var fileSizeBytes: Int
        var closed = false
        var failure: String?
        var lastCommit: CommitStats?
        /// Group commit: this process's commits not yet published.
        var queue = CommitQueue()
        /// Subscribers of `commits()`, and the newest transaction reported to them.
        var observers: CommitObservers
    }

    /// Behaviours that break the protocol on purpose, for the crash lab's tests that must fail.
    package struct UnsafeTestBehaviour: OptionSet, Sendable {
        package let rawValue: Int
        package init(rawValue: Int) { self.rawValue = rawValue }
        /// Open at the newest meta without checking that its commit is whole.
        package static let skipCommitVerification = UnsafeTestBehaviour(rawValue: 1)
        /// Reuse pages as soon as a transaction frees them, though the published meta needs them.
        package static let reuseFreedPagesAtOnce = UnsafeTestBehaviour(rawValue: 2)
    }

    /// The file's path.
    public let path: String
    let options: Options
    let file: any StorageDevice
    /// The file's page size (`Options.pageSize` applies to a new file only; an existing one keeps its own).
    public let pageSize: Int
    /// The longest key (and sorted-duplicate value) this file takes, in bytes: a quarter of the
    /// page (1,024 at 4 KiB). Keys are 1 to `maxKeySize` bytes (LMDB's `mdb_env_get_maxkeysize`).
    public var maxKeySize: Int { PageLimits(pageSize: pageSize).maxKeySize }
    let committed: Mutex<Committed>
    let readers: ReaderTable
    let writerLock = WriterLock()
    /// Where relocation as commits go (`Options.shrinkWithCommits`) continues: a database (nil:
    /// the main one) and a key in it.
    let shrinkCursor = Mutex<(database: String?, key: [UInt8])>((nil, []))
    let buffers: PageBufferPool
    let databases = Mutex<[[UInt8]: Int]>([:])
    /// Where groups led on behalf of tasks sync (a task never blocks a thread of the cooperative pool).
    let syncQueue = DispatchQueue(label: "larch.group-commit")
    let unsafeBehaviour: UnsafeTestBehaviour
    /// What the poller of other processes' commits last saw (`Environment+Observation`).
    let polled = Mutex<PolledState?>(nil)
    /// Pages that commits rewrote in place rather than copied (group commit; for tests and figures).
    package let pagesRewrittenInPlace = Atomic<Int>(0)

    /// Opens (or creates) the database at `path`.
    public convenience init(path: String, options: Options = Options()) throws(LarchError) {
        try Self.validate(options)
        if options.createIfMissing && !options.readOnly {
            // A new file appears whole or not at all (an existing one is left to the open below).
            try DataFile.createWhole(path: path, contents: MetaPage.initialPages(pageSize: options.pageSize),
                                     sync: options.durability != .noSync)
        }
        let file = try DataFile.open(path: path, create: options.createIfMissing, readOnly: options.readOnly)
        try self.init(storage: file, options: options)
    }

    /// Opens the database on `storage` (the file, or a simulated disk in tests). Closes the storage
    /// if opening fails.
    package init(storage: any StorageDevice, options: Options, unsafe: UnsafeTestBehaviour = []) throws(LarchError) {
        try Self.validate(options)
        self.unsafeBehaviour = unsafe
        self.path = storage.path
        self.options = options
        file = storage
        do throws(LarchError) {
            var size = try file.size()
            let partlyInitialized = size > 0 && !options.readOnly ? try Self.partlyInitializedPageSize(storage, size: size) : nil
            if size == 0 || partlyInitialized != nil {
                guard !options.readOnly else { throw LarchError.notALarchFile(path: path) }
                // Another process may be creating it too: the writer lock makes one of them do it.
                size = try Self.initializeIfEmpty(storage, options: options)
            }
            readers = try (options.noLock ? nil : file.openLockFile(slots: options.maxReaders)).map(ReaderTable.init(lockFile:))
                ?? ReaderTable(capacity: options.maxReaders)
            var slots = try Self.readMetaSlots(file, fileSize: size)
            for _ in 0..<4 where slots.truncation != nil {
                // Another process committed between reading the size and the metas: its meta may
                // need more than the size read. A file that stays short is truncated.
                size = try file.size()
                slots = try Self.readMetaSlots(file, fileSize: size)
            }
            let pageSize = try slots.pageSize(path: path, fileSize: size)
            self.pageSize = pageSize
            let mapping = try file.map(sizeBytes: Self.reservation(fileSize: size, options: options, pageSize: pageSize))
            let published = readers.publishedTxn
            let (meta, slot) = try slots.current(mapping: mapping, published: published, verify: !unsafe.contains(.skipCommitVerification), path: path)
            // A newest commit not yet published (its writer's sync still running, or left by a
            // process that died before its sync, or after a crash) is whole — it was just checked —
            // but maybe only in the page cache: an open syncs it before anything reads or builds on
            // it, then publishes it, so that no reader sees a commit a power loss could take back.
            // A read-only open does too (a sync needs no write access); where it cannot (read-only
            // media, whose pages are all on the medium), it reads the commit without publishing it.
            if meta.txnID > published {
                if options.readOnly {
                    if options.durability == .noSync || (try? file.sync()) != nil { readers.publish(upTo: meta.txnID) }
                } else {
                    if options.durability != .noSync { try file.sync() }
                    readers.publish(upTo: meta.txnID)
                }
            }
            committed = Mutex(Committed(meta: meta, metaSlot: slot, mapping: mapping, fileSizeBytes: size,
                                         observers: CommitObservers(reported: max(meta.txnID, readers.publishedTxn))))
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
        let size = try file.size()
        if size == 0 {
            try initialize(file, pageSize: options.pageSize, durability: options.durability)
        } else if let pageSize = try partlyInitializedPageSize(file, size: size) {
            // Initialized again, with the page size it was begun with: nothing was ever committed.
            try initialize(file, pageSize: pageSize, durability: options.durability)
        }
        return try file.size()
    }

    /// The page size of the file, when it holds only the start of the two meta pages `initialize` writes: a process
    /// was killed while it initialized an existing empty file (a write can stop at any page), or
    /// another is initializing it now (its size grows a page at a time). Nothing was ever committed
    /// to such a file, so it is initialized again, under the writer lock, rather than refused as
    /// truncated. Nil for a file that is anything else (it is left to the usual checks).
    private static func partlyInitializedPageSize(_ file: any StorageDevice, size: Int) throws(LarchError) -> Int? {
        for pageSize in PageLayout.validPageSizes where size < 2 * pageSize {
            if try isPrefixOfInitialPages(file, size: size, pageSize: pageSize) { return pageSize }
        }
        return nil
    }

    /// Whether the file's `size` bytes are the first bytes of `MetaPage.initialPages(pageSize:)`.
    private static func isPrefixOfInitialPages(_ file: any StorageDevice, size: Int, pageSize: Int) throws(LarchError) -> Bool {
        let expected = MetaPage.initialPages(pageSize: pageSize)
        guard size < expected.count else { return false }
        var bytes = [UInt8](repeating: 0, count: size)
        try bytes.withUnsafeMutableBytes { b in Result { () throws(LarchError) in try file.read(into: b, at: 0) } }.get()
        return bytes[...] == expected[..<size]
    }

    /// Writes the two meta pages of an empty database (an existing empty file: a new one is created
    /// whole by `DataFile.createWhole`). A failure gives back what was written: the file stays empty.
    private static func initialize(_ file: any StorageDevice, pageSize: Int, durability: Durability) throws(LarchError) {
        let pages = MetaPage.initialPages(pageSize: pageSize)
        do {
            try withBytes(pages) { b throws(LarchError) in try file.write(b, at: 0) }
            if durability != .noSync { try file.sync() }
        } catch {
            try? file.resize(to: 0)
            throw error
        }
    }

    /// Reads and decodes both meta pages; each must decode and fit the file.
    static func readMetaSlots(_ file: any StorageDevice, fileSize: Int) throws(LarchError) -> MetaSlots {
        var probe = [UInt8](repeating: 0, count: MetaPage.maxEncodedSize)
        func decode(at offset: Int) throws(LarchError) -> Result<MetaPage, MetaPage.DecodeFailure> {
            try probe.withUnsafeMutableBytes { b in Result { () throws(LarchError) in try file.read(into: b, at: offset) } }.get()
            return MetaPage.decode(probe)
        }
        func checked(_ r: Result<MetaPage, MetaPage.DecodeFailure>) -> Result<MetaPage, MetaPage.DecodeFailure> {
            guard case .success(let m) = r else { return r }
            if m.pageCount > UInt64(fileSize / m.pageSize) || m.pageCount < 2 {
                let (required, overflow) = Int(truncatingIfNeeded: m.pageCount).multipliedReportingOverflow(by: m.pageSize)
                return .failure(.truncated(requiredBytes: overflow || m.pageCount > UInt64(Int.max) ? Int.max : required, fileSize: fileSize))
            }
            return r
        }
        let first = checked(try decode(at: 0))
        // Page 1's offset depends on the page size: take it from page 0, or try each size.
        var second: Result<MetaPage, MetaPage.DecodeFailure> = .failure(.badMagic)
        if case .success(let m) = first {
            second = checked(try decode(at: m.pageSize))
            if case .success(let n) = second, n.pageSize != m.pageSize {
                second = .failure(.pageSizeMismatch(found: n.pageSize, expected: m.pageSize))
            }
        } else {
            var size = PageLayout.minPageSize
            while size <= PageLayout.maxPageSize {
                let r = try decode(at: size)
                if case .success(let m) = r, m.pageSize == size { second = checked(r); break }
                if case .failure(let f) = r, case .failure(.badMagic) = second { second = .failure(f) }
                size *= 2
            }
        }
        return MetaSlots(first: first, second: second)
    }

    /// The size to grow the file to when a commit needs `required` bytes and it has `current`:
    /// an eighth more (at most 64 MiB), so that growing — an `ftruncate` and zeros written over the
    /// new part (`StorageDevice.grow`), and a sync that must then also flush the file's size and
    /// its new blocks, several times slower than one that need not — happens once in many commits
    /// rather than at each. Never beyond `maxSize` (unless `required` is).
    static func grownSize(current: Int, required: Int, options: Options, pageSize: Int) -> Int {
        let step = min(current / 8, 64 << 20)
        let wanted = (max(required, current + step) + pageSize - 1) / pageSize * pageSize
        return max(required, min(wanted, options.maxSize))
    }

    /// Grows the file from `current` bytes to cover `required`: by a step (`grownSize`) when the
    /// disk has room for it, else — the step's zeros found the disk full — by exactly what is
    /// required, so that a commit that fits is not refused for the sake of the step. Returns the
    /// new size. A failure leaves the file at `current` bytes.
    static func grow(_ device: any StorageDevice, current: Int, required: Int, options: Options, pageSize: Int) throws(LarchError) -> Int {
        let grown = grownSize(current: current, required: required, options: options, pageSize: pageSize)
        do {
            try device.grow(to: grown, writingZerosFrom: zerosStart(required: required, grown: grown, options: options))
            return grown
        } catch {
            _ = try? device.resize(to: current)
            guard grown > required, case let .io(_, _, code, _) = error, code == Errno.noSpace.rawValue || code == Errno.diskQuotaExceeded.rawValue else { throw error }
        }
        do {
            try device.grow(to: required, writingZerosFrom: required)
        } catch {
            _ = try? device.resize(to: current)
            throw error
        }
        return required
    }

    /// Where a growth to `grown` bytes starts writing zeros, for a commit (or spill) that writes
    /// up to `required`: there, when commits sync, so that later syncs write into allocated
    /// blocks and no allocation record (`StorageDevice.grow`); nowhere under `.noSync`, where no
    /// commit syncs and the zeros would only be written twice (8% of a random fill's time).
    static func zerosStart(required: Int, grown: Int, options: Options) -> Int {
        options.durability == .noSync ? grown : required
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

    /// The newest published state, as the file has it now: another process may have committed
    /// since this one last looked, and grown the file past this process's map. A meta newer than
    /// the published transaction (its sync has not returned) is not read yet.
    func newest(_ c: inout Committed) throws(LarchError) -> (meta: MetaPage, mapping: Mapping) {
        guard !c.closed else { throw LarchError.environmentClosed }
        if let f = c.failure { throw LarchError.environmentFailed(reason: f) }
        let bound = max(readers.publishedTxn, c.meta.txnID)
        guard let (found, slot) = Self.newestMeta(in: c.mapping, pageSize: pageSize, upTo: bound),
              found.txnID > c.meta.txnID else { return (c.meta, c.mapping) }
        try adopt(found, slot: slot, &c)
        return (c.meta, c.mapping)
    }

    /// Makes `meta`, found in meta page `slot` and published, this process's current state,
    /// growing the map when the file has outgrown it.
    func adopt(_ meta: MetaPage, slot: Int, _ c: inout Committed) throws(LarchError) {
        try cover(meta, &c)
        c.meta = meta
        c.metaSlot = slot
    }

    /// Grows this process's map (and its record of the file size) to cover `meta`'s pages.
    func cover(_ meta: MetaPage, _ c: inout Committed) throws(LarchError) {
        let required = Int(meta.pageCount) * pageSize
        if required > c.mapping.sizeBytes || required > c.fileSizeBytes {
            let size = try file.size()
            guard size >= required else { throw LarchError.truncatedFile(path: path, sizeBytes: size, requiredBytes: required) }
            if required > c.mapping.sizeBytes {
                c.mapping = try file.map(sizeBytes: Self.reservation(fileSize: size, options: options, pageSize: pageSize))
            }
            c.fileSizeBytes = max(c.fileSizeBytes, size)
        }
    }

    /// The newest valid meta page in `mapping` (pages 0 and 1) whose transaction is at most
    /// `bound`, and its page: a meta being written by another process fails its checksum and the
    /// other one is current.
    static func newestMeta(in mapping: Mapping, pageSize: Int, upTo bound: TransactionID = TransactionID(.max)) -> (MetaPage, Int)? {
        var best: (MetaPage, Int)?
        for slot in 0..<2 {
            guard case .success(let m) = MetaPage.decode(mapping.page(PageNumber(UInt64(slot)), pageSize: pageSize)),
                  m.pageSize == pageSize, m.txnID <= bound else { continue }
            if best == nil || m.txnID > best!.0.txnID { best = (m, slot) }
        }
        return best
    }

    /// Runs `body` in a read transaction and ends it.
    public func read<R>(_ body: (borrowing ReadTransaction) throws -> R) throws -> R {
        let txn = try beginRead()
        return try body(txn)
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
        if locked { try? drainCommits() }   // commits of other threads still waiting for their sync
        committed.withLock { c in
            c.closed = true
            c.observers.finishAll()
            if c.queue.holdsFileLock {
                file.unlockWriter()
                c.queue.holdsFileLock = false
            }
        }
        file.close()
    }

    /// The statistics of the last commit made through this environment.
    public var lastCommit: CommitStats? { committed.withLock { $0.lastCommit } }

    /// The handle index of named database `name`, stable for the life of the environment. Keyed
    /// by the name's UTF-8 bytes, as the catalog is: two names that are the same text in different
    /// Unicode forms (`"caf\u{E9}"`, `"cafe\u{301}"`) are equal `String`s but two databases.
    func databaseIndex(_ name: String) -> Int {
        let key = Array(name.utf8)
        return databases.withLock { d in
            if let i = d[key] { return i }
            let i = TreeIndex.firstNamed + d.count
            d[key] = i
            return i
        }
    }
}

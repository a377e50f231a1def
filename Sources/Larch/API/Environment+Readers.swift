/// One read transaction of any process that has the database open, as `Environment.readers()`
/// lists it.
public struct ReaderInfo: Sendable, Equatable {
    /// The process that owns it.
    public var processID: Int
    /// Whether the process still runs (a slot of a dead process is reclaimed by the next writer,
    /// or by `clearStaleReaders()`).
    public var isLive: Bool
    /// Whether a writer expired it (`Options.maxReaderLag`): its next access throws `snapshotExpired`.
    public var isExpired: Bool
    /// The snapshot it reads; nil for an instant while it begins.
    public var snapshotID: UInt64?
    /// How long ago it began, in nanoseconds.
    public var ageNanoseconds: UInt64
    /// How many commits the database is past its snapshot.
    public var lag: UInt64
    /// Free pages that wait for it (and for older readers) before they can be reused: pages freed
    /// by commits after its snapshot.
    public var pagesHeld: UInt64
}

extension Environment {
    /// Every read transaction of every process that has the database open (this one included),
    /// oldest snapshot first (LMDB's `mdb_reader_list`).
    public func activeReaders() throws(LarchError) -> [ReaderInfo] {
        // The slots are read before this call's own read transaction takes one.
        let slots = readers.slots()
        let txn = try beginRead()
        let newest = txn.snapshotID
        let freedAfter = try freeRecordSizes(txn.core)
        txn.abort()
        let now = ProcessIdentity.wallClockNanoseconds()
        return slots.map { s in
                let snapshot = s.snapshot?.rawValue
                let held = snapshot.map { snap in freedAfter.reduce(UInt64(0)) { $0 + ($1.txn > snap ? $1.pages : 0) } } ?? 0
                return ReaderInfo(processID: Int(s.pid), isLive: s.isLive, isExpired: s.isExpired, snapshotID: snapshot,
                                  ageNanoseconds: now >= s.beganNanoseconds ? now - s.beganNanoseconds : 0,
                                  lag: snapshot.map { newest >= $0 ? newest - $0 : 0 } ?? 0, pagesHeld: held)
            }
            .sorted { ($0.snapshotID ?? .max) < ($1.snapshotID ?? .max) }
    }

    /// Frees the reader slots of processes that no longer run; returns how many.
    @discardableResult
    public func clearStaleReaders() -> Int { readers.reclaimStale() }

    /// The transaction and page count of every entry of the meta's free list and free-tree record.
    private func freeRecordSizes(_ core: TransactionCore) throws(LarchError) -> [(txn: UInt64, pages: UInt64)] {
        var out: [(txn: UInt64, pages: UInt64)] = core.meta.freeList.map { ($0.txn, UInt64($0.extent.count)) }
        let c = CursorState(core: core, tree: TreeIndex.free)
        var more = try c.first()
        while more {
            let e = try c.currentEntry()
            var pages: UInt64 = 0
            try FreeRecord.forEachExtent(try core.valueBytes(e), page: .none) { x throws(LarchError) in pages += UInt64(x.count) }
            out.append((FreeRecord.transaction(ofKey: e.key), pages))
            more = try c.next()
        }
        return out
    }
}

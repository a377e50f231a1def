/// What `copy(to:compact:)` wrote.
public struct CopyStats: Sendable, Equatable {
    /// The id of the snapshot that was copied. The copy's own transaction id is one higher.
    public var snapshotID: UInt64
    /// Pages of the source snapshot (its high-water mark, meta pages included).
    public var sourcePages: UInt64
    /// Pages of the copy, meta pages included.
    public var pages: UInt64
    /// Bytes written to the copy.
    public var bytesWritten: Int
    /// Whether free pages were dropped and pages renumbered.
    public var compacted: Bool
}

extension Transaction {
    /// Writes this transaction's snapshot to a new file at `path`, which must not exist. Writers
    /// may go on meanwhile: the snapshot's pages are never overwritten while the transaction lives.
    ///
    /// Without `compact`, the pages are copied as they are, free ones included. With `compact`,
    /// only reachable pages are copied, renumbered densely from page 2 and checked against their
    /// checksums on the way (a damaged source fails the copy rather than spreading); the copy's
    /// free tree is empty. Either way the copy is synced before its meta pages are written, so an
    /// interrupted copy is never a valid database, and an unfinished one is removed. For a write
    /// transaction, copies the snapshot it started from. A read transaction of a named snapshot
    /// (`Environment.read(snapshot:)`) is always copied compacted: the copy holds that state alone.
    /// A compacted copy holds no named snapshots; a plain copy holds all of them.
    @discardableResult
    public func copy(to path: String, compact: Bool = false) throws(LarchError) -> CopyStats {
        try core.checkActive()
        let compact = compact || core.snapshot.isNamed
        let snapshot = TransactionCore(env: core.env, snapshot: core.snapshot, readerSlot: nil)
        let destination = try CopyDestination(path: path, pageSize: snapshot.pageSize)
        do throws(LarchError) {
            let meta: MetaPage
            if compact {
                var compactor = Compactor(core: snapshot, destination: destination)
                meta = try compactor.run()
            } else {
                let source = snapshot.meta
                guard snapshot.readablePages == source.pageCount else {
                    throw LarchError.corruptPage(page: snapshot.readablePages, reason: "the memory map ends before the snapshot's \(source.pageCount) pages")
                }
                try destination.append(pages: snapshot.mapping.page(PageNumber(2), pageSize: snapshot.pageSize),
                                       count: Int(source.pageCount) - 2)
                var m = source
                m.txnID = source.txnID.next
                // Synced whole before its meta (FORMAT.md §4): no page of it is the newest commit's
                // to verify at open. Keeping the source's base would make open verify pages born
                // since then, and one damaged page would leave the copy unopenable, as both of its
                // meta pages hold this meta.
                m.durableBase = m.txnID
                meta = m
            }
            try core.checkNotExpired()   // the pages copied were the snapshot's, not reused ones
            try destination.finish(meta: meta)
            return CopyStats(snapshotID: snapshot.meta.txnID.rawValue, sourcePages: snapshot.meta.pageCount,
                             pages: destination.pageCount, bytesWritten: destination.bytesWritten, compacted: compact)
        } catch {
            destination.discard()
            throw error
        }
    }
}

extension Environment {
    /// Writes the current snapshot to a new file at `path` (see `ReadTransaction.copy(to:compact:)`),
    /// while other transactions go on.
    @discardableResult
    public func copy(to path: String, compact: Bool = false) throws(LarchError) -> CopyStats {
        let txn = try beginRead()
        return try txn.copy(to: path, compact: compact)
    }
}

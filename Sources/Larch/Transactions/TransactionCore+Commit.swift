#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What `prepareCommit` hands to `writeCommit`: the meta of the new snapshot and the file size it needs.
struct PreparedCommit {
    let meta: MetaPage
    let requiredBytes: Int
}

/// What `writeCommit` hands to `publishCommit`: the prepared commit, now durable as its durability
/// mode promises, the larger map if the file outgrew the old one, and the figures.
struct WrittenCommit {
    let prepared: PreparedCommit
    let mapping: Mapping?
    let stats: CommitStats
}

/// Commit: the seed's protocol, as one linear sequence of steps in three parts — `prepareCommit`
/// (in memory only), `writeCommit` (the file; its last write, the meta, is the commit point) and
/// `publishCommit` (new transactions see the snapshot).
extension TransactionCore {
    func commit() throws(LarchError) -> CommitStats {
        try env.committed.withLock { c throws(LarchError) in
            if c.closed { throw LarchError.environmentClosed }
        }
        let written = try writeCommit(try prepareCommit())
        publishCommit(written)
        return written.stats
    }

    /// Steps 1–3, in memory (`WriteState.prepareCommit`). Touches no file.
    func prepareCommit() throws(LarchError) -> PreparedCommit {
        precondition(isWrite, "commit of a read transaction")
        return try writeBox!.state.modifying { w throws(LarchError) in try w.prepareCommit() }
    }

    /// Steps 4–6, the file (see `writeCommit(_:_:)`).
    func writeCommit(_ prepared: PreparedCommit) throws(LarchError) -> WrittenCommit {
        try writeCommit(&writeBox!.state, prepared)
    }
}

extension WriteState {
    /// Steps 1–3, in memory: named databases' descriptors saved in the catalog, the free tree saved,
    /// every tree's checksums computed bottom-up, the new meta built. Touches no file.
    mutating func prepareCommit() throws(LarchError) -> PreparedCommit {
        // 1. Named databases changed in this transaction: checksum their pages bottom-up and save
        //    their descriptors in the catalog.
        for index in TreeIndex.firstNamed..<trees.count where trees[index].isDirty && trees[index].status == .present {
            finalize(tree: index)
            guard let name = trees[index].name else { continue }
            let record = trees[index].root.encoded
            try withBytes(Array(name.utf8)) { k throws(LarchError) in
                try withBytes(record) { v throws(LarchError) in try put(tree: TreeIndex.catalog, key: k, value: v) }
            }
        }
        // 2. The main tree and the catalog are final now.
        finalize(tree: TreeIndex.main)
        finalize(tree: TreeIndex.catalog)
        // 3. Record freed pages and unused pool pages in the free tree, then checksum it.
        try saveFreeTree()
        finalize(tree: TreeIndex.free)

        let newMeta = MetaPage(pageSize: pageSize, txnID: txnID, pageCount: allocator.nextPage,
                               main: trees[TreeIndex.main].root, catalog: trees[TreeIndex.catalog].root,
                               free: trees[TreeIndex.free].root)
        return PreparedCommit(meta: newMeta, requiredBytes: Int(allocator.nextPage) * pageSize)
    }

}

extension TransactionCore {
    /// Steps 4–6, the file: grow it and the map, write the pages, sync, write the meta (and sync it,
    /// with full durability). A failure before the meta leaves the file's current state as it was;
    /// one while writing the meta makes the environment refuse further use.
    private func writeCommit(_ w: inout WriteState, _ prepared: PreparedCommit) throws(LarchError) -> WrittenCommit {
        let env = self.env
        let newMeta = prepared.meta
        let requiredBytes = prepared.requiredBytes
        var syncs = 0
        var written = 0
        var newMapping: Mapping? = nil
        do {
            if env.options.strictChecks != .none { try validateDirtyPages(w.dirty) }
            // 4. Grow the file to cover every page in use, and the memory map with it (before the
            //    commit point, so that a failure aborts the commit rather than publishing a snapshot
            //    the map does not cover); then write the dirty pages, all at free offsets: nothing
            //    the current meta or a live reader can reach is overwritten.
            // Another process may have grown the file past this one's record of its size: ask the
            // file before growing it, so that it never shrinks.
            let fileSize = env.committed.withLock { $0.fileSizeBytes }
            if requiredBytes > fileSize, requiredBytes > (try env.file.size()) { try env.file.resize(to: requiredBytes) }
            if requiredBytes > snapshot.mapping.sizeBytes {
                newMapping = try env.file.map(sizeBytes: Environment.reservation(fileSize: requiredBytes, options: env.options, pageSize: pageSize))
            }
            if env.unsafeMetaBeforeDataSync { try writeMeta(newMeta) }   // crash-lab negative test only
            written = try writeDirtyPages(w.dirty)
            // 5. Make the data durable before any meta can point at it.
            if env.options.durability != .noSync { try env.file.sync(); syncs += 1 }
            if env.options.strictChecks == .full { try checkNewState(newMeta, mapping: newMapping ?? snapshot.mapping) }
        } catch {
            w.failure = error
            throw error
        }
        // 6. Write the meta into the other slot; once synced, this is the commit.
        do {
            if env.unsafeMetaBeforeDataSync {
                if env.options.durability == .full { try env.file.sync(); syncs += 1 }
            } else if env.options.durability == .full {
                try writeMeta(newMeta, durably: true)   // write and sync in one (O_DSYNC on Linux)
                syncs += 1
            } else {
                try writeMeta(newMeta)
            }
        } catch {
            // The new meta may or may not be on disk: the in-memory state can no longer be trusted.
            w.failure = error
            env.committed.withLock { $0.failure = "committing transaction \(w.txnID) failed after writing its meta page: \(error)" }
            throw error
        }
        let stats = CommitStats(transactionID: w.txnID.rawValue, pagesWritten: written,
                                bytesWritten: (written + 1) * pageSize, pagesFreed: w.allocator.freed.count,
                                pageCount: w.allocator.nextPage, syncs: syncs)
        return WrittenCommit(prepared: prepared, mapping: newMapping, stats: stats)
    }

    /// Step 7: this environment's bookkeeping — the committed meta, the map that covers it, what is
    /// durable, `lastCommit`. (New read transactions, here and in other processes, find the new
    /// meta in the file: writing it was the commit.)
    func publishCommit(_ written: WrittenCommit) {
        let env = self.env
        let newMeta = written.prepared.meta
        env.committed.withLock { c in
            c.meta = newMeta
            if let m = written.mapping { c.mapping = m }
            c.fileSizeBytes = max(c.fileSizeBytes, written.prepared.requiredBytes)
            c.lastCommit = written.stats
            switch env.options.durability {
            case .full, .noSync: c.durableTxn = newMeta.txnID   // noSync promises nothing across power loss
            case .noMetaSync: c.durableTxn = meta.txnID          // the data sync flushed the previous meta
            }
        }
    }

    /// Strict mode: every dirty page is a well-formed branch, leaf or overflow run before it is
    /// written. A failure is a defect in Larch, reported before anything reaches the meta.
    private func validateDirtyPages(_ dirty: borrowing DirtyPages) throws(LarchError) {
        var failure: LarchError?
        dirty.forEach { page, d in
            guard failure == nil else { return }
            let v = PageView(base: UnsafeRawPointer(d.buffer), pageSize: pageSize, number: page)
            do throws(LarchError) {
                switch v.kindByte {
                case PageKind.branch.rawValue:
                    try v.validateNode(kind: .branch)
                    for i in 0..<v.count { _ = try v.child(i) }
                    try Self.validateKeyOrder(count: v.count, first: 1, page: page) { i throws(LarchError) in try v.branchKey(i) }
                case PageKind.leaf.rawValue:
                    try v.validateNode(kind: .leaf)
                    for i in 0..<v.count { _ = try v.leafCell(i) }
                    try Self.validateKeyOrder(count: v.count, first: 0, page: page) { i throws(LarchError) in try v.leafKey(i) }
                case PageKind.overflow.rawValue:
                    guard OverflowRun.hasHeader(UnsafeRawPointer(d.buffer), first: page, pages: d.pageCount) else {
                        throw LarchError.corruptPage(page: page.rawValue, reason: "overflow run header does not match its \(d.pageCount) pages")
                    }
                default:
                    throw LarchError.corruptPage(page: page.rawValue, reason: "dirty page of kind \(v.kindByte)")
                }
            } catch {
                failure = .corruptPage(page: page.rawValue, reason: "strict mode, before writing: \(error)")
            }
        }
        if let failure { throw failure }
    }

    /// Keys `first ..< count` of a page strictly ascend.
    private static func validateKeyOrder(count: Int, first: Int, page: PageNumber,
                                         _ key: (Int) throws(LarchError) -> UnsafeRawBufferPointer) throws(LarchError) {
        guard count > first + 1 else { return }
        var previous = try key(first)
        for i in (first + 1)..<count {
            let k = try key(i)
            guard let a = previous.baseAddress, let b = k.baseAddress, previous.count > 0, k.count > 0 else {
                throw .corruptPage(page: page.rawValue, reason: "key \(i - 1) or \(i) is empty")
            }
            guard compareBytes(a, previous.count, b, k.count) < 0 else {
                throw .corruptPage(page: page.rawValue, reason: "keys \(i - 1) and \(i) are out of order")
            }
            previous = k
        }
    }

    /// Strict mode `.full`: the checker over the state about to be committed (its pages are written,
    /// its meta is not).
    private func checkNewState(_ newMeta: MetaPage, mapping: Mapping) throws(LarchError) {
        var checker = Checker(core: TransactionCore(env: env, snapshot: Snapshot(meta: newMeta, mapping: mapping, verifyChecksums: env.options.verifyChecksums), readerSlot: nil))
        let report = checker.run()
        guard report.isClean else {
            throw .corruptPage(page: report.problems.first?.page ?? 0,
                               reason: "strict mode, before the meta: the new state fails the checker: \(report.problems.prefix(3).map(\.description).joined(separator: "; "))")
        }
    }

    /// Writes `meta` into its slot (a whole page, zero after the meta).
    private func writeMeta(_ meta: MetaPage, durably: Bool = false) throws(LarchError) {
        try withUnsafeTemporaryAllocation(byteCount: pageSize, alignment: 16) { page throws(LarchError) in
            meta.encodePage(at: page.baseAddress!, pageSize: pageSize)
            if durably {
                try env.file.writeDurably(UnsafeRawBufferPointer(page), at: meta.slot * pageSize)
            } else {
                try env.file.write(UnsafeRawBufferPointer(page), at: meta.slot * pageSize)
            }
        }
    }

    /// The most pages one vectored write covers. Linux sizes the page-cache folios a buffered write
    /// creates by the write's length, and every later write of a single page into a large folio costs
    /// time in proportion to the folio's size (ext4 walks all its blocks); runs of at most 16 pages
    /// (64 KiB at 4 KiB pages) keep later copy-on-write writes cheap.
    static let maxPagesPerWrite: UInt64 = 16

    /// Writes every dirty page in page order, one vectored write per contiguous run (of at most
    /// `maxPagesPerWrite` pages); returns the page count.
    private func writeDirtyPages(_ dirty: borrowing DirtyPages) throws(LarchError) -> Int {
        let pages = dirty.sortedByPage()
        guard !pages.isEmpty else { return 0 }
        var total = 0
        return try withUnsafeTemporaryAllocation(of: iovec.self, capacity: pages.count) { iov throws(LarchError) -> Int in
            var runStart = 0
            while runStart < pages.count {
                var runEnd = runStart
                var next = pages[runStart].page.rawValue + UInt64(pages[runStart].dirty.pageCount)
                iov[0] = iovec(iov_base: pages[runStart].dirty.buffer, iov_len: pages[runStart].dirty.pageCount * pageSize)
                while runEnd + 1 < pages.count, pages[runEnd + 1].page.rawValue == next,
                      pages[runEnd + 1].dirty.pageCount > 1 || next - pages[runStart].page.rawValue < TransactionCore.maxPagesPerWrite {
                    runEnd += 1
                    let d = pages[runEnd].dirty
                    iov[runEnd - runStart] = iovec(iov_base: d.buffer, iov_len: d.pageCount * pageSize)
                    next += UInt64(d.pageCount)
                }
                let n = runEnd - runStart + 1
                try env.file.write(vectors: UnsafeMutableBufferPointer(rebasing: iov[0..<n]),
                                   at: Int(pages[runStart].page.rawValue) * pageSize)
                for j in runStart...runEnd { total += pages[j].dirty.pageCount }
                runStart = runEnd + 1
            }
            return total
        }
    }
}

extension WriteState {
    /// Computes the checksums of `tree`'s dirty pages bottom-up, recording each in its parent and
    /// the root's in the tree descriptor.
    mutating func finalize(tree: Int) {
        let root = trees[tree].root
        guard !root.isEmpty, dirty[root.root] != nil else { return }
        trees[tree].root.rootChecksum = finalizePage(root.root, level: 0, depth: root.depth)
    }

    ///
    /// A branch cell that points to a dirty page always records checksum 0: every way a dirty page
    /// gets linked (copy-on-write, split, new root, merge or borrow) writes 0 or copies a cell that
    /// has it. So only cells recording 0 can point to dirty pages, and only those are looked up in
    /// the dirty table (a clean page whose checksum happens to be 0 is looked up and skipped).
    private func finalizePage(_ page: PageNumber, level: Int, depth: Int) -> UInt32 {
        let buf = dirty[page]!.buffer
        if level < depth - 1 {
            let m = MutablePage(base: buf, pageSize: pageSize)
            for i in 0..<m.count {
                let (child, recorded) = m.childReference(i)
                assert(recorded == 0 || dirty[child] == nil, "dirty page \(child) linked with a nonzero checksum")
                if recorded == 0 && dirty[child] != nil {
                    m.setChildChecksum(i, finalizePage(child, level: level + 1, depth: depth))
                }
            }
        }
        return CRC32C.checksum(UnsafeRawPointer(buf), count: pageSize)
    }
}

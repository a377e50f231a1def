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

/// Commit: the seed's protocol with one sync, as one linear sequence of steps — `prepareCommit`
/// (in memory only), `writeCommitPages` (the pages, at free offsets), then the commit queue
/// (`Environment+GroupCommit`): the meta of the newest commit waiting, one sync, publication.
extension TransactionCore {
    /// Commits the write transaction and ends it, whether or not the commit succeeds; returns
    /// once a sync covers it.
    func commitAndEnd() throws(LarchError) -> CommitStats {
        var stats = try commitPagesAndEnd()
        let (syncs, group, ledMeta) = try env.awaitDurable(TransactionID(stats.transactionID))
        stats.finish(syncs: syncs, groupSize: group, ledMeta: ledMeta, pageSize: pageSize)
        env.committed.withLock { $0.lastCommit = stats }
        return stats
    }

    /// `commitAndEnd` for async code: the task suspends while it waits for the sync.
    nonisolated(nonsending) func commitAndEndAsync() async throws(LarchError) -> CommitStats {
        var stats = try commitPagesAndEnd()
        let (syncs, group, ledMeta) = try await env.awaitDurableAsync(TransactionID(stats.transactionID))
        stats.finish(syncs: syncs, groupSize: group, ledMeta: ledMeta, pageSize: pageSize)
        env.committed.withLock { $0.lastCommit = stats }
        return stats
    }

    /// Writes the transaction's pages, hands its meta to the commit queue and ends the
    /// transaction (the writer turn passes on). Nothing is visible yet; on error the transaction
    /// is aborted and the file's published state is as it was.
    func commitPagesAndEnd() throws(LarchError) -> CommitStats {
        try checkActive()
        guard lentViews.load(ordering: .relaxed) == 0 else { throw .viewInUse }
        do {
            try env.committed.withLock { c throws(LarchError) in
                if c.closed { throw LarchError.environmentClosed }
            }
            if env.options.shrinkWithCommits { try relocationStep() }
            let prepared = try writeBox!.state.modifying { w throws(LarchError) in try w.prepareCommit() }
            let stats = try writeCommitPages(&writeBox!.state, prepared)
            end(as: .committed)
            return stats
        } catch {
            end(as: .aborted)
            throw error
        }
    }
}

extension WriteState {
    /// The databases this transaction changed (for `Environment.commits`).
    var changedDatabases: DatabaseChanges {
        var changes = DatabaseChanges(main: trees[TreeIndex.main].isDirty)
        for index in TreeIndex.firstNamed..<max(trees.count, TreeIndex.firstNamed)
        where trees[index].isDirty || trees[index].existenceChanged {
            if let name = trees[index].name { changes.named.insert(name) }
        }
        return changes
    }

    /// Steps 1–4, in memory: named databases' descriptors saved in the catalog, dead extents and
    /// the free space saved, every tree's checksums computed bottom-up, the new meta built.
    /// Touches no file.
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
        // 3. A snapshot of this commit's state, if asked for; the pages a snapshot still reaches
        //    recorded as dead extents; then the snapshots tree's checksums.
        try saveSnapshotOfResult()
        try saveDeadExtents()
        finalize(tree: TreeIndex.snapshots)
        // 4. Record freed pages and unused pool pages in the meta's free list, or when they do not
        //    fit there, in the free tree; then checksum the free tree.
        if trimsFreeTail { trimFreeTail() }
        try saveFreeSpace()
        finalize(tree: TreeIndex.free)

        // The durable base is set when a group takes the meta (`Environment+GroupCommit`).
        var newMeta = MetaPage(pageSize: pageSize, txnID: txnID, pageCount: allocator.nextPage,
                               main: trees[TreeIndex.main].root, catalog: trees[TreeIndex.catalog].root,
                               free: trees[TreeIndex.free].root, durableBase: snapshot.meta.txnID)
        newMeta.freeList = allocator.freeList
        newMeta.snapshots = trees[TreeIndex.snapshots].root
        return PreparedCommit(meta: newMeta, requiredBytes: Int(allocator.nextPage) * pageSize)
    }

}

extension TransactionCore {
    /// Steps 4–5, the file: grow it and the map, write the pages (all at free offsets: nothing the
    /// published meta or a live reader can reach is overwritten), and hand the meta to the queue.
    /// A failure leaves the file's published state as it was.
    private func writeCommitPages(_ w: inout WriteState, _ prepared: PreparedCommit) throws(LarchError) -> CommitStats {
        let env = self.env
        let newMeta = prepared.meta
        let requiredBytes = prepared.requiredBytes
        var newMapping: Mapping? = nil
        var grownFrom: Int? = nil
        let written: (pages: Int, runs: Int)
        do {
            if env.options.strictChecks != .none { try validateDirtyPages(w.dirty) }
            // Grow the file to cover every page in use, and the memory map with it (before the
            // meta, so that a failure aborts the commit rather than publishing a snapshot the map
            // does not cover). Ask the file its size, not this process's record of it: another
            // process may have grown it (it must never shrink), or grown it and given the growth
            // back when its commit failed (the record may be too large).
            let current = try env.file.size()
            var grownTo = current
            if requiredBytes > current {
                grownTo = try Environment.grow(env.file, current: current, required: requiredBytes, options: env.options, pageSize: pageSize)
                grownFrom = current
            }
            if requiredBytes > snapshot.mapping.sizeBytes {
                newMapping = try env.file.map(sizeBytes: Environment.reservation(fileSize: grownTo, options: env.options, pageSize: pageSize))
            }
            let m = newMapping
            env.committed.withLock { c in
                c.fileSizeBytes = grownTo
                if let m, m.sizeBytes > c.mapping.sizeBytes { c.mapping = m }
            }
            written = try writeDirtyPages(w.dirty)
            if env.options.strictChecks == .full { try checkNewState(newMeta, mapping: newMapping ?? snapshot.mapping) }
        } catch {
            w.failure = error
            if w.rewroteInPlace { env.failWaitingCommits(error) }
            if let grownFrom { giveBackGrowth(to: grownFrom) }
            throw error
        }
        if w.rewroteInPlace { env.pagesRewrittenInPlace.add(w.rewrittenInPlace, ordering: .relaxed) }
        let rewritable = w.dirty.count <= CommitQueue.maxRewritablePages ? w.dirty.singlePages() : []
        env.enqueue(newMeta, mapping: newMapping ?? snapshot.mapping, pages: rewritable, changes: w.changedDatabases)
        let spilled = w.spilled?.pagesWritten ?? 0
        return CommitStats(transactionID: w.txnID.rawValue, pagesWritten: written.pages + spilled,
                           bytesWritten: (written.pages + spilled) * pageSize, pageRuns: written.runs + (w.spilled?.runs ?? 0),
                           pagesFreed: w.allocator.freed.count, pageCount: w.allocator.nextPage, syncs: 0, pagesSpilled: spilled)
    }

    /// A commit that grew the file failed before its meta was written: the file goes back to its
    /// size before the commit, giving back the space of the pages it wrote there (a full disk must
    /// not stay fuller for a commit that never happened). Nothing needs those pages: they are past
    /// every page of the published meta and of the commits waiting for their sync (each grew the
    /// file to cover its own pages before this one measured it), and this transaction still holds
    /// the writer lock. The map may stay larger than the file; nothing reads past the file's pages.
    private func giveBackGrowth(to size: Int) {
        guard (try? env.file.resize(to: size)) != nil else { return }
        env.committed.withLock { $0.fileSizeBytes = size }
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

    /// The most pages one vectored write covers. Linux sizes the page-cache folios a buffered write
    /// creates by the write's length, and every later write of a single page into a large folio costs
    /// time in proportion to the folio's size (ext4 walks all its blocks); runs of at most 16 pages
    /// (64 KiB at 4 KiB pages) keep later copy-on-write writes cheap.
    static let maxPagesPerWrite: UInt64 = 16

    /// Writes every dirty page in page order, one vectored write per contiguous run (of at most
    /// `maxPagesPerWrite` pages); returns the page count and the number of writes.
    private func writeDirtyPages(_ dirty: borrowing DirtyPages) throws(LarchError) -> (pages: Int, runs: Int) {
        let pages = dirty.sortedByPage()
        guard !pages.isEmpty else { return (0, 0) }
        var total = 0
        var runs = 0
        return try withUnsafeTemporaryAllocation(of: iovec.self, capacity: pages.count) { iov throws(LarchError) -> (pages: Int, runs: Int) in
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
                runs += 1
                runStart = runEnd + 1
            }
            return (total, runs)
        }
    }
}

extension WriteState {
    /// Computes the checksums of `tree`'s dirty pages bottom-up, recording each in its parent and
    /// the root's in the tree descriptor.
    mutating func finalize(tree: Int) {
        let root = trees[tree].root
        guard !root.isEmpty else { return }
        guard dirty[root.root] != nil else {
            if let e = spilled?[root.root] {   // a spilled root (not chosen to spill, but kept right if one were)
                trees[tree].root.rootChecksum = e.checksum
                trees[tree].root.rootBirth = txnID
            }
            return
        }
        trees[tree].root.rootChecksum = finalizePage(root.root, level: 0, depth: root.depth, duplicates: root.hasSortedDuplicates)
        trees[tree].root.rootBirth = txnID
    }

    ///
    /// A branch cell that points to a dirty page always records checksum 0: every way a dirty page
    /// gets linked (copy-on-write, split, new root, merge or borrow) writes 0 or copies a cell that
    /// has it. So only cells recording 0 can point to dirty pages, and only those are looked up in
    /// the dirty table (a clean page whose checksum happens to be 0 is looked up and skipped).
    ///
    /// In a sorted-duplicates database, a leaf's duplicate trees whose root is dirty are finalized
    /// first, and their checksum and birth recorded in the leaf cell, before the leaf's own checksum.
    private func finalizePage(_ page: PageNumber, level: Int, depth: Int, duplicates: Bool = false) -> UInt32 {
        let buf = dirty[page]!.buffer
        if duplicates && level == depth - 1 {
            let m = MutablePage(base: buf, pageSize: pageSize)
            for i in 0..<m.count {
                guard let (sub, at) = m.duplicateTreeReference(i), !sub.isEmpty else { continue }
                var final = sub
                if dirty[sub.root] != nil {
                    final.rootChecksum = finalizePage(sub.root, level: 0, depth: sub.depth)
                } else if let e = spilled?[sub.root] {   // spilled: its checksum was taken when it was written
                    final.rootChecksum = e.checksum
                } else {
                    continue
                }
                final.rootBirth = txnID
                final.encode(to: at)
            }
        }
        if level < depth - 1 {
            let m = MutablePage(base: buf, pageSize: pageSize)
            for i in 0..<m.count {
                let (child, recorded) = m.childReference(i)
                assert(recorded == 0 || dirty[child] == nil, "dirty page \(child) linked with a nonzero checksum")
                if recorded == 0 && dirty[child] != nil {
                    m.setChildChecksum(i, finalizePage(child, level: level + 1, depth: depth, duplicates: duplicates), birth: txnID)
                } else if recorded == 0, let e = spilled?[child] {
                    // Spilled: already in the file; its checksum was taken when it was written.
                    m.setChildChecksum(i, e.checksum, birth: txnID)
                }
            }
        }
        return CRC32C.checksum(UnsafeRawPointer(buf), count: pageSize)
    }
}

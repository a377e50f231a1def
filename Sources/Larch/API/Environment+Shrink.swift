/// What `Environment.shrink` did.
public struct ShrinkStats: Sendable, Equatable {
    /// The file's pages (its high-water mark) before and after.
    public var pagesBefore: UInt64
    public var pagesAfter: UInt64
    /// Pages moved from the end of the file into free pages below.
    public var pagesRelocated: Int
    /// The file's size in bytes before and after.
    public var fileBytesBefore: Int
    public var fileBytesAfter: Int
    /// Commits made.
    public var commits: Int
}

extension TransactionCore {
    /// `Options.shrinkWithCommits`, before a commit: a few leaves further in the databases' walk,
    /// moving what lies in the last quarter of the file into free pages below (see
    /// `WriteState.relocationStep`). The walk goes through the main database, then each named one,
    /// and starts again.
    func relocationStep() throws(LarchError) {
        var cursor = env.shrinkCursor.withLock { $0 }
        for _ in 0..<2 {
            var tree = TreeIndex.main
            if let name = cursor.database {
                let db = try handle(name)
                guard try loadNamed(index: db.index, name: name) == .present else {
                    cursor = (try databaseNames().first { $0 > name }, [])
                    continue
                }
                tree = db.index
            }
            let key = cursor.key
            if let next = try modifying({ w throws(LarchError) in try w.relocationStep(tree: tree, from: key, leaves: 4) }) {
                cursor.key = next
                break
            }
            let current = cursor.database
            cursor = (try databaseNames().first { current == nil || $0 > current! }, [])
        }
        let done = cursor
        env.shrinkCursor.withLock { $0 = done }
    }
}

extension Environment {
    /// Gives space back to the file system while readers and writers go on.
    ///
    /// Each pass is three ordinary commits and a truncation (up to three passes, while they gain:
    /// see below): the first relocates up to `budget` live pages that
    /// lie where the free space would be if it were all at the end (copy-on-write puts their
    /// copies in the lowest free pages); the second takes every reusable free page and drops
    /// those at the end of the file from the page count; the third records that page count in
    /// the other meta page too; then, with no commit on its way and both meta pages durable, the
    /// file is cut to the larger page count of the two. A crash anywhere leaves the file at one
    /// of those commits, whole. Pages a reader or a named snapshot still needs are not moved or
    /// cut: run `shrink` again after they end. `budget` 0 only cuts what is free at the end.
    @discardableResult
    public func shrink(relocating budget: Int = .max) throws(LarchError) -> ShrinkStats {
        try shrink(relocating: budget, afterEachCommit: { _ in })
    }

    /// `shrink`, calling `afterEachCommit` with each of its commits (the crash lab records them).
    ///
    /// Up to three passes: pages of trees a pass does not move (the free tree's own records, say)
    /// can hold the end of the file, and the pass's commits rewrite them lower down, so a second
    /// pass cuts what the first could not (found by filling small disks: a first `larch shrink`
    /// went 454 → 449 pages, a second 449 → 43). Another pass runs while a pass made progress and
    /// more than a sixteenth of the file (and 16 pages) is still free.
    package func shrink(relocating budget: Int, afterEachCommit: (CommitStats) -> Void) throws(LarchError) -> ShrinkStats {
        var total = try shrinkPass(relocating: budget, afterEachCommit: afterEachCommit)
        for _ in 1..<3 {
            let now = try stats()
            let progressed = total.pagesAfter < total.pagesBefore || total.pagesRelocated > 0
            guard progressed, budget > total.pagesRelocated, now.freePages > max(16, Int(now.pageCount) / 16) else { break }
            let pass = try shrinkPass(relocating: budget - total.pagesRelocated, afterEachCommit: afterEachCommit)
            guard pass.pagesAfter < pass.pagesBefore || pass.pagesRelocated > 0 else { break }
            total.pagesAfter = pass.pagesAfter
            total.fileBytesAfter = pass.fileBytesAfter
            total.pagesRelocated += pass.pagesRelocated
            total.commits += pass.commits
        }
        return total
    }

    /// One pass of `shrink`: relocate, cut the page count (twice: both meta pages), cut the file.
    private func shrinkPass(relocating budget: Int, afterEachCommit: (CommitStats) -> Void) throws(LarchError) -> ShrinkStats {
        let before = try stats()
        var stats = ShrinkStats(pagesBefore: before.pageCount, pagesAfter: before.pageCount, pagesRelocated: 0,
                                fileBytesBefore: before.fileSizeBytes, fileBytesAfter: before.fileSizeBytes, commits: 0)
        // 1. Move live pages out of the tail, into the free pages this writer may reuse (not those
        //    a reader still needs). An eighth of them stays as room for the copies of the paths.
        let free = before.freePages
        if budget > 0 && free > 0 {
            let boundary = before.pageCount - free + free / 8
            let txn = try beginWrite()
            let startPages = try txn.core.modifying { w throws(LarchError) in w.allocator.nextPage }
            var moved = try txn.core.modifying { w throws(LarchError) in
                try w.relocate(tree: TreeIndex.main, above: boundary, budget: budget)
            }
            moved += try txn.core.modifying { w throws(LarchError) in
                try w.relocate(tree: TreeIndex.catalog, above: boundary, budget: budget - moved)
            }
            for name in try txn.databaseNames() where moved < budget {
                let tree = try txn.core.tree(try txn.core.handle(name))
                moved += try txn.core.modifying { w throws(LarchError) in try w.relocate(tree: tree, above: boundary, budget: budget - moved) }
            }
            // Copies that had to come from the end of the file (no free page below was left for
            // them: an overflow run needing a longer hole, say) would grow it: then move nothing.
            let grew = try txn.core.modifying { w throws(LarchError) in w.allocator.nextPage > startPages }
            if moved > 0 && !grew {
                afterEachCommit(try txn.commit())
                stats.commits += 1
                stats.pagesRelocated = moved
            } else {
                txn.abort()
            }
        }
        // 2. The free pages at the end leave the page count.
        let cut = try beginWrite()
        _ = try cut.core.modifying { w throws(LarchError) in try w.cutFreeTail() }
        afterEachCommit(try cut.commit())
        // 3. The other meta page gets that page count too.
        let again = try beginWrite()
        _ = try again.core.modifying { w throws(LarchError) in try w.cutFreeTail() }
        afterEachCommit(try again.commit())
        stats.commits += 2
        // 4. Cut the file.
        stats.fileBytesAfter = try truncateToMetaPages()
        stats.pagesAfter = try self.stats().pageCount
        return stats
    }

    /// `Options.shrinkWithCommits`, at the start of a write transaction (holding the writer lock):
    /// cuts the file when it is a quarter, and 64 pages, longer than both meta pages need and no
    /// commit of this process is on its way. A failure leaves the file as it was, and the
    /// transaction goes on.
    func cutFileTailIfWorthIt(pageCount: UInt64) {
        let (size, idle) = committed.withLock { c in (c.fileSizeBytes, c.queue.inFlight == nil && c.queue.unpublished == nil) }
        let needed = Int(pageCount) * pageSize
        // A quarter, not an eighth: the file grows by an eighth at a time, and must not be cut right back.
        guard idle, size - needed >= max(64 * pageSize, needed / 4) else { return }
        _ = try? truncateHoldingWriterLock()
    }

    /// Cuts the file after the pages both meta pages use, once no commit of this process is on its
    /// way and both are durable; returns the file's size.
    private func truncateToMetaPages() throws(LarchError) -> Int {
        let txn = try beginWrite()   // the writer lock, in this process and in the file
        let size = try truncateHoldingWriterLock()
        txn.abort()
        return size
    }

    private func truncateHoldingWriterLock() throws(LarchError) -> Int {
        try drainCommits()
        try file.sync()
        let size = try file.size()
        let slots = try Self.readMetaSlots(file, fileSize: size)
        var pages: UInt64 = 2
        for slot in slots.slots {
            guard case .success(let m) = slot else { return size }   // a meta the cut could damage further: leave the file
            pages = max(pages, m.pageCount)
        }
        let target = Int(pages) * pageSize
        guard target < size else { return size }
        try file.resize(to: target)
        try file.sync()
        committed.withLock { $0.fileSizeBytes = target }
        return target
    }
}

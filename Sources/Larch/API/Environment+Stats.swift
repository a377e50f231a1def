extension Environment {
    /// Statistics of the current snapshot: sizes, free space (the meta's free list and the free tree), readers.
    public func stats() throws(LarchError) -> EnvironmentStats {
        let txn = try beginRead()
        let core = txn.core
        let oldest = oldestNeededSnapshot(current: core.meta.txnID)
        var free: UInt64 = 0
        var awaiting: UInt64 = 0
        let c = CursorState(core: core, tree: TreeIndex.free)
        var more = try c.first()
        while more {
            let e = try c.currentEntry()
            let t = FreeRecord.transaction(ofKey: e.key)
            try FreeRecord.forEachExtent(try core.valueBytes(e), page: .none) { e throws(LarchError) in
                if t <= oldest.rawValue { free += UInt64(e.count) } else { awaiting += UInt64(e.count) }
            }
            more = try c.next()
        }
        for entry in core.meta.freeList {
            if entry.txn <= oldest.rawValue { free += UInt64(entry.extent.count) } else { awaiting += UInt64(entry.extent.count) }
        }
        let freeTree = core.meta.free
        let (fileSize, _) = committed.withLock { ($0.fileSizeBytes, 0) }
        return EnvironmentStats(
            pageSize: pageSize, pageCount: core.meta.pageCount, freePages: free, pagesAwaitingReuse: awaiting,
            freeTreePages: freeTree.branchPages + freeTree.leafPages + freeTree.overflowPages,
            metaFreeListEntries: core.meta.freeList.count,
            transactionID: core.meta.txnID.rawValue, readers: readers.activeCount - 1, maxReaders: readers.capacity,
            fileSizeBytes: fileSize, main: DatabaseStats(core.meta.main), databaseCount: Int(clamping: core.meta.catalog.entries))
    }
}

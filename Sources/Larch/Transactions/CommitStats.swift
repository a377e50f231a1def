/// What one commit wrote: the write amplification of copy-on-write, in numbers.
public struct CommitStats: Sendable, Equatable {
    /// The id of the committed transaction.
    public var transactionID: UInt64
    /// Tree and overflow pages written (not counting the meta page), including those spilled before
    /// the commit (`pagesSpilled`).
    public var pagesWritten: Int
    /// Bytes written for this commit: its pages, and the meta page when this caller wrote the
    /// meta of its group.
    public var bytesWritten: Int
    /// Separate runs of consecutive pages among `pagesWritten` (one vectored write each, runs
    /// longer than 16 pages split): 1 when a commit's pages lie together.
    public var pageRuns: Int = 0
    /// Pages this transaction stopped using (recorded in the meta's free list or the free tree).
    public var pagesFreed: Int
    /// Pages in use or free after the commit (the file's high-water mark).
    public var pageCount: UInt64
    /// Sync calls this caller made: 1 when it led the sync of its group (or of a group before
    /// it), 0 when another committer's sync covered its commit (group commit) or under `noSync`.
    public var syncs: Int
    /// Commits that the sync covering this one made durable at once (1 without group commit).
    public var groupSize: Int = 1
    /// Of `pagesWritten`, those the transaction wrote before its commit because its dirty pages
    /// passed `Options.maxDirtyBytes` (a spilled page changed again is written again by the commit,
    /// and counted again in `pagesWritten`).
    public var pagesSpilled: Int = 0
}

extension CommitStats {
    /// Completes the figures once the commit is durable.
    mutating func finish(syncs: Int, groupSize: Int, ledMeta: Bool, pageSize: Int) {
        self.syncs = syncs
        self.groupSize = groupSize
        if ledMeta { bytesWritten += pageSize }
    }
}

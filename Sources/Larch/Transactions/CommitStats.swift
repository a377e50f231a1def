/// What one commit wrote: the write amplification of copy-on-write, in numbers.
public struct CommitStats: Sendable, Equatable {
    /// The id of the committed transaction.
    public var transactionID: UInt64
    /// Tree and overflow pages written (not counting the meta page).
    public var pagesWritten: Int
    /// Bytes written, including the meta page.
    public var bytesWritten: Int
    /// Pages this transaction stopped using (recorded in the free tree).
    public var pagesFreed: Int
    /// Pages in use or free after the commit (the file's high-water mark).
    public var pageCount: UInt64
    /// Sync calls made.
    public var syncs: Int
}

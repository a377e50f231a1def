#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The engine's only door to the disk: positioned reads and writes, vectored writes, sync, size,
/// resizing, and the read-only mapping through which committed pages are read.
///
/// `DataFile` implements it with pread/pwritev/fdatasync/mmap. A test-support target implements
/// it with a simulated disk whose volatile cache can lose, keep, reorder or tear unsynced writes,
/// so that crashes can be placed after any operation. The seam costs nothing on the read path:
/// reads go through `Mapping.base`, never through the protocol; writes cross it a few times per commit.
package protocol StorageDevice: AnyObject, Sendable {
    /// A name for messages (the file's path).
    var path: String { get }
    /// The current size in bytes.
    func size() throws(LarchError) -> Int
    /// Reads `buffer.count` bytes at `offset`; bytes past the end read as zero.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(LarchError)
    /// Writes `buffer` at `offset`.
    func write(_ buffer: UnsafeRawBufferPointer, at offset: Int) throws(LarchError)
    /// Writes the buffers back to back from `offset`.
    func write(vectors: UnsafeMutableBufferPointer<iovec>, at offset: Int) throws(LarchError)
    /// Makes every write so far durable.
    func sync() throws(LarchError)
    /// Writes `buffer` at `offset` and returns once it is durable, with every write before it that
    /// `sync()` has made durable. The default writes, then syncs.
    func writeDurably(_ buffer: UnsafeRawBufferPointer, at offset: Int) throws(LarchError)
    /// Sets the size.
    func resize(to size: Int) throws(LarchError)
    /// Grows the file to `size` bytes and writes zeros from `start` (the end of what the caller is
    /// about to write itself) to `size`, so that the pages later written there overwrite
    /// allocated blocks. A sync that carries a write into a hole (or an unwritten extent) must
    /// also write the file system's allocation records — the inode, after the data and before
    /// the flush: measured, 28% of one-put commits into a bulk-loaded file paid that write, and
    /// one writer went 7.03k → 7.67k commits/s once the growth was written. A full disk fails
    /// here, before any page of the commit is written. The default resizes only (a simulated
    /// disk has no blocks to allocate).
    func grow(to size: Int, writingZerosFrom start: Int) throws(LarchError)
    /// A read-only view of the current contents, `sizeBytes` long (past the end, never touched).
    func map(sizeBytes: Int) throws(LarchError) -> Mapping
    /// Releases the device (and its lock). Later calls do nothing.
    func close()
    /// Takes the writer lock that serializes write transactions across processes, waiting while
    /// another holds it — for at most `timeout` (nil: as long as it takes; then `writerTimeout`).
    /// The system releases it when its holder dies.
    func lockWriter(timeout: Duration?) throws(LarchError)
    /// Takes the writer lock if no other process holds it; returns whether it did.
    func tryLockWriter() throws(LarchError) -> Bool
    /// Releases the writer lock.
    func unlockWriter()
    /// The lock file shared with the other processes that have the database open, or nil when
    /// there is none (a simulated disk; a database in a read-only directory).
    func openLockFile(slots: Int) throws(LarchError) -> LockFile?
}

extension StorageDevice {
    /// One process only: nothing to coordinate with.
    package func lockWriter(timeout: Duration?) throws(LarchError) {}
    package func tryLockWriter() throws(LarchError) -> Bool { true }
    package func unlockWriter() {}
    package func openLockFile(slots: Int) throws(LarchError) -> LockFile? { nil }

    package func writeDurably(_ buffer: UnsafeRawBufferPointer, at offset: Int) throws(LarchError) {
        try write(buffer, at: offset)
        try sync()
    }

    package func grow(to size: Int, writingZerosFrom start: Int) throws(LarchError) {
        try resize(to: size)
    }
}

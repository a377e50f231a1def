#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// How commits reach the disk.
public enum Durability: Sendable, Equatable {
    /// Write the pages and the meta page, then sync once (shared by the commits of a group). A
    /// commit that returned survives power loss; open passes over a newest commit that a crash
    /// cut short (docs/CRASH-SAFETY.md).
    case full
    /// The same as `full` since format version 2: it used to skip the meta's sync and could lose
    /// the last commit; one sync per commit now costs what it cost and loses nothing.
    case noMetaSync
    /// No syncs at all: a commit is published as soon as its meta is written. Safe against process
    /// crashes; after an operating-system crash or power loss, recent commits may be lost and the
    /// file may not open. Call `Environment.sync()` to flush.
    case noSync
}

/// How much a commit checks of its own work before its meta is written.
package enum StrictChecks: Sendable {
    /// Nothing (release builds).
    case none
    /// Every dirty page is validated (its header, slot array and cells) before it is written.
    case pages
    /// And the checker runs over the whole new state.
    case full
}

/// Settings for opening an `Environment`.
public struct Options: Sendable {
    /// Page size for a new file: a power of two from 4,096 to 65,536. An existing file keeps its own.
    public var pageSize: Int = 4096
    /// The largest the file may grow to, in bytes. Commits that need more throw `LarchError.mapFull`.
    public var maxSize: Int = 1 << 40
    /// How commits are synced.
    public var durability: Durability = .full
    /// Verify each page's checksum against its parent's record when reading it.
    public var verifyChecksums: Bool = false
    /// How many read transactions may be open at once.
    public var maxReaders: Int = 126
    /// Open for reading only: write transactions throw `readOnlyEnvironment`.
    public var readOnly: Bool = false
    /// Create the file when it does not exist.
    public var createIfMissing: Bool = true
    /// Work without the lock file (`PATH-lock`), as LMDB's `MDB_NOLOCK`: readers are recorded in
    /// this process's memory only. For a database no other process writes while this environment
    /// has it open — one on read-only media, or bundled with an application in a directory it cannot
    /// write. Without it, a lock file that cannot be created or written (permission denied) is an
    /// error: a writer in another process would not see this process's readers and could overwrite
    /// the pages they read. (On a read-only file system no writer can exist, and an environment
    /// works alone without being asked.)
    public var noLock: Bool = false
    /// How long `beginWrite` and `write` wait for the writer lock, held by another write
    /// transaction of this process or another, before they throw `writerTimeout`; nil: as long as
    /// it takes. (`write(_:) async` waits in the queue for as long as it takes, then for at most
    /// this long for another process.)
    public var writerTimeout: Duration? = nil
    /// The most commits a read transaction may fall behind the newest before a writer of this
    /// environment may expire it: its pages are then reused, and its next access throws
    /// `snapshotExpired` (it never returns bytes from a reused page). nil: readers are never
    /// expired, and a forgotten one keeps every page freed after its snapshot from reuse.
    public var maxReaderLag: UInt64? = nil
    /// Give space back as commits go. Each commit also walks a few leaves further through the
    /// databases (four leaves and their paths per commit, from where the last one stopped, round
    /// and round) and moves what lies in the last quarter of the file into free pages below, when
    /// it has them at hand; it drops the reusable free pages at the end of the file from its page
    /// count; and a writer that begins with no commit on its way cuts the file when it is a
    /// quarter (and 64 pages) longer than its meta pages need. Commits take the lowest free pages,
    /// so the end of the file empties. `Environment.shrink` does the same at once.
    public var shrinkWithCommits: Bool = false
    /// The most memory, in bytes, a write transaction keeps in dirty pages before it writes some of
    /// them to the file ahead of its commit ("spilling"), so that a transaction larger than memory —
    /// a bulk load, a large delete — runs in bounded memory and still commits or aborts as a whole.
    ///
    /// Spilled pages go to the page numbers the transaction allocated for them, which no committed
    /// state reaches until its meta is written, so a crash or an abort loses nothing; they are read
    /// back through the memory map when needed (checked against their checksums), and a spilled page
    /// that changes again is rewritten in place at commit. Overflow values and leaves are spilled
    /// first, then branches whose children are all spilled; the roots, the pages the current
    /// operation is changing and the last put's path always stay, so a single value larger than the
    /// budget still fits. Besides the budget, a transaction keeps about 32 bytes per spilled page
    /// (its checksum, in a table): 16 MiB for 2 GB spilled at 4 KiB pages.
    ///
    /// The default is a quarter of physical memory, at most 256 MiB and at least 16 MiB: nearly every
    /// transaction stays far below it and never spills (it then costs one comparison per change),
    /// while a load of any size stays bounded. Spilling writes nothing extra for pages that do not
    /// change again (they would be written at commit anyway); a smaller budget re-reads and rewrites
    /// more pages in workloads that revisit them. `Int.max` turns spilling off.
    public var maxDirtyBytes: Int = Options.defaultMaxDirtyBytes

    /// `maxDirtyBytes`' default: a quarter of physical memory, clamped to 16 MiB ... 256 MiB.
    public static let defaultMaxDirtyBytes: Int = {
        let physical = Int(sysconf(Int32(_SC_PHYS_PAGES))) &* Int(sysconf(Int32(_SC_PAGESIZE)))
        guard physical > 0 else { return 256 << 20 }
        return min(max(physical / 4, 16 << 20), 256 << 20)
    }()

    /// Checks a commit makes of its own work before its meta is written (bbolt's StrictMode):
    /// in debug builds every dirty page is validated; `.full` also runs the checker over the new
    /// state (cost proportional to the file, so tests turn it on where commits are few).
    #if DEBUG
    package var strictChecks: StrictChecks = .pages
    #else
    package var strictChecks: StrictChecks = .none
    #endif
    /// The least address space the memory map reserves (it reserves twice the file, up to `maxSize`).
    /// Internal: tests make it small, so that commits outgrow the map and remap.
    var minimumReservation: Int = 1 << 30

    public init(pageSize: Int = 4096, maxSize: Int = 1 << 40, durability: Durability = .full,
                verifyChecksums: Bool = false, maxReaders: Int = 126, readOnly: Bool = false, createIfMissing: Bool = true) {
        self.pageSize = pageSize
        self.maxSize = maxSize
        self.durability = durability
        self.verifyChecksums = verifyChecksums
        self.maxReaders = maxReaders
        self.readOnly = readOnly
        self.createIfMissing = createIfMissing
    }
}

/// A handle to one key space in the file: the default database (`Database.main`) or a named one
/// from `openDatabase`. Handles are plain values, valid in any transaction of their environment.
public struct Database: Sendable, Hashable, CustomStringConvertible {
    let index: Int
    /// The name, or nil for the default database.
    public let name: String?
    let environment: ObjectIdentifier?

    /// The default, unnamed database.
    public static let main = Database(index: TreeIndex.main, name: nil, environment: nil)

    public var description: String { name.map { "database \"\($0)\"" } ?? "the main database" }
}

/// Whether a named database holds one value per key or any number, sorted (LMDB's `MDB_DUPSORT`).
public enum Duplicates: Sendable, Hashable {
    /// One value per key: `put` replaces.
    case none
    /// Any number of values per key, kept in byte order; each (key, value) pair is stored once.
    /// Values are limited like keys (1 ... a quarter page).
    case sorted
}

/// Statistics of one database. For a database with sorted duplicates, `entries` counts (key,
/// value) pairs and the page counts include every duplicate tree's pages.
public struct DatabaseStats: Sendable, Equatable {
    /// Levels from the root to the leaves (0 when empty).
    public var depth: Int
    public var branchPages: UInt64
    public var leafPages: UInt64
    public var overflowPages: UInt64
    public var entries: UInt64
    /// Whether the database holds sorted duplicates (`Duplicates.sorted`).
    public var hasSortedDuplicates: Bool

    init(_ r: TreeRoot) {
        hasSortedDuplicates = r.hasSortedDuplicates
        depth = r.depth
        branchPages = r.branchPages
        leafPages = r.leafPages
        overflowPages = r.overflowPages
        entries = r.entries
    }
}

/// Statistics of the whole file, as of one snapshot.
public struct EnvironmentStats: Sendable, Equatable {
    public var pageSize: Int
    /// Pages in use or free: the file's high-water mark (pages 0 and 1 are the metas).
    public var pageCount: UInt64
    /// Free pages that the next writer may reuse.
    public var freePages: UInt64
    /// Free pages still visible to a live reader's snapshot, not yet reusable.
    public var pagesAwaitingReuse: UInt64
    /// Pages of the free tree itself.
    public var freeTreePages: UInt64
    /// Runs of free pages listed in the meta itself rather than in the free tree (at most 191):
    /// the newest ones, which small commits free and reuse without changing a free-tree page.
    public var metaFreeListEntries: Int
    /// The id of the last committed transaction.
    public var transactionID: UInt64
    /// Read transactions open now.
    public var readers: Int
    public var maxReaders: Int
    public var fileSizeBytes: Int
    public var main: DatabaseStats
    /// Named databases.
    public var databaseCount: Int
}

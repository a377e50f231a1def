/// Fixed indexes of the trees every transaction knows; named databases follow from `firstNamed`.
enum TreeIndex {
    static let main = 0
    static let catalog = 1
    static let free = 2
    static let snapshots = 3
    /// The duplicate tree of one key of a sorted-duplicates database, loaded here while an
    /// operation changes it (`WriteState+Duplicates.swift`); its descriptor lives in that key's
    /// leaf cell, never in the catalog.
    static let duplicates = 4
    static let firstNamed = 5

    /// Whether snapshots can reach `tree`'s pages: the user's trees (main, catalog, named
    /// databases) yes; the free tree and the snapshots tree, which belong to the current state only, no.
    static func isPinnable(_ tree: Int) -> Bool { tree != free && tree != snapshots }
}

/// A transaction's view of one tree: its descriptor and whether this transaction changed it.
struct TreeSlot {
    enum Status { case unknown, present, missing }
    var root: TreeRoot = .empty
    var status: Status = .unknown
    /// Changed in this transaction: its descriptor must be saved at commit.
    var isDirty = false
    /// Created or dropped in this transaction (a named database).
    var existenceChanged = false
    /// Bumped on every change; cursors compare it to know when to re-seek.
    var version: UInt64 = 0
    /// The database's name, for named databases.
    var name: String?
}

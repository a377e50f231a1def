/// One problem the checker found.
public struct CheckProblem: Sendable, Equatable, CustomStringConvertible {
    /// The page concerned, when there is one.
    public var page: UInt64?
    /// What is wrong, and what was expected.
    public var message: String

    public var description: String { page.map { "page \($0): \(message)" } ?? message }
}

/// The result of a full structural and checksum verification of one snapshot.
public struct CheckReport: Sendable, CustomStringConvertible {
    /// Every problem found (at most `CheckReport.maxProblems`).
    public var problems: [CheckProblem] = []
    /// The snapshot checked.
    public var transactionID: UInt64 = 0
    public var pageCount: UInt64 = 0
    /// Pages reachable from the meta: tree pages of every database, the catalog and the free tree.
    public var reachablePages: UInt64 = 0
    /// Free pages reusable by the next writer.
    public var freePages: UInt64 = 0
    /// Free pages a live reader may still see.
    public var pagesAwaitingReuse: UInt64 = 0
    /// Named databases checked.
    public var databaseCount = 0
    /// Named snapshots checked.
    public var snapshotCount = 0
    /// Pages only named snapshots reach (recorded as dead extents; dropping the snapshots frees them).
    public var snapshotPages: UInt64 = 0

    public static let maxProblems = 1000

    /// True when nothing is wrong.
    public var isClean: Bool { problems.isEmpty }

    public var description: String {
        var s = "snapshot \(transactionID): \(pageCount) pages, \(reachablePages) reachable, \(freePages) free, \(pagesAwaitingReuse) awaiting reuse, \(databaseCount) named databases, \(snapshotCount) snapshots holding \(snapshotPages) more pages"
        if problems.isEmpty { s += "; no problems" } else {
            s += "; \(problems.count) problem(s):"
            for p in problems { s += "\n  " + p.description }
        }
        return s
    }
}

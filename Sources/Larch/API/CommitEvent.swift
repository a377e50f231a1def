/// One commit (or, when a subscriber fell behind or commits came from elsewhere, a run of
/// consecutive commits) seen by `Environment.commits(bufferingNewest:pollingEvery:)`.
public struct CommitEvent: Sendable, Hashable, CustomStringConvertible {
    /// The transactions this event covers, in order. A single one for a commit made through this
    /// environment and delivered as it happened; several when commits were coalesced: commits of
    /// other processes (or other environments on the file) seen at once, or commits merged because
    /// the subscriber's buffer was full. Across a subscription, successive events' ranges follow
    /// each other without gap or overlap.
    public let transactions: ClosedRange<UInt64>
    /// Whether every commit covered was made through this environment.
    public let isFromThisEnvironment: Bool
    /// The databases the covered commits changed; nil when unknown. Exact for commits of this
    /// environment. For commits of other processes found by polling: the databases whose
    /// descriptors differ between the previous poll's snapshot and this one — every database those
    /// commits changed, plus any that this environment's own commits in between changed; nil for
    /// other processes' commits found otherwise (a commit of this environment built on them).
    public let changes: DatabaseChanges?

    /// The newest transaction covered: what a read transaction begun now sees at least.
    public var transactionID: UInt64 { transactions.upperBound }
    /// More than one commit is covered.
    public var isCoalesced: Bool { transactions.count > 1 }

    /// Whether `database` may have changed: false only when the changes are known and leave it out.
    public func mayHaveChanged(_ database: Database) -> Bool {
        changes?.contains(database) ?? true
    }

    init(transactions: ClosedRange<UInt64>, isFromThisEnvironment: Bool, changes: DatabaseChanges?) {
        self.transactions = transactions
        self.isFromThisEnvironment = isFromThisEnvironment
        self.changes = changes
    }

    /// This event followed by `later` (which starts right after it), as one event.
    func merged(with later: CommitEvent) -> CommitEvent {
        var changes: DatabaseChanges?
        if let a = self.changes, let b = later.changes { changes = a.union(b) }
        return CommitEvent(transactions: transactions.lowerBound...later.transactions.upperBound,
                           isFromThisEnvironment: isFromThisEnvironment && later.isFromThisEnvironment, changes: changes)
    }

    public var description: String {
        let ids = isCoalesced ? "transactions \(transactions.lowerBound)...\(transactions.upperBound)" : "transaction \(transactionID)"
        return "\(ids)\(isFromThisEnvironment ? "" : " (elsewhere)"): \(changes.map(\.description) ?? "changes unknown")"
    }
}

/// The databases a commit changed: the main database and named ones (created, dropped, or with an
/// entry put or deleted; a put that stores the value already there counts as a change).
public struct DatabaseChanges: Sendable, Hashable, CustomStringConvertible {
    /// The main (unnamed) database changed.
    public var main: Bool
    /// Named databases that changed.
    public var named: Set<String>

    public init(main: Bool = false, named: Set<String> = []) {
        self.main = main
        self.named = named
    }

    /// No database changed (a commit with no change still gets a transaction id).
    public var isEmpty: Bool { !main && named.isEmpty }

    public func contains(_ database: Database) -> Bool {
        if let name = database.name { return named.contains(name) }
        return main
    }

    public func union(_ other: DatabaseChanges) -> DatabaseChanges {
        DatabaseChanges(main: main || other.main, named: named.union(other.named))
    }

    public var description: String {
        let names = (main ? ["main"] : []) + named.sorted().map { "\"\($0)\"" }
        return names.isEmpty ? "no database changed" : names.joined(separator: ", ")
    }
}

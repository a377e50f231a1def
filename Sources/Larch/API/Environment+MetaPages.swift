/// One of the two meta pages as it is on disk: the commit it records, or why it cannot be used.
/// After a crash in the middle of a commit, the meta page that commit was writing may be torn
/// (invalid); the file then opens at the other one, the previous commit. That is expected and
/// harmless: the next commit rewrites the torn page.
public struct MetaPageStatus: Sendable, Equatable, CustomStringConvertible {
    /// 0 or 1.
    public var page: Int
    /// The id of the transaction whose commit wrote this page, when it is valid.
    public var transactionID: UInt64?
    /// Why the page cannot be used, when it is not valid; or, for a valid meta newer than the
    /// current one, why it is not current (its commit is not whole on disk, or not yet synced).
    public var problem: String?
    /// Whether the page is invalid only by its checksum: what a crash while the page was being
    /// written leaves (expected, and repaired by the next commit). Any other invalidity (a
    /// missing magic number, a file too short for the page count, a wrong slot) means damage.
    public var looksTorn: Bool = false
    /// Whether this is the current meta: the valid one with the higher transaction id.
    public var isCurrent: Bool

    public var description: String {
        if let t = transactionID, let problem { return "meta page \(page): transaction \(t), not current: \(problem)" }
        if let t = transactionID { return "meta page \(page): transaction \(t)\(isCurrent ? " (current)" : "")" }
        return "meta page \(page): invalid (\(problem ?? "unknown"))\(looksTorn ? ", as a crash during its write leaves it" : "")"
    }
}

extension Environment {
    /// Both meta pages, read from the file now. The current one is the one this environment
    /// reads: a newer meta whose commit is not whole on disk (or not yet synced) is reported
    /// with the reason.
    public func metaPages() throws(LarchError) -> [MetaPageStatus] {
        let slots = try Self.readMetaSlots(file, fileSize: try file.size())
        let (current, mapping) = try committed.withLock { c throws(LarchError) in
            let (meta, mapping) = try newest(&c)
            return (meta, mapping)
        }
        var result: [MetaPageStatus] = []
        for (slot, r) in slots.slots.enumerated() {
            switch r {
            case .success(let m):
                var status = MetaPageStatus(page: slot, transactionID: m.txnID.rawValue, problem: nil, isCurrent: m == current)
                if m.txnID > current.txnID {
                    var verifier = CommitVerifier(meta: m, mapping: mapping)
                    do {
                        try verifier.run()
                        status.problem = "newer than the published commit: its sync has not returned yet"
                    } catch {
                        status.problem = "its commit is not whole on disk (a crash before its sync): \(error)"
                        status.looksTorn = true
                    }
                }
                result.append(status)
            case .failure(let f):
                var torn = false
                if case .checksumMismatch = f { torn = true }
                result.append(MetaPageStatus(page: slot, transactionID: nil, problem: f.description, looksTorn: torn, isCurrent: false))
            }
        }
        if result[0].isCurrent && result[1].isCurrent { result[1].isCurrent = false }
        return result
    }
}

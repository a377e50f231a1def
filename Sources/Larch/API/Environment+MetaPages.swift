/// One of the two meta pages as it is on disk: the commit it records, or why it cannot be used.
/// After a crash in the middle of a commit, the meta page that commit was writing may be torn
/// (invalid); the file then opens at the other one, the previous commit. That is expected and
/// harmless: the next commit rewrites the torn page.
public struct MetaPageStatus: Sendable, Equatable, CustomStringConvertible {
    /// 0 or 1.
    public var page: Int
    /// The id of the transaction whose commit wrote this page, when it is valid.
    public var transactionID: UInt64?
    /// Why the page cannot be used, when it is not valid.
    public var problem: String?
    /// Whether the page is invalid only by its checksum: what a crash while the page was being
    /// written leaves (expected, and repaired by the next commit). Any other invalidity (a
    /// missing magic number, a file too short for the page count, a wrong slot) means damage.
    public var looksTorn: Bool = false
    /// Whether this is the current meta: the valid one with the higher transaction id.
    public var isCurrent: Bool

    public var description: String {
        if let t = transactionID { return "meta page \(page): transaction \(t)\(isCurrent ? " (current)" : "")" }
        return "meta page \(page): invalid (\(problem ?? "unknown"))\(looksTorn ? ", as a crash during its write leaves it" : "")"
    }
}

extension Environment {
    /// Both meta pages, read from the file now.
    public func metaPages() throws(LarchError) -> [MetaPageStatus] {
        let (first, second) = try Self.readMetaSlots(file, fileSize: try file.size())
        var result = [first, second].enumerated().map { slot, r -> MetaPageStatus in
            switch r {
            case .success(let m):
                return MetaPageStatus(page: slot, transactionID: m.txnID.rawValue, problem: nil, isCurrent: false)
            case .failure(let f):
                var torn = false
                if case .checksumMismatch = f { torn = true }
                return MetaPageStatus(page: slot, transactionID: nil, problem: f.description, looksTorn: torn, isCurrent: false)
            }
        }
        let newest = result.indices.filter { result[$0].transactionID != nil }.max { result[$0].transactionID! < result[$1].transactionID! }
        if let newest { result[newest].isCurrent = true }
        return result
    }
}

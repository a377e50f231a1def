/// The open-time check that a meta's commit is whole (docs/CRASH-SAFETY.md, "One sync per commit").
///
/// A commit writes its pages and its meta, then syncs once, so a crash can leave the meta on disk
/// and some of the pages not. Every pointer records the transaction that wrote the page it points
/// to (its birth), and a meta records its durable base: a transaction whose pages were all durable
/// before the meta was written. The pages that may be missing are exactly those born after the
/// base, and every one of them is reachable through pointers born after the base (a page is
/// rewritten whenever one of its children is). So the check follows only those pointers, verifying
/// each page against the checksum its parent recorded: its cost is the size of the commits since
/// the base — the last commit, or the last group — not the size of the database.
struct CommitVerifier {
    let pages: MappedPages
    let meta: MetaPage
    /// Pages visited so far: a damaged file whose pointers form a dense graph cannot make the walk
    /// visit more pages than the file has.
    private var visited: UInt64 = 0
    private var seen: Set<UInt64> = []
    /// Pages verified (for tests and statistics).
    private(set) var verifiedPages: UInt64 = 0

    init(meta: MetaPage, mapping: Mapping) {
        self.meta = meta
        let readable = min(meta.pageCount, UInt64(mapping.sizeBytes / meta.pageSize))
        self.pages = MappedPages(mapping: mapping, pageSize: meta.pageSize, pageCount: meta.pageCount,
                                 readablePages: readable, verifyChecksums: true)
    }

    /// Throws the first problem found: a page of the commit that did not reach the disk whole.
    mutating func run() throws(LarchError) {
        try verifyTree(meta.main)
        try verifyTree(meta.free)
        try verifyTree(meta.catalog, records: .catalog)
        try verifyTree(meta.snapshots, records: .snapshots)
    }

    /// Trees whose leaf values point to further trees.
    private enum Records { case none, catalog, snapshots }

    private var base: TransactionID { meta.durableBase }

    private mutating func verifyTree(_ root: TreeRoot, records: Records = .none) throws(LarchError) {
        guard !root.isEmpty, root.rootBirth > base else { return }
        guard root.depth >= 1 && root.depth <= 64 else {
            throw .corruptPage(page: root.root.rawValue, reason: "tree of implausible depth \(root.depth)")
        }
        guard root.rootBirth <= meta.txnID else {
            throw .corruptPage(page: root.root.rawValue, reason: "root born in transaction \(root.rootBirth), after the meta's \(meta.txnID)")
        }
        try verifyNode(root.rootPointer, level: 0, depth: root.depth, records: records)
    }

    private mutating func verifyNode(_ pointer: ChildPointer, level: Int, depth: Int, records: Records) throws(LarchError) {
        // A page a snapshot shares with the current state is verified once.
        guard seen.insert(pointer.page.rawValue).inserted else { return }
        visited += 1
        guard visited <= meta.pageCount else {
            throw .corruptPage(page: pointer.page.rawValue, reason: "the commit's pages reach more pages than the file has")
        }
        let isLeaf = level == depth - 1
        let v = try pages.node(pointer.page, checksum: pointer.checksum, kind: isLeaf ? .leaf : .branch)
        verifiedPages += 1
        for i in 0..<v.count {
            if isLeaf {
                let cell = try v.leafCell(i)
                switch cell.value {
                case let .overflow(first, checksum, length, birth):
                    guard birth > base else { continue }
                    guard birth <= pointer.birth else { throw bornLater(first, birth, pointer) }
                    _ = try pages.mappedOverflowRun(first: first, length: length, checksum: checksum)
                    verifiedPages += UInt64(OverflowLayout.pageCount(valueLength: length, pageSize: meta.pageSize))
                case .inline(let value):
                    if cell.isDuplicateTree {
                        // A key's duplicate tree (sorted-duplicates databases, FORMAT.md §20).
                        guard value.count == TreeRoot.encodedSize else {
                            throw .corruptPage(page: pointer.page.rawValue, reason: "duplicate-tree reference \(i) has \(value.count) bytes, expected \(TreeRoot.encodedSize)")
                        }
                        let sub = TreeRoot(decoding: value.baseAddress!)
                        guard sub.rootBirth <= pointer.birth else { throw bornLater(sub.root, sub.rootBirth, pointer) }
                        try verifyTree(sub)
                        continue
                    }
                    switch records {
                    case .none:
                        continue
                    case .catalog:
                        guard value.count == TreeRoot.encodedSize else {
                            throw .corruptPage(page: pointer.page.rawValue, reason: "catalog record \(i) has \(value.count) bytes, expected \(TreeRoot.encodedSize)")
                        }
                        let named = TreeRoot(decoding: value.baseAddress!)
                        guard named.rootBirth <= pointer.birth else { throw bornLater(named.root, named.rootBirth, pointer) }
                        try verifyTree(named)
                    case .snapshots:
                        // A snapshot of a commit of the same group reaches pages the group wrote.
                        guard cell.key.first == SnapshotKey.recordPrefix else { continue }
                        guard let record = SnapshotRecord(decoding: value) else {
                            throw .corruptPage(page: pointer.page.rawValue, reason: "snapshot record \(i) has \(value.count) bytes, expected \(SnapshotRecord.encodedSize)")
                        }
                        try verifyTree(record.main)
                        try verifyTree(record.catalog, records: .catalog)
                    }
                }
            } else {
                let child = try v.pointer(i)
                guard child.birth > base else { continue }
                guard child.birth <= pointer.birth else { throw bornLater(child.page, child.birth, pointer) }
                try verifyNode(child, level: level + 1, depth: depth, records: records)
            }
        }
    }

    private func bornLater(_ page: PageNumber, _ birth: TransactionID, _ parent: ChildPointer) -> LarchError {
        .corruptPage(page: page.rawValue, reason: "born in transaction \(birth), after page \(parent.page) that points to it (\(parent.birth))")
    }
}

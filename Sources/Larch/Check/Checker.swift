/// Verifies a snapshot completely: every tree page, overflow run and free extent, against the rules
/// of docs/FORMAT.md. It only reads, bounds every loop by the file's page count, and reports
/// problems instead of stopping at the first, so it is safe to run on a damaged file.
///
/// Checked: every page below the page count is either reachable exactly once or free exactly once;
/// every checksum matches its parent's record; every page's header, slots and cells fit the page
/// and are packed; keys are strictly ordered within pages and across siblings (bounded by the
/// parent's separators); all leaves are at the tree's depth; the page and entry counts in each
/// tree descriptor match what was found.
struct Checker {
    /// What a page is: reachable from the current state, free, reachable from named snapshots only
    /// (`snapshotOnly`), and such a page listed as a dead extent (`dead`).
    private enum Owner: UInt8 { case unseen = 0, reachable, free, snapshotOnly, dead }

    let core: TransactionCore
    private var owners: [UInt8]
    /// Pages the current snapshot's walk reached (`checkSnapshots`): a second visit in one walk is a cycle.
    private var snapshotWalkPages: Set<UInt64> = []
    private(set) var report = CheckReport()
    private let pageSize: Int
    private let pageCount: UInt64

    init(core: TransactionCore) {
        self.core = core
        pageSize = core.pageSize
        // Pages past the memory map are never read: they count as outside the file.
        pageCount = core.readablePages
        owners = [UInt8](repeating: 0, count: Int(core.meta.pageCount))
        report.transactionID = core.meta.txnID.rawValue
        report.pageCount = core.meta.pageCount
    }

    mutating func problem(_ page: UInt64?, _ message: String) {
        if report.problems.count < CheckReport.maxProblems { report.problems.append(CheckProblem(page: page, message: message)) }
    }

    /// Claims pages `first ..< first + count` for `owner`; false when any is out of bounds or already claimed.
    private mutating func claim(_ first: UInt64, count: Int, as owner: Owner, what: String) -> Bool {
        guard first >= 2, count > 0, first <= pageCount, UInt64(count) <= pageCount - first else {
            problem(first, "\(what) of \(count) page(s) lies outside pages 2..<\(pageCount)")
            return false
        }
        for p in first..<(first + UInt64(count)) {
            let prior = owners[Int(p)]
            if prior != Owner.unseen.rawValue {
                let both = prior != owner.rawValue
                problem(p, both ? "page is both reachable and free (\(what))" : "page is referenced twice (\(what))")
                return false
            }
            owners[Int(p)] = owner.rawValue
        }
        return true
    }

    mutating func run() -> CheckReport {
        let meta = core.meta
        if meta.pageCount < 2 { problem(nil, "meta page count \(meta.pageCount) is below 2") }
        if pageCount < meta.pageCount { problem(nil, "the memory map covers \(pageCount) of the snapshot's \(meta.pageCount) pages") }
        var named: [(String, TreeRoot)] = []
        checkTree("main database", meta.main)
        checkTree("catalog", meta.catalog) { checker, page, key, value in
            guard value.count == TreeRoot.encodedSize else {
                checker.problem(page, "catalog record has \(value.count) bytes, expected \(TreeRoot.encodedSize)")
                return
            }
            guard let name = String(validating: key, as: UTF8.self) else {
                checker.problem(page, "catalog key is not valid UTF-8")
                return
            }
            named.append((name, TreeRoot(decoding: value.baseAddress!)))
        }
        for (name, root) in named { checkTree("database \(quotedForMessage(name))", root, named: true) }
        report.databaseCount = named.count
        // A named snapshot's state (`Environment.read(snapshot:)`): its trees only; its free space
        // and the other snapshots belong to the file's current state.
        if core.snapshot.isNamed { return report }

        // The snapshots tree: its records, and the dead extents, checked against them below.
        var snapshots: [(name: String, record: SnapshotRecord)] = []
        var deadExtents: [(page: UInt64, birth: TransactionID, freedBy: TransactionID, extent: PageExtent)] = []
        var summary: (newest: TransactionID, count: UInt64)?
        checkTree("snapshots tree", meta.snapshots) { checker, page, key, value in
            switch key.first {
            case 0x00 where key.count == 1:
                summary = SnapshotKey.decodeSummary(value)
                if summary == nil { checker.problem(page, "snapshot summary record of \(value.count) bytes") }
            case SnapshotKey.recordPrefix:
                guard key.count >= 2, key.count <= 1 + SnapshotKey.maxNameBytes,
                      let name = String(validating: UnsafeRawBufferPointer(rebasing: key[1...]), as: UTF8.self) else {
                    checker.problem(page, "snapshot record with an invalid name")
                    return
                }
                guard let record = SnapshotRecord(decoding: value) else {
                    checker.problem(page, "snapshot \(quotedForMessage(name)): record of \(value.count) bytes, expected \(SnapshotRecord.encodedSize)")
                    return
                }
                snapshots.append((name, record))
            case SnapshotKey.deadPrefix:
                guard let (birth, freedBy, first, count) = SnapshotCatalog.decodeDead(key: key, value: value) else {
                    checker.problem(page, "malformed dead-extent record")
                    return
                }
                deadExtents.append((page, birth, freedBy, PageExtent(first: first, count: count)))
            default:
                checker.problem(page, "snapshots-tree key of an unknown kind")
            }
        }

        let oldest = core.env.oldestNeededSnapshot(current: meta.txnID)
        let txn = meta.txnID.rawValue
        checkTree("free tree", meta.free) { checker, page, key, value in
            guard key.count == FreeRecord.keySize else { checker.problem(page, "free-tree key of \(key.count) bytes"); return }
            let t = FreeRecord.transaction(ofKey: key)
            if t > txn || t == 1 { checker.problem(page, "free-tree record of transaction \(t) (snapshot \(txn))") }
            let keyPage = FreeRecord.firstPage(ofKey: key)
            if value.count >= FreeRecord.extentSize && keyPage != FreeRecord.firstExtentPage(ofValue: value) {
                checker.problem(page, "free-tree key names page \(keyPage) but its first extent starts at \(FreeRecord.firstExtentPage(ofValue: value))")
            }
            do throws(LarchError) {
                try FreeRecord.forEachExtent(value, page: PageNumber(page)) { e throws(LarchError) in
                    if checker.claim(e.first.rawValue, count: e.count, as: .free, what: "free extent of transaction \(t)") {
                        if t <= oldest.rawValue { checker.report.freePages += UInt64(e.count) } else { checker.report.pagesAwaitingReuse += UInt64(e.count) }
                    }
                }
            } catch {
                checker.problem(page, error.description)
            }
        }
        for (i, entry) in meta.freeList.enumerated() {
            let e = entry.extent
            if entry.txn > txn || entry.txn == 1 { problem(nil, "meta free-list entry \(i) of transaction \(entry.txn) (snapshot \(txn))") }
            if claim(e.first.rawValue, count: e.count, as: .free, what: "meta free-list entry \(i), of transaction \(entry.txn)") {
                if entry.txn <= oldest.rawValue { report.freePages += UInt64(e.count) } else { report.pagesAwaitingReuse += UInt64(e.count) }
            }
        }
        checkSnapshots(snapshots, deadExtents: deadExtents, summary: summary)

        var leaked: [UInt64] = []
        var unrecorded: [UInt64] = []
        var reachable: UInt64 = 0
        for p in 2..<max(2, Int(pageCount)) {
            switch owners[p] {
            case Owner.unseen.rawValue: leaked.append(UInt64(p))
            case Owner.reachable.rawValue: reachable += 1
            case Owner.snapshotOnly.rawValue: unrecorded.append(UInt64(p))
            case Owner.dead.rawValue: report.snapshotPages += 1
            default: break
            }
        }
        report.reachablePages = reachable
        if !unrecorded.isEmpty {
            let shown = unrecorded.prefix(20).map(String.init).joined(separator: ", ")
            problem(nil, "\(unrecorded.count) page(s) reachable from snapshots only but not recorded as dead extents (dropping the snapshots would leak them): \(shown)\(unrecorded.count > 20 ? ", …" : "")")
        }
        if !leaked.isEmpty {
            let shown = leaked.prefix(20).map(String.init).joined(separator: ", ")
            problem(nil, "\(leaked.count) page(s) neither reachable nor free (leaked): \(shown)\(leaked.count > 20 ? ", …" : "")")
        }
        return report
    }

    /// Walks every named snapshot's trees (pages the current state or an earlier snapshot reached
    /// are shared: their subtrees were checked already), then checks that each dead extent lists
    /// pages only snapshots reach, and the summary record.
    private mutating func checkSnapshots(_ snapshots: [(name: String, record: SnapshotRecord)],
                                         deadExtents: [(page: UInt64, birth: TransactionID, freedBy: TransactionID, extent: PageExtent)],
                                         summary: (newest: TransactionID, count: UInt64)?) {
        let txn = core.meta.txnID
        for (name, record) in snapshots {
            let label = "snapshot \(quotedForMessage(name))"
            guard record.txn <= txn, record.txn.rawValue >= 1 else {
                problem(nil, "\(label): of transaction \(record.txn), after the meta's \(txn)")
                continue
            }
            if record.pageCount > core.meta.pageCount { problem(nil, "\(label): \(record.pageCount) pages, more than the file's \(core.meta.pageCount)") }
            var named: [(String, TreeRoot)] = []
            snapshotWalkPages.removeAll(keepingCapacity: true)
            checkTree("\(label) main database", record.main, snapshotOf: record.txn)
            checkTree("\(label) catalog", record.catalog, snapshotOf: record.txn) { checker, page, key, value in
                guard value.count == TreeRoot.encodedSize, let n = String(validating: key, as: UTF8.self) else {
                    checker.problem(page, "\(label): malformed catalog record")
                    return
                }
                named.append((n, TreeRoot(decoding: value.baseAddress!)))
            }
            for (n, root) in named { checkTree("\(label) database \(quotedForMessage(n))", root, snapshotOf: record.txn, named: true) }
        }
        let newest = snapshots.map(\.record.txn).max()
        for d in deadExtents {
            guard let newest, d.birth <= newest, d.freedBy <= txn else {
                problem(d.page, "dead extent \(d.extent.first)+\(d.extent.count) born in \(d.birth), freed by \(d.freedBy): no snapshot can reach it")
                continue
            }
            let e = d.extent
            guard e.first.rawValue >= 2, e.first.rawValue <= pageCount, UInt64(e.count) <= pageCount - e.first.rawValue else {
                problem(d.page, "dead extent \(e.first)+\(e.count) lies outside pages 2..<\(pageCount)")
                continue
            }
            for p in e.first.rawValue..<(e.first.rawValue + UInt64(e.count)) where owners[Int(p)] != Owner.snapshotOnly.rawValue {
                let why = owners[Int(p)] == Owner.dead.rawValue ? "listed twice" : owners[Int(p)] == Owner.unseen.rawValue ? "reachable from no snapshot" : "also reachable from the current state or free"
                problem(p, "dead extent \(e.first)+\(e.count): page \(p) is \(why)")
                break
            }
            for p in e.first.rawValue..<(e.first.rawValue + UInt64(e.count)) where owners[Int(p)] == Owner.snapshotOnly.rawValue {
                owners[Int(p)] = Owner.dead.rawValue
            }
        }
        switch (summary, newest) {
        case (nil, nil): break
        case let (s?, n?) where s.newest == n && s.count == UInt64(snapshots.count): break
        default:
            problem(nil, "snapshot summary (\(summary.map { "newest \($0.newest), \($0.count) snapshot(s)" } ?? "missing")) does not match the \(snapshots.count) snapshot record(s)")
        }
        report.snapshotCount = snapshots.count
    }

    /// Tallies of one tree walk, compared with its descriptor at the end.
    fileprivate struct Tally { var branch: UInt64 = 0, leaf: UInt64 = 0, overflow: UInt64 = 0, entries: UInt64 = 0 }

    private typealias RecordCheck = (inout Checker, UInt64, UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void

    /// Checks the tree rooted at `root`; with `snapshotOf`, a named snapshot's tree of that
    /// transaction, whose pages may be shared with the current state (whose descriptor counts are
    /// therefore not compared).
    private mutating func checkTree(_ name: String, _ root: TreeRoot, snapshotOf: TransactionID? = nil, named: Bool = false,
                                    records: RecordCheck? = nil) {
        if root.flags & ~TreeRoot.knownFlags != 0 || (!named && root.flags != 0) {
            problem(root.root.rawValue, "\(name): descriptor flags \(root.flags) \(named ? "include unknown bits" : "on a tree that takes none")")
        }
        let kind: TreeKind = root.hasSortedDuplicates ? .duplicates : .plain
        if root.isEmpty {
            if root.depth != 0 || root.entries != 0 || root.leafPages != 0 || root.branchPages != 0 || root.overflowPages != 0 {
                problem(nil, "\(name): empty tree with non-zero depth or counts")
            }
            return
        }
        guard root.depth >= 1 && root.depth <= 64 else {
            problem(root.root.rawValue, "\(name): implausible depth \(root.depth)")
            return
        }
        var tally = Tally()
        let newest = snapshotOf ?? core.meta.txnID
        guard root.rootBirth.rawValue >= 1 && root.rootBirth <= newest else {
            problem(root.root.rawValue, "\(name): root page born in transaction \(root.rootBirth), outside 1 ... \(newest)")
            return
        }
        checkPage(name, root.root, checksum: root.rootChecksum, birth: root.rootBirth, level: 0, depth: root.depth,
                  lower: nil, upper: nil, shared: snapshotOf != nil, kind: kind, tally: &tally, records: records)
        if snapshotOf == nil, tally.branch != root.branchPages || tally.leaf != root.leafPages || tally.overflow != root.overflowPages || tally.entries != root.entries {
            problem(nil, "\(name): descriptor says \(root.branchPages) branch, \(root.leafPages) leaf, \(root.overflowPages) overflow pages and \(root.entries) entries; found \(tally.branch), \(tally.leaf), \(tally.overflow) and \(tally.entries)")
        }
    }

    /// Checks `page` and its subtree; `birth` is the transaction its parent says wrote it: no
    /// pointer below it may record a later one.
    private mutating func checkPage(_ name: String, _ page: PageNumber, checksum: UInt32, birth: TransactionID, level: Int, depth: Int,
                                    lower: [UInt8]?, upper: [UInt8]?, shared: Bool, kind: TreeKind, tally: inout Tally, records: RecordCheck?) {
        let n = page.rawValue
        let isLeaf = level == depth - 1
        if shared, n < UInt64(owners.count), owners[Int(n)] == Owner.reachable.rawValue || owners[Int(n)] == Owner.snapshotOnly.rawValue {
            // Shared with the current state or an earlier snapshot: checked there, its subtree
            // too. Not its pointer from here, nor a second visit in this snapshot's own walk (a cycle).
            guard snapshotWalkPages.insert(n).inserted else {
                problem(n, "\(name): \(isLeaf ? "leaf" : "branch") page reached twice in this snapshot (a cycle, or a page shared by two parents)")
                return
            }
            let found = CRC32C.checksum(core.mapping.page(page, pageSize: pageSize), count: pageSize)
            if found != checksum { problem(n, "\(name): checksum mismatch: expected \(hex32(checksum)) found \(hex32(found))") }
            return
        }
        if shared { snapshotWalkPages.insert(n) }
        guard claim(n, count: 1, as: shared ? .snapshotOnly : .reachable, what: "\(name) \(isLeaf ? "leaf" : "branch") page") else { return }
        let base = core.mapping.page(page, pageSize: pageSize)
        let found = CRC32C.checksum(base, count: pageSize)
        guard found == checksum else {
            problem(n, "\(name): checksum mismatch: expected \(hex32(checksum)) found \(hex32(found))")
            return
        }
        let v = PageView(base: base, pageSize: pageSize, number: page)
        do {
            try v.validateNode(kind: isLeaf ? .leaf : .branch)
        } catch {
            problem(n, "\(name): \(error.reason)")
            return
        }
        if isLeaf { tally.leaf += 1 } else { tally.branch += 1 }
        if !isLeaf && v.count < 2 { problem(n, "\(name): branch page with \(v.count) child(ren)") }
        // Cells: in bounds, packed without gaps or overlaps.
        var extents: [(Int, Int)] = []
        extents.reserveCapacity(v.count)
        for i in 0..<v.count {
            do {
                let off = try v.cellOffset(i, minSize: isLeaf ? LeafCell.headerSize : BranchCell.headerSize)
                let size = isLeaf ? try v.leafCellSize(i) : try v.branchCellSize(i)
                guard off + size <= pageSize else { problem(n, "\(name): cell \(i) runs past the page end"); return }
                extents.append((off, size))
            } catch {
                problem(n, "\(name): \(error.reason)")
                return
            }
        }
        extents.sort { $0.0 < $1.0 }
        var expect = v.contentStart
        for (off, size) in extents {
            guard off == expect else { problem(n, "\(name): cells are not packed (gap or overlap at offset \(off), expected \(expect))"); return }
            expect += size
        }
        guard expect == pageSize else { problem(n, "\(name): cells end at \(expect), not at the page end"); return }

        // Keys: strictly increasing, within [lower, upper).
        var previous: [UInt8]? = nil
        for i in 0..<v.count {
            let key: UnsafeRawBufferPointer
            do { key = isLeaf ? try v.leafKey(i) : try v.branchKey(i) } catch { problem(n, "\(name): \(error.reason)"); return }
            if !isLeaf && i == 0 {
                if key.count != 0 { problem(n, "\(name): first branch cell has a \(key.count)-byte key, expected none") }
                continue
            }
            if isLeaf && key.count == 0 { problem(n, "\(name): empty key in cell \(i)") }
            if key.count > core.limits.maxKeySize { problem(n, "\(name): key of \(key.count) bytes in cell \(i) exceeds the limit") }
            if let p = previous, p.withUnsafeBytes({ compareBytes($0.start, $0.count, key.start, key.count) }) >= 0 {
                problem(n, "\(name): keys out of order at cell \(i)")
            }
            if let lo = lower, lo.withUnsafeBytes({ compareBytes(key.start, key.count, $0.start, $0.count) }) < 0 {
                problem(n, "\(name): key in cell \(i) is below its parent's separator")
            }
            if let hi = upper, hi.withUnsafeBytes({ compareBytes(key.start, key.count, $0.start, $0.count) }) >= 0 {
                problem(n, "\(name): key in cell \(i) is not below the next separator")
            }
            previous = Array(key)
        }

        if isLeaf {
            for i in 0..<v.count {
                guard let e = try? v.leafCell(i) else { continue }
                tally.entries &+= 1
                let flags = (try? v.leafFlags(i)) ?? 0
                if flags & ~(LeafCell.flagOverflow | LeafCell.flagDuplicateTree) != 0 {
                    problem(n, "\(name): cell \(i) has unknown flag bits \(flags)")
                }
                if kind != .duplicates && e.isDuplicateTree {
                    problem(n, "\(name): cell \(i) claims a duplicate tree in a tree without sorted duplicates")
                }
                if kind == .duplicateTree && e.valueLength != 0 {
                    problem(n, "\(name): duplicate-tree cell \(i) has a \(e.valueLength)-byte value, expected none")
                }
                if kind == .duplicates {
                    checkDuplicates(name, page: n, cell: i, e, leafBirth: birth, shared: shared, tally: &tally)
                }
                var value: UnsafeRawBufferPointer
                switch e.value {
                case .inline(let b): value = b
                case let .overflow(first, runChecksum, length, runBirth):
                    if runBirth.rawValue < 1 || runBirth > birth {
                        problem(n, "\(name): cell \(i)'s overflow run born in transaction \(runBirth), after its leaf (\(birth)) or at 0")
                    }
                    let pages = OverflowLayout.pageCount(valueLength: length, pageSize: pageSize)
                    if shared, first.rawValue < UInt64(owners.count),
                       owners[Int(first.rawValue)] == Owner.reachable.rawValue || owners[Int(first.rawValue)] == Owner.snapshotOnly.rawValue {
                        continue   // shared
                    }
                    guard claim(first.rawValue, count: pages, as: shared ? .snapshotOnly : .reachable, what: "\(name) overflow run") else { continue }
                    tally.overflow += UInt64(pages)
                    let runBase: UnsafeRawPointer
                    do {
                        runBase = try core.snapshot.pages.mappedOverflowRun(first: first, length: length, checksum: runChecksum)
                    } catch {
                        switch error {
                        case let .checksumMismatch(_, expected, found):
                            problem(first.rawValue, "\(name): overflow run checksum mismatch: expected \(hex32(expected)) found \(hex32(found))")
                        case let .corruptPage(_, reason):
                            problem(first.rawValue, "\(name): \(reason)")
                        default:
                            problem(first.rawValue, "\(name): \(error)")
                        }
                        continue
                    }
                    let used = OverflowLayout.headerSize + length
                    if UnsafeRawBufferPointer(start: runBase + used, count: pages * pageSize - used).contains(where: { $0 != 0 }) {
                        problem(first.rawValue, "\(name): overflow run has nonzero bytes after its \(length)-byte value (its tail must be zero)")
                    }
                    value = UnsafeRawBufferPointer(start: runBase + OverflowLayout.headerSize, count: length)
                }
                let shouldBeInline = core.limits.isInline(keyLength: e.key.count, valueLength: e.valueLength)
                if case .inline = e.value, !shouldBeInline { problem(n, "\(name): cell \(i) holds inline a value that belongs in an overflow run") }
                if case .overflow = e.value, shouldBeInline { problem(n, "\(name): cell \(i) puts in an overflow run a value that belongs inline") }
                if let records { records(&self, n, e.key, value) }
            }
        } else {
            for i in 0..<v.count {
                guard let child = try? v.pointer(i) else { continue }
                if child.birth.rawValue < 1 || child.birth > birth {
                    problem(n, "\(name): child \(i) born in transaction \(child.birth), after its parent (\(birth)) or at 0")
                    continue
                }
                let lo: [UInt8]? = i == 0 ? lower : (try? v.branchKey(i)).map { Array($0) }
                let hi: [UInt8]? = i == v.count - 1 ? upper : (try? v.branchKey(i + 1)).map { Array($0) }
                checkPage(name, child.page, checksum: child.checksum, birth: child.birth, level: level + 1, depth: depth,
                          lower: lo, upper: hi, shared: shared, kind: kind, tally: &tally, records: records)
            }
        }
    }
}

extension Checker {
    /// What a tree's leaf values are: plain values, one key's values in a sorted-duplicates
    /// database (a `DuplicateList` or a duplicate tree), or a duplicate tree's (empty) values.
    fileprivate enum TreeKind { case plain, duplicates, duplicateTree }

    /// Checks the values of leaf cell `cell` of a sorted-duplicates database: an inline list
    /// (ordered, valid lengths) or a duplicate tree (walked, its pages claimed once, its counts
    /// matched), and adds its values (beyond the one counted) and pages to `tally`.
    fileprivate mutating func checkDuplicates(_ name: String, page n: UInt64, cell i: Int, _ e: LeafEntry, leafBirth: TransactionID,
                                              shared: Bool, tally: inout Tally) {
        guard case .inline(let bytes) = e.value else {
            problem(n, "\(name): cell \(i) keeps a key's values in an overflow run")
            return
        }
        let keyName = "\(name) key \(quotedForMessage(String(decoding: e.key, as: UTF8.self)))"
        guard e.isDuplicateTree else {
            let (count, why) = DuplicateList.validate(bytes, maxLength: core.limits.maxKeySize)
            if let why { problem(n, "\(keyName): \(why)") }
            tally.entries &+= UInt64(max(count, 1) - 1)
            return
        }
        guard bytes.count == TreeRoot.encodedSize else {
            problem(n, "\(keyName): duplicate-tree reference of \(bytes.count) bytes, expected \(TreeRoot.encodedSize)")
            return
        }
        let root = TreeRoot(decoding: bytes.baseAddress!)
        guard !root.isEmpty, root.depth >= 1, root.depth <= 64, root.entries >= 1 else {
            problem(n, "\(keyName): empty or implausible duplicate tree (depth \(root.depth), \(root.entries) values)")
            return
        }
        if root.flags != 0 { problem(n, "\(keyName): duplicate tree with descriptor flags \(root.flags)") }
        guard root.rootBirth.rawValue >= 1 && root.rootBirth <= leafBirth else {
            problem(n, "\(keyName): duplicate tree's root born in transaction \(root.rootBirth), after its leaf (\(leafBirth)) or at 0")
            return
        }
        var sub = Tally()
        checkPage("\(keyName) duplicate tree", root.root, checksum: root.rootChecksum, birth: root.rootBirth, level: 0, depth: root.depth,
                  lower: nil, upper: nil, shared: shared, kind: .duplicateTree, tally: &sub, records: nil)
        if !shared, sub.branch != root.branchPages || sub.leaf != root.leafPages || sub.overflow != root.overflowPages || sub.entries != root.entries {
            problem(n, "\(keyName): duplicate tree descriptor says \(root.branchPages) branch, \(root.leafPages) leaf, \(root.overflowPages) overflow pages and \(root.entries) values; found \(sub.branch), \(sub.leaf), \(sub.overflow) and \(sub.entries)")
        }
        tally.branch += sub.branch
        tally.leaf += sub.leaf
        tally.overflow += sub.overflow
        tally.entries &+= root.entries &- 1   // counts from the file: wrapping, compared afterwards
    }
}

extension LarchError {
    /// The message without the page prefix, for reports that name the page themselves.
    var reason: String {
        if case .corruptPage(_, let r) = self { return r }
        return description
    }
}

extension Environment {
    /// Verifies the current snapshot completely (see `Checker`); never throws for corruption,
    /// which it reports instead.
    public func check() throws(LarchError) -> CheckReport {
        let txn = try beginRead()
        return try txn.check()
    }
}

extension Transaction {
    /// Verifies this transaction's snapshot completely. For a write transaction, checks the
    /// snapshot it started from. Throws `transactionEnded` after the transaction ended (its
    /// snapshot's pages may be reused by then).
    public func check() throws(LarchError) -> CheckReport {
        try core.checkActive()
        var c = Checker(core: TransactionCore(env: core.env, snapshot: core.snapshot, readerSlot: nil))
        let report = c.run()
        try core.checkNotExpired()   // a report of reused pages would be about no snapshot at all
        return report
    }

    /// The pages whose bytes this snapshot needs: reachable from it or from a named snapshot
    /// (tests: an aborted transaction may have written only other pages, by spilling).
    func pagesInUse() throws(LarchError) -> Set<UInt64> {
        try core.checkActive()
        var c = Checker(core: TransactionCore(env: core.env, snapshot: core.snapshot, readerSlot: nil))
        _ = c.run()
        return c.pagesInUse
    }
}

extension Checker {
    /// After `run()`: the pages reachable from the state or its snapshots (not free, not leaked).
    var pagesInUse: Set<UInt64> {
        var used = Set<UInt64>()
        for (p, o) in owners.enumerated() where o != Owner.unseen.rawValue && o != Owner.free.rawValue { used.insert(UInt64(p)) }
        return used
    }
}

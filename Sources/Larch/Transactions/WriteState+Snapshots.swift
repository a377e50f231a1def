/// Named snapshots in a write transaction: creating and dropping them, and keeping the pages they
/// reach (FORMAT.md §11.4).
///
/// How the pages a snapshot needs are kept, in the manner of ZFS's dead lists: every pointer
/// records its page's birth, so a page this transaction stops using is reached by a snapshot
/// exactly when its birth is at most the newest snapshot's transaction (`pinBound`) — the page was
/// in that snapshot's state and has been in use ever since. Such a page is not freed but recorded
/// as a dead extent keyed by (birth, freeing transaction). Dropping snapshot `S` (with `P` the
/// snapshot before it and `N` the one after, if any) frees exactly the dead extents born after `P`
/// (no older snapshot reaches them) and freed no later than `N` (no newer snapshot does): a range
/// of keys, so the cost is the dead extents born between `P` and `S`, not the database.

/// A run of pages this transaction stopped using that a snapshot still reaches.
struct DeadExtent: Equatable {
    var birth: TransactionID
    var extent: PageExtent
}

extension WriteState {
    /// Reads the newest snapshot's transaction, which decides what `release` keeps.
    mutating func loadPinBound() throws(LarchError) {
        pinBound = try snapshotSummary()?.newest ?? TransactionID(0)
    }

    private func snapshotSummary() throws(LarchError) -> (newest: TransactionID, count: UInt64)? {
        let root = trees[TreeIndex.snapshots].root
        let entry = try withBytes(SnapshotKey.summary) { k throws(LarchError) in try lookup(root: root, key: k) }
        guard let entry else { return nil }
        guard let summary = SnapshotKey.decodeSummary(try valueBytes(entry)) else {
            throw .corruptPage(page: root.root.rawValue, reason: "snapshot summary record is malformed")
        }
        return summary
    }

    /// Every named snapshot, in name order.
    func namedSnapshots() throws(LarchError) -> [NamedSnapshot] {
        try SnapshotCatalog.snapshots(in: trees[TreeIndex.snapshots].root, reader: self)
    }

    /// Records snapshot `name` of the state this transaction began from. Throws when the name is
    /// taken or invalid, or when the transaction already changed a database (the state it would
    /// keep is then no longer the one its changes were made to: create the snapshot first).
    mutating func createSnapshot(name: [UInt8], id: [UInt8], createdNanoseconds: UInt64) throws(LarchError) -> SnapshotRecord {
        try Self.validateSnapshotName(name)
        for i in trees.indices where trees[i].isDirty && TreeIndex.isPinnable(i) {
            throw .snapshotNotAllowed(reason: "this transaction already changed a database; create the snapshot before any change")
        }
        let key = SnapshotKey.record(name)
        let existing = try withBytes(key) { k throws(LarchError) in try lookup(root: trees[TreeIndex.snapshots].root, key: k) }
        guard existing == nil else { throw .snapshotExists(name: String(decoding: name, as: UTF8.self)) }
        let base = snapshot.meta
        let record = SnapshotRecord(txn: base.txnID, createdNanoseconds: createdNanoseconds, id: id, pageCount: base.pageCount,
                                    main: base.main, catalog: base.catalog)
        let summary = try snapshotSummary()
        beginChange(tree: TreeIndex.snapshots)
        try putSnapshotTree(key, record.encoded, overwrite: false)
        let newest = max(summary?.newest ?? TransactionID(0), base.txnID)
        try putSnapshotTree(SnapshotKey.summary, SnapshotKey.encodeSummary(newest: newest, count: (summary?.count ?? 0) + 1))
        pinBound = newest
        return record
    }

    /// Drops snapshot `name`: its record, and the dead extents no other snapshot reaches, which
    /// this transaction frees. Throws `snapshotNotFound` when there is none of that name.
    mutating func dropSnapshot(name: [UInt8]) throws(LarchError) {
        let all = try namedSnapshots()
        guard let dropped = all.first(where: { $0.name == name }) else {
            throw .snapshotNotFound(name: String(decoding: name, as: UTF8.self))
        }
        let (previous, next) = SnapshotCatalog.neighbours(of: dropped, among: all)
        let s = dropped.record.txn
        beginChange(tree: TreeIndex.snapshots)
        // Dead extents born after the previous snapshot, up to this one: only this snapshot and
        // newer ones reach them; those freed no later than the next snapshot, only this one.
        var freedKeys: [[UInt8]] = []
        var freedExtents: [PageExtent] = []
        try SnapshotCatalog.forEachUniqueExtent(of: s, previous: previous, next: next, in: trees[TreeIndex.snapshots].root, reader: self) { key, extent in
            freedKeys.append(key)
            freedExtents.append(extent)
        }
        for e in freedExtents { allocator.addFreed(e) }
        for key in freedKeys {
            let deleted = try withBytes(key) { k throws(LarchError) in try delete(tree: TreeIndex.snapshots, key: k) }
            guard deleted else { throw .corruptPage(page: trees[TreeIndex.snapshots].root.root.rawValue, reason: "dead extent vanished while being freed") }
        }
        _ = try withBytes(SnapshotKey.record(name)) { k throws(LarchError) in try delete(tree: TreeIndex.snapshots, key: k) }
        let remaining = all.filter { $0.name != name }
        if let newest = remaining.map(\.record.txn).max() {
            try putSnapshotTree(SnapshotKey.summary, SnapshotKey.encodeSummary(newest: newest, count: UInt64(remaining.count)))
            pinBound = newest
        } else {
            _ = try withBytes(SnapshotKey.summary) { k throws(LarchError) in try delete(tree: TreeIndex.snapshots, key: k) }
            pinBound = TransactionID(0)
        }
        // Pages this transaction kept for a snapshot that no remaining one reaches are freed.
        keepDeadForNestedAbort()
        var kept: [DeadExtent] = []
        for d in dead {
            if d.birth > pinBound { allocator.addFreed(d.extent) } else { kept.append(d) }
        }
        dead = kept
    }

    /// At commit, once the main tree and the catalog are final: records `snapshotOfResult`, a
    /// snapshot of the state this transaction commits.
    mutating func saveSnapshotOfResult() throws(LarchError) {
        guard let s = snapshotOfResult else { return }
        snapshotOfResult = nil
        try Self.validateSnapshotName(s.name)
        let key = SnapshotKey.record(s.name)
        let existing = try withBytes(key) { k throws(LarchError) in try lookup(root: trees[TreeIndex.snapshots].root, key: k) }
        guard existing == nil else { throw .snapshotExists(name: String(decoding: s.name, as: UTF8.self)) }
        let record = SnapshotRecord(txn: txnID, createdNanoseconds: s.createdNanoseconds, id: s.id, pageCount: allocator.nextPage,
                                    main: trees[TreeIndex.main].root, catalog: trees[TreeIndex.catalog].root)
        let summary = try snapshotSummary()
        beginChange(tree: TreeIndex.snapshots)
        try putSnapshotTree(key, record.encoded, overwrite: false)
        try putSnapshotTree(SnapshotKey.summary, SnapshotKey.encodeSummary(newest: txnID, count: (summary?.count ?? 0) + 1))
        pinBound = txnID
    }

    /// At commit: records the dead extents of this transaction in the snapshots tree.
    mutating func saveDeadExtents() throws(LarchError) {
        guard !dead.isEmpty else { return }
        var byBirth = dead.sorted { ($0.birth, $0.extent.first) < ($1.birth, $1.extent.first) }
        dead = []
        // Join runs of one birth.
        var joined: [DeadExtent] = []
        for d in byBirth {
            if let last = joined.last, last.birth == d.birth, last.extent.end == d.extent.first, last.extent.count + d.extent.count <= Int(UInt32.max) {
                joined[joined.count - 1].extent.count += d.extent.count
            } else {
                joined.append(d)
            }
        }
        byBirth = joined
        beginChange(tree: TreeIndex.snapshots)
        for d in byBirth {
            var count = [UInt8](repeating: 0, count: 4)
            count.withUnsafeMutableBytes { $0.baseAddress!.setU32(UInt32(d.extent.count), at: 0) }
            try putSnapshotTree(SnapshotKey.dead(birth: d.birth, freedBy: txnID, first: d.extent.first), count, overwrite: false)
        }
        precondition(dead.isEmpty, "saving dead extents released pages a snapshot reaches")
    }

    private mutating func putSnapshotTree(_ key: [UInt8], _ value: [UInt8], overwrite: Bool = true) throws(LarchError) {
        try withBytes(key) { k throws(LarchError) in
            try withBytes(value) { v throws(LarchError) in try put(tree: TreeIndex.snapshots, key: k, value: v, overwrite: overwrite) }
        }
    }

    static func validateSnapshotName(_ name: [UInt8]) throws(LarchError) {
        let shown = String(decoding: name, as: UTF8.self)
        guard !name.isEmpty else { throw .invalidSnapshotName(name: shown, reason: "it is empty") }
        guard name.count <= SnapshotKey.maxNameBytes else {
            throw .invalidSnapshotName(name: String(shown.prefix(40)) + "…", reason: "it is \(name.count) bytes long; at most \(SnapshotKey.maxNameBytes) are allowed")
        }
        guard String(validating: name, as: UTF8.self) != nil else { throw .invalidSnapshotName(name: shown, reason: "it is not valid UTF-8") }
    }
}

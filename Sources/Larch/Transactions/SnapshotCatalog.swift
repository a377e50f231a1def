/// A named snapshot as found in the snapshots tree.
struct NamedSnapshot {
    var name: [UInt8]
    var record: SnapshotRecord
}

/// Reading the snapshots tree (FORMAT.md §11.4) through any transaction's pages: the snapshots,
/// the order between them, and the dead extents only one of them reaches.
enum SnapshotCatalog {
    /// Every named snapshot in the snapshots tree rooted at `root`, in name order.
    static func snapshots<R: PageReader & ~Copyable>(in root: TreeRoot, reader: borrowing R) throws(LarchError) -> [NamedSnapshot] {
        var out: [NamedSnapshot] = []
        var failure: LarchError?
        try reader.forEachEntry(root: root, from: [SnapshotKey.recordPrefix], below: [SnapshotKey.recordPrefix + 1]) { e throws(LarchError) in
            let value = try reader.valueBytes(e)
            guard e.key.count >= 2, e.key.count <= 1 + SnapshotKey.maxNameBytes, let record = SnapshotRecord(decoding: value) else {
                failure = .corruptPage(page: root.root.rawValue, reason: "snapshot record with a \(e.key.count)-byte key and a \(value.count)-byte value")
                return false
            }
            out.append(NamedSnapshot(name: Array(e.key.dropFirst()), record: record))
            return true
        }
        if let failure { throw failure }
        return out
    }

    /// The transaction of the snapshot before `s` among `all` (0 when none) and of the one after
    /// it (nil when none). Another snapshot of the same transaction counts as the one before.
    static func neighbours(of s: NamedSnapshot, among all: [NamedSnapshot]) -> (previous: TransactionID, next: TransactionID?) {
        var previous = TransactionID(0)
        var next: TransactionID?
        for o in all where o.name != s.name {
            if o.record.txn <= s.record.txn {
                previous = max(previous, o.record.txn)
            } else if next == nil || o.record.txn < next! {
                next = o.record.txn
            }
        }
        return (previous, next)
    }

    /// Calls `body` with the key and pages of each dead extent that only snapshot `s` reaches:
    /// born after `previous` (no older snapshot has them) and freed no later than `next` (no newer
    /// one has them). Visits the dead extents born between `previous` and `s` only.
    static func forEachUniqueExtent<R: PageReader & ~Copyable>(of s: TransactionID, previous: TransactionID, next: TransactionID?,
                                                               in root: TreeRoot, reader: borrowing R,
                                                               _ body: ([UInt8], PageExtent) -> Void) throws(LarchError) {
        guard s > previous else { return }
        let lower = SnapshotKey.dead(birth: previous.next, freedBy: TransactionID(0), first: .none)
        let upper = SnapshotKey.dead(birth: s.next, freedBy: TransactionID(0), first: .none)
        var failure: LarchError?
        try reader.forEachEntry(root: root, from: lower, below: upper) { e throws(LarchError) in
            let value = try reader.valueBytes(e)
            guard let (_, freedBy, first, count) = decodeDead(key: e.key, value: value) else {
                failure = .corruptPage(page: root.root.rawValue, reason: "dead-extent record with a \(e.key.count)-byte key and a \(value.count)-byte value")
                return false
            }
            if next.map({ freedBy <= $0 }) ?? true { body(Array(e.key), PageExtent(first: first, count: count)) }
            return true
        }
        if let failure { throw failure }
    }

    /// The fields of a dead-extent record; nil when it is malformed.
    static func decodeDead(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)
        -> (birth: TransactionID, freedBy: TransactionID, first: PageNumber, count: Int)? {
        guard key.count == SnapshotKey.deadKeySize, key.first == SnapshotKey.deadPrefix, value.count == 4 else { return nil }
        let (birth, freedBy, first) = SnapshotKey.decodeDead(key)
        let count = Int(value.baseAddress!.u32(at: 0))
        guard count > 0, first.rawValue >= 2, birth.rawValue >= 1, birth < freedBy else { return nil }
        return (birth, freedBy, first, count)
    }

    /// The pages of a snapshot's state: its main tree, catalog and every named database.
    static func referencedPages<R: PageReader & ~Copyable>(of record: SnapshotRecord, reader: borrowing R) throws(LarchError) -> UInt64 {
        func pages(_ t: TreeRoot) -> UInt64 { t.branchPages &+ t.leafPages &+ t.overflowPages }
        var total = pages(record.main) &+ pages(record.catalog)
        var failure: LarchError?
        try reader.forEachEntry(root: record.catalog, from: [], below: nil) { e throws(LarchError) in
            let value = try reader.valueBytes(e)
            guard value.count == TreeRoot.encodedSize else {
                failure = .corruptPage(page: record.catalog.root.rawValue, reason: "catalog record of \(value.count) bytes in a snapshot")
                return false
            }
            total &+= pages(TreeRoot(decoding: value.baseAddress!))
            return true
        }
        if let failure { throw failure }
        return total
    }

    /// `neighbours(of:among:)` for every snapshot of `all` at once, in its order: O(n log n) where
    /// asking for each in turn would be O(n²).
    static func allNeighbours(of all: [NamedSnapshot]) -> [(previous: TransactionID, next: TransactionID?)] {
        let txns = all.map(\.record.txn).sorted()
        /// The index of the first element of `txns` not less than `t` (or, `after`, greater than `t`).
        func bound(_ t: TransactionID, after: Bool) -> Int {
            var low = 0, high = txns.count
            while low < high {
                let mid = (low + high) / 2
                if txns[mid] < t || (after && txns[mid] == t) { low = mid + 1 } else { high = mid }
            }
            return low
        }
        return all.map { s in
            let t = s.record.txn
            let first = bound(t, after: false), end = bound(t, after: true)
            // Another snapshot of the same transaction counts as the one before.
            let previous = end - first > 1 ? t : (first > 0 ? txns[first - 1] : TransactionID(0))
            return (previous, end < txns.count ? txns[end] : nil)
        }
    }

    /// Every snapshot in the snapshots tree rooted at `root`, with the pages it reaches and the
    /// pages only it holds (what dropping it frees), in bytes.
    static func infos<R: PageReader & ~Copyable>(in root: TreeRoot, reader: borrowing R, pageSize: Int) throws(LarchError) -> [SnapshotInfo] {
        let all = try snapshots(in: root, reader: reader)
        var out: [SnapshotInfo] = []
        for (s, (previous, next)) in zip(all, allNeighbours(of: all)) {
            var unique: UInt64 = 0
            try forEachUniqueExtent(of: s.record.txn, previous: previous, next: next, in: root, reader: reader) { _, e in unique &+= UInt64(e.count) }
            let referenced = try referencedPages(of: s.record, reader: reader)
            out.append(SnapshotInfo(name: String(decoding: s.name, as: UTF8.self), transactionID: s.record.txn.rawValue,
                                    createdNanoseconds: s.record.createdNanoseconds, id: s.record.id,
                                    referencedBytes: Self.bytes(referenced, pageSize), uniqueBytes: Self.bytes(unique, pageSize)))
        }
        return out
    }

    /// `pages` pages in bytes, at most `UInt64.max`: the counts come from the file, and a forged
    /// one must give a large figure, not a trap.
    private static func bytes(_ pages: UInt64, _ pageSize: Int) -> UInt64 {
        let (bytes, overflow) = pages.multipliedReportingOverflow(by: UInt64(pageSize))
        return overflow ? .max : bytes
    }
}

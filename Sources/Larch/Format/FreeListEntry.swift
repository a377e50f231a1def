/// One entry of the meta's free list (FORMAT.md §4.1): a run of free pages and the transaction
/// whose commit freed them, with the meaning of a free-tree record's key (§11.3): reusable once
/// no reader holds a snapshot older than `txn`; `txn` 0 means reusable at once.
///
/// ```
/// offset  size  field
///      0     8  transaction id
///      8     8  first page
///     16     4  page count (≥ 1)
/// ```
struct FreeListEntry: Equatable, Sendable {
    static let encodedSize = 20

    var txn: UInt64
    var extent: PageExtent

    init(txn: UInt64, extent: PageExtent) {
        self.txn = txn
        self.extent = extent
    }

    init(decoding p: UnsafeRawPointer) {
        txn = p.u64(at: 0)
        extent = PageExtent(first: PageNumber(p.u64(at: 8)), count: Int(p.u32(at: 16)))
    }

    func encode(to p: UnsafeMutableRawPointer) {
        p.setU64(txn, at: 0)
        p.setU64(extent.first.rawValue, at: 8)
        p.setU32(UInt32(extent.count), at: 16)
    }

    /// Sorts entries by transaction, then page, and joins adjacent extents of one transaction
    /// (of at most `UInt32.max` pages each).
    static func normalized(_ entries: [FreeListEntry]) -> [FreeListEntry] {
        let sorted = entries.sorted { ($0.txn, $0.extent.first.rawValue) < ($1.txn, $1.extent.first.rawValue) }
        var out: [FreeListEntry] = []
        out.reserveCapacity(sorted.count)
        for e in sorted {
            if let last = out.last, last.txn == e.txn, last.extent.end == e.extent.first,
               last.extent.count + e.extent.count <= Int(UInt32.max) {
                out[out.count - 1].extent.count += e.extent.count
            } else {
                out.append(e)
            }
        }
        return out
    }
}

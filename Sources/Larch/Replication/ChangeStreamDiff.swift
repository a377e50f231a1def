/// Finds what changed in one tree from snapshot A to snapshot B of the same file and writes it as
/// put and delete records, in key order.
///
/// Every pointer records its page's birth. A subtree of B whose pointer was born no later than A's
/// transaction was written before A and never rewritten since: it is also in A's tree, and the keys
/// from its first to its last are the same in both. The walk of B skips such subtrees (after
/// reading their first and last keys: a path each), and compares only B's newer pages with the
/// keys of A that fall between the skipped ranges, read through an iterator that jumps over each
/// skipped range. So the cost follows the pages written since A (and the keys deleted since), not
/// the size of the tree. Without A, every entry of B is a put.
struct ChangeStreamDiff {
    private let pages: MappedPages
    private let base: TransactionID?
    private var a: TreeIterator
    /// A run of skipped subtrees not yet settled against A: its first key, and its last subtree.
    private var pendingShared: (lowest: [UInt8], last: ChildPointer, level: Int)?
    private let depth: Int

    /// Writes the records turning tree `aRoot` (nil: empty) into `bRoot`; `base` is A's transaction.
    /// In a sorted-duplicates database, a changed key is written as all its values (`putDuplicates`).
    static func write(from aRoot: TreeRoot?, to bRoot: TreeRoot, base: TransactionID?, pages: MappedPages,
                      into writer: inout ChangeStreamWriter) throws {
        var diff = ChangeStreamDiff(pages: pages, base: base, a: TreeIterator(pages: pages, root: aRoot ?? .empty), depth: bRoot.depth,
                                    duplicates: bRoot.hasSortedDuplicates)
        try diff.a.first()
        if !bRoot.isEmpty { try diff.walk(bRoot.rootPointer, level: 0, &writer) }
        try diff.settleShared(&writer)
        while let e = try diff.a.current() {
            try writer.delete(key: e.key)
            try diff.a.next()
        }
    }

    /// Whether the tree holds sorted duplicates: its leaf values are lists or duplicate trees.
    private let duplicates: Bool

    private init(pages: MappedPages, base: TransactionID?, a: TreeIterator, depth: Int, duplicates: Bool) {
        self.duplicates = duplicates
        self.pages = pages
        self.base = base
        self.a = a
        self.depth = depth
    }

    private mutating func walk(_ pointer: ChildPointer, level: Int, _ writer: inout ChangeStreamWriter) throws {
        if let base, pointer.birth <= base {
            if pendingShared != nil {
                pendingShared!.last = pointer
                pendingShared!.level = level
            } else {
                pendingShared = (try edgeKey(pointer, level: level, last: false), pointer, level)
            }
            return
        }
        if level == depth - 1 {
            let leaf = try pages.node(pointer.page, checksum: pointer.checksum, kind: .leaf)
            for i in 0..<leaf.count { try changed(try leaf.leafCell(i), &writer) }
        } else {
            let branch = try pages.node(pointer.page, checksum: pointer.checksum, kind: .branch)
            for i in 0..<branch.count { try walk(try branch.pointer(i), level: level + 1, &writer) }
        }
    }

    /// An entry of a page of B written after A.
    private mutating func changed(_ b: LeafEntry, _ writer: inout ChangeStreamWriter) throws {
        try settleShared(&writer)
        while let e = try a.current(), compareBytes(e.key.start, e.key.count, b.key.start, b.key.count) < 0 {
            try writer.delete(key: e.key)
            try a.next()
        }
        let bValue = try pages.valueBytes(b)
        if let e = try a.current(), compareBytes(e.key.start, e.key.count, b.key.start, b.key.count) == 0 {
            // The same bytes are the same values: an equal list, or the same duplicate tree (its
            // descriptor records its root's checksum).
            if try !sameValue(e, b, bValue) || e.isDuplicateTree != b.isDuplicateTree { try put(b, bValue, &writer) }
            try a.next()
        } else {
            try put(b, bValue, &writer)
        }
    }

    /// Writes B's entry `b` (value `bValue`): a put, or in a sorted-duplicates database all the key's values.
    private func put(_ b: LeafEntry, _ bValue: UnsafeRawBufferPointer, _ writer: inout ChangeStreamWriter) throws {
        guard duplicates else { return try writer.put(key: b.key, value: bValue) }
        var values: [[UInt8]] = []
        try pages.forEachDuplicate(try pages.duplicateSet(b), from: nil, maxLength: pages.pageSize / 4) { v in
            values.append(Array(v))
            return true
        }
        try writer.putDuplicates(key: b.key, values: values)
    }

    /// Settles the pending run of skipped subtrees: A's keys before it were deleted; A's keys in
    /// it are B's; A continues after its last key.
    private mutating func settleShared(_ writer: inout ChangeStreamWriter) throws {
        guard let shared = pendingShared else { return }
        pendingShared = nil
        while let e = try a.current(), shared.lowest.withUnsafeBytes({ compareBytes(e.key.start, e.key.count, $0.start, $0.count) }) < 0 {
            try writer.delete(key: e.key)
            try a.next()
        }
        let highest = try edgeKey(shared.last, level: shared.level, last: true)
        try highest.withUnsafeBytes { h in try a.seek(h, after: true) }
    }

    private func sameValue(_ a: LeafEntry, _ b: LeafEntry, _ bValue: UnsafeRawBufferPointer) throws -> Bool {
        if case let .overflow(af, _, al, ab) = a.value, case let .overflow(bf, _, bl, bb) = b.value, af == bf, ab == bb, al == bl {
            return true   // the same overflow run, never rewritten
        }
        let aValue = try pages.valueBytes(a)
        return aValue.count == bValue.count && compareBytes(aValue.start, aValue.count, bValue.start, bValue.count) == 0
    }

    /// The first (or last) key under `pointer`.
    private func edgeKey(_ pointer: ChildPointer, level: Int, last: Bool) throws -> [UInt8] {
        var p = pointer
        for _ in level..<(depth - 1) {
            let branch = try pages.node(p.page, checksum: p.checksum, kind: .branch)
            guard branch.count > 0 else { throw LarchError.corruptPage(page: p.page.rawValue, reason: "empty branch page") }
            p = try branch.pointer(last ? branch.count - 1 : 0)
        }
        let leaf = try pages.node(p.page, checksum: p.checksum, kind: .leaf)
        guard leaf.count > 0 else { throw LarchError.corruptPage(page: p.page.rawValue, reason: "empty leaf page") }
        return Array(try leaf.leafKey(last ? leaf.count - 1 : 0))
    }
}

/// One key's values in a sorted-duplicates database, as stored: an inline `DuplicateList` or the
/// root of the key's duplicate tree (whose keys are the values; FORMAT.md §20).
enum DuplicateSet {
    case list(UnsafeRawBufferPointer)
    case tree(TreeRoot)
}

/// Reading the values of one key of a sorted-duplicates database, over any `PageReader`.
extension PageReader where Self: ~Copyable {
    /// The stored form of the values in leaf entry `e` of a sorted-duplicates database.
    func duplicateSet(_ e: LeafEntry) throws(LarchError) -> DuplicateSet {
        guard case .inline(let bytes) = e.value else {
            throw .corruptPage(page: 0, reason: "a key of a sorted-duplicates database keeps its values in an overflow run")
        }
        if e.isDuplicateTree {
            guard bytes.count == TreeRoot.encodedSize else {
                throw .corruptPage(page: 0, reason: "duplicate-tree reference of \(bytes.count) bytes, expected \(TreeRoot.encodedSize)")
            }
            let root = TreeRoot(decoding: bytes.baseAddress!)
            guard !root.isEmpty, root.depth >= 1, root.depth <= 64 else {
                throw .corruptPage(page: root.root.rawValue, reason: "empty or implausible duplicate tree (depth \(root.depth))")
            }
            return .tree(root)
        }
        return .list(bytes)
    }

    /// How many values `set` holds.
    func duplicateCount(_ set: DuplicateSet, maxLength: Int) throws(LarchError) -> Int {
        switch set {
        case .tree(let root): return Int(clamping: root.entries)
        case .list(let list):
            var n = 0
            try DuplicateList.forEach(list, maxLength: maxLength, page: .none) { _ in n += 1; return true }
            return n
        }
    }

    /// Calls `body` with each value of `set` from the first `≥ lower` (nil: from the first), in
    /// order, until it returns false. The bytes are valid inside `body` only.
    func forEachDuplicate(_ set: DuplicateSet, from lower: [UInt8]?, maxLength: Int,
                          _ body: (UnsafeRawBufferPointer) throws(LarchError) -> Bool) throws(LarchError) {
        switch set {
        case .tree(let root):
            try forEachEntry(root: root, from: lower ?? [], below: nil) { e throws(LarchError) in
                // A duplicate tree's values are its keys, its entries' values empty (FORMAT.md §20): a
                // forged reference to another leaf (its own, say) would hand out that leaf's keys.
                guard case .inline(let v) = e.value, v.count == 0, !e.isDuplicateTree else {
                    throw .corruptPage(page: root.root.rawValue, reason: "a duplicate tree holds an entry with a value (not a duplicate tree)")
                }
                return try body(e.key)
            }
        case .list(let list):
            try DuplicateList.forEach(list, maxLength: maxLength, page: .none) { v throws(LarchError) in
                if let lower, lower.withUnsafeBytes({ compareBytes(v.start, v.count, $0.start, $0.count) }) < 0 { return true }
                return try body(v)
            }
        }
    }

    /// The first value of `set` that is `≥ value` (`> value` when `strict`), or nil.
    func duplicate(atLeast value: [UInt8]?, strict: Bool, in set: DuplicateSet, maxLength: Int) throws(LarchError) -> [UInt8]? {
        var found: [UInt8]?
        try forEachDuplicate(set, from: value, maxLength: maxLength) { v in
            if strict, let value, value.withUnsafeBytes({ compareBytes(v.start, v.count, $0.start, $0.count) }) == 0 { return true }
            found = Array(v)
            return false
        }
        return found
    }

    /// The last value of `set` that is `≤ value` (`< value` when not `inclusive`; nil: the last
    /// value), or nil.
    func duplicate(atMost value: [UInt8]?, inclusive: Bool, in set: DuplicateSet, maxLength: Int) throws(LarchError) -> [UInt8]? {
        switch set {
        case .list(let list):
            var found: [UInt8]?
            try DuplicateList.forEach(list, maxLength: maxLength, page: .none) { v in
                if let value {
                    let c = value.withUnsafeBytes { compareBytes(v.start, v.count, $0.start, $0.count) }
                    if c > 0 || (c == 0 && !inclusive) { return false }
                }
                found = Array(v)
                return true
            }
            return found
        case .tree(let root):
            guard let value else { return try lastKey(root.rootPointer, level: 0, depth: root.depth) }
            return try withBytes(value) { b throws(LarchError) in
                try lastKey(atMost: b, inclusive: inclusive, root.rootPointer, level: 0, depth: root.depth)
            }
        }
    }

    /// The last key of the subtree below `pointer`.
    private func lastKey(_ pointer: ChildPointer, level: Int, depth: Int) throws(LarchError) -> [UInt8]? {
        let v = try node(pointer.page, checksum: pointer.checksum, kind: TransactionCore.kind(level: level, depth: depth))
        if level == depth - 1 { return v.count > 0 ? Array(try v.leafKey(v.count - 1)) : nil }
        return try lastKey(try v.pointer(v.count - 1), level: level + 1, depth: depth)
    }

    /// The last key `≤ bound` (`< bound` when not `inclusive`) of the subtree below `pointer`.
    private func lastKey(atMost bound: UnsafeRawBufferPointer, inclusive: Bool, _ pointer: ChildPointer,
                         level: Int, depth: Int) throws(LarchError) -> [UInt8]? {
        let v = try node(pointer.page, checksum: pointer.checksum, kind: TransactionCore.kind(level: level, depth: depth))
        if level == depth - 1 {
            let (i, exact) = try v.leafSearch(bound)
            let j = exact && inclusive ? i : i - 1
            return j >= 0 ? Array(try v.leafKey(j)) : nil
        }
        let c = try v.branchSearch(bound)
        if let k = try lastKey(atMost: bound, inclusive: inclusive, try v.pointer(c), level: level + 1, depth: depth) { return k }
        return c > 0 ? try lastKey(try v.pointer(c - 1), level: level + 1, depth: depth) : nil
    }

    /// Whether `set` holds `value`.
    func containsDuplicate(_ value: UnsafeRawBufferPointer, in set: DuplicateSet, maxLength: Int) throws(LarchError) -> Bool {
        switch set {
        case .tree(let root): return try lookup(root: root, key: value) != nil
        case .list(let list):
            var found = false
            try DuplicateList.forEach(list, maxLength: maxLength, page: .none) { v in
                let c = compareBytes(v.start, v.count, value.start, value.count)
                if c == 0 { found = true }
                return c < 0
            }
            return found
        }
    }
}

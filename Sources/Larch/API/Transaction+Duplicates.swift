/// Reading sorted-duplicates databases (opened with `duplicates: .sorted`): any number of values
/// per key, in byte order. Each method throws `incompatibleDatabase` on a plain database.
///
/// ```swift
/// try env.write { txn in
///     let byCity = try txn.openDatabase("byCity", create: true, duplicates: .sorted)
///     try txn.putDuplicate("user:1".utf8, forKey: "Paris".utf8, in: byCity)
///     try txn.putDuplicate("user:7".utf8, forKey: "Paris".utf8, in: byCity)
/// }
/// let parisians = try env.read { txn in try txn.values(forKey: "Paris".utf8, in: txn.openDatabase("byCity", duplicates: .sorted)) }
/// ```
///
/// The plain API works on them too, as in LMDB: `get` returns a key's first value, `put` adds a
/// pair, `delete(key)` removes the key with all its values; plain cursors, `entries` and `forEach`
/// throw `incompatibleDatabase` (use `duplicateCursor`, `values(forKey:in:)`, `forEachDuplicate`).
extension Transaction {
    /// How many values `key` has in `db` (0 when it is absent).
    public func count(forKey key: some Collection<UInt8>, in db: Database) throws(LarchError) -> Int {
        try checkedRead { () throws(LarchError) in
            let t = try core.duplicateTree(db)
            return try withBytes(key) { k throws(LarchError) in
                try core.validateKey(k)
                guard let set = try core.duplicateSet(tree: t, key: k) else { return 0 }
                return try core.duplicateCount(set)
            }
        }
    }

    /// Copies of all values of `key` in `db`, in order (empty when the key is absent).
    public func values(forKey key: some Collection<UInt8>, in db: Database) throws(LarchError) -> [[UInt8]] {
        var out: [[UInt8]] = []
        try forEachValueUnchecked(forKey: key, in: db) { v in out.append(Array(v)); return true }
        return out
    }

    /// Calls `body` with each value of `key` in `db` in order, zero-copy, until it returns false.
    /// The spans cannot leave `body`, and the transaction cannot change while it runs.
    public func forEachValue(forKey key: some Collection<UInt8>, in db: Database, _ body: (RawSpan) throws -> Bool) throws {
        try checkedView {
            var failure: (any Error)?
            try lendingView {
                try forEachValueUnchecked(forKey: key, in: db) { v throws(LarchError) in
                    do { return try body(v.bytes) } catch { failure = error; return false }
                }
            }
            if let failure { throw failure }
        }
    }

    private func forEachValueUnchecked(forKey key: some Collection<UInt8>, in db: Database,
                                       _ body: (UnsafeRawBufferPointer) throws(LarchError) -> Bool) throws(LarchError) {
        try checkedRead { () throws(LarchError) in
            let t = try core.duplicateTree(db)
            try withBytes(key) { k throws(LarchError) in
                try core.validateKey(k)
                guard let set = try core.duplicateSet(tree: t, key: k) else { return }
                try core.forEachDuplicate(set, from: nil, body)
            }
        }
    }

    /// A copy of the first (smallest) value of `key` in `db`, or nil when the key is absent.
    public func firstValue(forKey key: some Collection<UInt8>, in db: Database) throws(LarchError) -> [UInt8]? {
        try edgeValue(forKey: key, in: db, first: true)
    }

    /// A copy of the last (largest) value of `key` in `db`, or nil when the key is absent.
    public func lastValue(forKey key: some Collection<UInt8>, in db: Database) throws(LarchError) -> [UInt8]? {
        try edgeValue(forKey: key, in: db, first: false)
    }

    private func edgeValue(forKey key: some Collection<UInt8>, in db: Database, first: Bool) throws(LarchError) -> [UInt8]? {
        try checkedRead { () throws(LarchError) in
            let t = try core.duplicateTree(db)
            return try withBytes(key) { k throws(LarchError) in
                try core.validateKey(k)
                guard let set = try core.duplicateSet(tree: t, key: k) else { return nil }
                return first ? try core.duplicate(atLeast: nil, strict: false, in: set)
                             : try core.duplicate(atMost: nil, inclusive: true, in: set)
            }
        }
    }

    /// Whether `db` holds the pair (`key`, `value`).
    public func contains(_ value: some Collection<UInt8>, forKey key: some Collection<UInt8>, in db: Database) throws(LarchError) -> Bool {
        try checkedRead { () throws(LarchError) in
            let t = try core.duplicateTree(db)
            return try withBytes(key) { k throws(LarchError) in
                try core.validateKey(k)
                return try withBytes(value) { v throws(LarchError) in
                    try core.validateDuplicateValue(v)
                    guard let set = try core.duplicateSet(tree: t, key: k) else { return false }
                    return try core.duplicate(atLeast: Array(v), strict: false, in: set).map { $0.elementsEqual(UnsafeRawBufferPointer(v)) } ?? false
                }
            }
        }
    }

    /// Calls `body` with every (key, value) pair of `db` in order — keys in byte order, each key's
    /// values in byte order — zero-copy, until it returns false. The spans cannot leave `body`,
    /// and the transaction cannot change while it runs.
    public func forEachDuplicate(in db: Database, _ body: (_ key: RawSpan, _ value: RawSpan) throws -> Bool) throws {
        try checkedView {
            let t = try core.duplicateTree(db)
            let state = CursorState(core: core, tree: t)
            var failure: (any Error)?
            try core.lendingView {
                var more = try state.first()
                var going = true
                while more && going {
                    let e = try state.currentEntry()
                    let set = try core.duplicateSet(of: e)
                    try core.forEachDuplicate(set, from: nil) { v throws(LarchError) in
                        do { going = try body(e.key.bytes, v.bytes) } catch { failure = error; going = false }
                        return going
                    }
                    if going { more = try state.next() }
                }
            }
            if let failure { throw failure }
        }
    }

    /// A cursor over the (key, value) pairs of sorted-duplicates database `db`, unpositioned.
    public func duplicateCursor(_ db: Database) throws(LarchError) -> DuplicateCursor<Mode> {
        DuplicateCursor(core: core, tree: try core.duplicateTree(db))
    }
}

/// Changes to sorted-duplicates databases, in write transactions.
extension Transaction where Mode == ReadWrite {
    /// Adds `value` to the values of `key` in `db`; returns whether it was added. When the pair is
    /// present already, nothing changes and it returns false — or, with `allowExisting: false`,
    /// throws `duplicateExists` (LMDB's `MDB_NODUPDATA`). Values are 1 ... a quarter page
    /// (`duplicateValueSize`).
    @discardableResult @inlinable
    public mutating func putDuplicate(_ value: some Collection<UInt8>, forKey key: some Collection<UInt8>, in db: Database,
                                      allowExisting: Bool = true) throws(LarchError) -> Bool {
        try withBytes(key) { k throws(LarchError) in
            try withBytes(value) { v throws(LarchError) in try putDuplicateBytes(v, forKey: k, in: db, allowExisting: allowExisting) }
        }
    }

    /// `putDuplicate` on contiguous bytes: the non-generic body every call ends in.
    @usableFromInline
    mutating func putDuplicateBytes(_ value: UnsafeRawBufferPointer, forKey key: UnsafeRawBufferPointer, in db: Database,
                                    allowExisting: Bool) throws(LarchError) -> Bool {
        try core.putDuplicate(tree: try core.duplicateTree(db), key: key, value: value, allowExisting: allowExisting)
    }

    /// Removes the pair (`key`, `value`) from `db`; returns whether it was present. The key goes
    /// with its last value.
    @discardableResult
    public mutating func deleteDuplicate(_ value: some Collection<UInt8>, forKey key: some Collection<UInt8>, in db: Database) throws(LarchError) -> Bool {
        let t = try core.duplicateTree(db)
        return try withBytes(key) { k throws(LarchError) in
            try withBytes(value) { v throws(LarchError) in try core.deleteDuplicate(tree: t, key: k, value: v) }
        }
    }

    /// Replaces all values of `key` in `db` with `values` (ascending, unique, each valid; empty:
    /// the key is removed). Used by `Environment.receive`.
    mutating func replaceAllValues(_ values: [[UInt8]], forKey key: [UInt8], in db: Database) throws(LarchError) {
        let t = try core.duplicateTree(db)
        try withBytes(key) { k throws(LarchError) in
            try core.validateKey(k)
            for v in values { try withBytes(v) { b throws(LarchError) in try core.validateDuplicateValue(b) } }
            try core.modifying { w throws(LarchError) in try w.replaceDuplicates(tree: t, key: k, values: values) }
        }
    }

    /// Removes `key` and all its values from `db`; returns how many values it had.
    @discardableResult
    public mutating func deleteAllValues(forKey key: some Collection<UInt8>, in db: Database) throws(LarchError) -> Int {
        let t = try core.duplicateTree(db)
        return try withBytes(key) { k throws(LarchError) in try core.deleteAllDuplicates(tree: t, key: k) }
    }
}

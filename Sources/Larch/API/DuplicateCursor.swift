/// A cursor over the (key, value) pairs of a sorted-duplicates database (LMDB's cursor on an
/// `MDB_DUPSORT` database): keys in byte order, each key's values in byte order.
///
/// The cursor remembers the pair it is on and each move finds the next one from there, so it
/// stays correct across changes made through the transaction: after the pair under it is deleted,
/// `next()` moves to the pair that followed it and `previous()` to the one before it.
///
/// Moves return whether the cursor is on a pair afterwards. A step that finds nothing (`next()`
/// after the last pair, `nextDuplicate()` after a key's last value, ...) leaves the cursor where
/// it was; a seek that finds nothing leaves it unpositioned. It cannot be used after its
/// transaction ends (`transactionEnded`).
///
/// | LMDB | `DuplicateCursor` |
/// |---|---|
/// | `MDB_FIRST`, `MDB_LAST` | `first()`, `last()` |
/// | `MDB_NEXT`, `MDB_PREV` | `next()`, `previous()` |
/// | `MDB_NEXT_DUP`, `MDB_PREV_DUP` | `nextDuplicate()`, `previousDuplicate()` |
/// | `MDB_NEXT_NODUP`, `MDB_PREV_NODUP` | `nextKey()` (its first value), `previousKey()` (its last value) |
/// | `MDB_FIRST_DUP`, `MDB_LAST_DUP` | `firstDuplicate()`, `lastDuplicate()` |
/// | `MDB_SET_KEY`, `MDB_SET_RANGE` | `seek(toKey:)`, `seek(atLeastKey:)` |
/// | `MDB_GET_BOTH`, `MDB_GET_BOTH_RANGE` | `seek(toKey:value:)`, `seek(toKey:valueAtLeast:)` |
/// | `mdb_cursor_count` | `count` |
public final class DuplicateCursor<Mode: TransactionMode> {
    let core: TransactionCore
    let tree: Int
    /// Finds neighbouring keys in the database's tree.
    private let keys: CursorState
    /// The pair the cursor is on (copies), or nil.
    private var position: (key: [UInt8], value: [UInt8])?

    init(core: TransactionCore, tree: Int) {
        self.core = core
        self.tree = tree
        self.keys = CursorState(core: core, tree: tree)
    }

    private func reading<R>(_ body: () throws(LarchError) -> R) throws(LarchError) -> R {
        try core.checkActive()
        return try core.expiringTyped(body)
    }

    // MARK: Helpers

    private func set(ofKey key: [UInt8]) throws(LarchError) -> DuplicateSet? {
        try withBytes(key) { k throws(LarchError) in try core.duplicateSet(tree: tree, key: k) }
    }

    /// Positions on the first (or last) value of `key`; false (unpositioned) when it is absent.
    private func land(_ key: [UInt8]?, first: Bool) throws(LarchError) -> Bool {
        guard let key, let s = try set(ofKey: key),
              let v = first ? try core.duplicate(atLeast: nil, strict: false, in: s) : try core.duplicate(atMost: nil, inclusive: true, in: s) else {
            position = nil
            return false
        }
        position = (key, v)
        return true
    }

    private func currentKey() throws(LarchError) -> [UInt8] { Array(try keys.currentKey()) }

    /// The first key after `key`.
    private func key(after key: [UInt8]) throws(LarchError) -> [UInt8]? {
        let (found, exact) = try withBytes(key) { k throws(LarchError) in try keys.seek(k) }
        guard found else { return nil }
        if exact { guard try keys.next() else { return nil } }
        return try currentKey()
    }

    /// The last key before `key`.
    private func key(before key: [UInt8]) throws(LarchError) -> [UInt8]? {
        let (found, _) = try withBytes(key) { k throws(LarchError) in try keys.seek(k) }
        guard found ? try keys.previous() : try keys.last() else { return nil }
        return try currentKey()
    }

    /// Moves to (key, value) when `value` exists; leaves the cursor as it is otherwise.
    private func step(to value: [UInt8]?, key: [UInt8]) -> Bool {
        guard let value else { return false }
        position = (key, value)
        return true
    }

    // MARK: Moves

    /// Moves to the first value of the first key.
    @discardableResult public func first() throws(LarchError) -> Bool {
        try reading { () throws(LarchError) in try land(try keys.first() ? try currentKey() : nil, first: true) }
    }

    /// Moves to the last value of the last key.
    @discardableResult public func last() throws(LarchError) -> Bool {
        try reading { () throws(LarchError) in try land(try keys.last() ? try currentKey() : nil, first: false) }
    }

    /// Moves to the next pair: the next value of this key, else the first value of the next key.
    /// Unpositioned, it moves to the first pair.
    @discardableResult public func next() throws(LarchError) -> Bool {
        try reading { () throws(LarchError) in
            guard let p = position else { return try land(try keys.first() ? try currentKey() : nil, first: true) }
            if let s = try set(ofKey: p.key), let v = try core.duplicate(atLeast: p.value, strict: true, in: s) {
                position = (p.key, v)
                return true
            }
            guard let k = try key(after: p.key) else { return false }
            return try land(k, first: true)
        }
    }

    /// Moves to the previous pair: the previous value of this key, else the last value of the
    /// previous key. Unpositioned, it moves to the last pair.
    @discardableResult public func previous() throws(LarchError) -> Bool {
        try reading { () throws(LarchError) in
            guard let p = position else { return try land(try keys.last() ? try currentKey() : nil, first: false) }
            if let s = try set(ofKey: p.key), let v = try core.duplicate(atMost: p.value, inclusive: false, in: s) {
                position = (p.key, v)
                return true
            }
            guard let k = try key(before: p.key) else { return false }
            return try land(k, first: false)
        }
    }

    /// Moves to the next value of the current key; false (not moving) after its last one.
    /// Unpositioned, it moves to the first pair (as LMDB's `MDB_NEXT_DUP`).
    @discardableResult public func nextDuplicate() throws(LarchError) -> Bool {
        try reading { () throws(LarchError) in
            guard let p = position else { return try land(try keys.first() ? try currentKey() : nil, first: true) }
            guard let s = try set(ofKey: p.key) else { return false }
            return step(to: try core.duplicate(atLeast: p.value, strict: true, in: s), key: p.key)
        }
    }

    /// Moves to the previous value of the current key; false (not moving) before its first one.
    /// Unpositioned, it moves to the last pair (as LMDB's `MDB_PREV_DUP`).
    @discardableResult public func previousDuplicate() throws(LarchError) -> Bool {
        try reading { () throws(LarchError) in
            guard let p = position else { return try land(try keys.last() ? try currentKey() : nil, first: false) }
            guard let s = try set(ofKey: p.key) else { return false }
            return step(to: try core.duplicate(atMost: p.value, inclusive: false, in: s), key: p.key)
        }
    }

    /// Moves to the first value of the next key, skipping this key's other values.
    @discardableResult public func nextKey() throws(LarchError) -> Bool {
        try reading { () throws(LarchError) in
            guard let p = position else { return try land(try keys.first() ? try currentKey() : nil, first: true) }
            guard let k = try key(after: p.key) else { return false }
            return try land(k, first: true)
        }
    }

    /// Moves to the last value of the previous key (as LMDB's `MDB_PREV_NODUP`).
    @discardableResult public func previousKey() throws(LarchError) -> Bool {
        try reading { () throws(LarchError) in
            guard let p = position else { return try land(try keys.last() ? try currentKey() : nil, first: false) }
            guard let k = try key(before: p.key) else { return false }
            return try land(k, first: false)
        }
    }

    /// Moves to the first value of the current key.
    @discardableResult public func firstDuplicate() throws(LarchError) -> Bool {
        try reading { () throws(LarchError) in
            guard let p = position, let s = try set(ofKey: p.key) else { return false }
            return step(to: try core.duplicate(atLeast: nil, strict: false, in: s), key: p.key)
        }
    }

    /// Moves to the last value of the current key.
    @discardableResult public func lastDuplicate() throws(LarchError) -> Bool {
        try reading { () throws(LarchError) in
            guard let p = position, let s = try set(ofKey: p.key) else { return false }
            return step(to: try core.duplicate(atMost: nil, inclusive: true, in: s), key: p.key)
        }
    }

    /// Moves to the first value of `key`; false (unpositioned) when the key is absent.
    @discardableResult public func seek(toKey key: some Collection<UInt8>) throws(LarchError) -> Bool {
        try reading { () throws(LarchError) in
            let k = Array(key)
            try withBytes(k) { b throws(LarchError) in try core.validateKey(b) }
            return try land(k, first: true)
        }
    }

    /// Moves to the first value of the first key `≥ key`; false (unpositioned) when there is none.
    @discardableResult public func seek(atLeastKey key: some Collection<UInt8>) throws(LarchError) -> Bool {
        try reading { () throws(LarchError) in
            let (found, _) = try withBytes(key) { b throws(LarchError) in try core.validateKey(b); return try keys.seek(b) }
            return try land(found ? try currentKey() : nil, first: true)
        }
    }

    /// Moves to the pair (`key`, `value`); false (unpositioned) when it is absent.
    @discardableResult public func seek(toKey key: some Collection<UInt8>, value: some Collection<UInt8>) throws(LarchError) -> Bool {
        try seekPair(key, value, exact: true)
    }

    /// Moves to the first value `≥ value` of `key`; false (unpositioned) when the key is absent or
    /// has no such value.
    @discardableResult public func seek(toKey key: some Collection<UInt8>, valueAtLeast value: some Collection<UInt8>) throws(LarchError) -> Bool {
        try seekPair(key, value, exact: false)
    }

    private func seekPair(_ key: some Collection<UInt8>, _ value: some Collection<UInt8>, exact: Bool) throws(LarchError) -> Bool {
        try reading { () throws(LarchError) in
            let k = Array(key), v = Array(value)
            try withBytes(k) { b throws(LarchError) in try core.validateKey(b) }
            try withBytes(v) { b throws(LarchError) in try core.validateDuplicateValue(b) }
            guard let s = try set(ofKey: k), let found = try core.duplicate(atLeast: v, strict: false, in: s),
                  !exact || found == v else {
                position = nil
                return false
            }
            position = (k, found)
            return true
        }
    }

    // MARK: Reading

    /// A copy of the current key, or nil when the cursor is not on a pair.
    public var key: [UInt8]? {
        get throws(LarchError) { try reading { () throws(LarchError) in position?.key } }
    }

    /// A copy of the current value, or nil when the cursor is not on a pair.
    public var value: [UInt8]? {
        get throws(LarchError) { try reading { () throws(LarchError) in position?.value } }
    }

    /// How many values the current key has (0 when the cursor is not on a pair).
    public var count: Int {
        get throws(LarchError) {
            try reading { () throws(LarchError) in
                guard let p = position, let s = try set(ofKey: p.key) else { return 0 }
                return try core.duplicateCount(s)
            }
        }
    }
}

extension DuplicateCursor where Mode == ReadWrite {
    /// Adds the pair (`key`, `value`) — nothing changes when it is present — and moves the cursor to it.
    public func put(_ value: some Collection<UInt8>, forKey key: some Collection<UInt8>) throws(LarchError) {
        try core.checkActive()
        let k = Array(key), v = Array(value)
        try withBytes(k) { kb throws(LarchError) in
            try withBytes(v) { vb throws(LarchError) in _ = try core.putDuplicate(tree: tree, key: kb, value: vb, allowExisting: true) }
        }
        position = (k, v)
    }

    /// Deletes the pair under the cursor. The cursor then stands between pairs: `next()` moves to
    /// the pair after the deleted one, `previous()` to the one before it.
    public func delete() throws(LarchError) {
        try core.checkActive()
        guard let p = position else { throw .invalidOption("delete needs a cursor positioned on a pair") }
        _ = try withBytes(p.key) { kb throws(LarchError) in
            try withBytes(p.value) { vb throws(LarchError) in try core.deleteDuplicate(tree: tree, key: kb, value: vb) }
        }
    }

    /// Deletes the current key with all its values (LMDB's `MDB_NODUPDATA` delete); returns how
    /// many there were. `next()` then moves to the next key.
    @discardableResult
    public func deleteAllDuplicates() throws(LarchError) -> Int {
        try core.checkActive()
        guard let p = position else { throw .invalidOption("deleteAllDuplicates needs a cursor positioned on a pair") }
        let n = try withBytes(p.key) { kb throws(LarchError) in try core.deleteAllDuplicates(tree: tree, key: kb) }
        // The key is gone: `next()` continues with the next key, `previous()` with the one before.
        position = (p.key, p.value)
        return n
    }
}

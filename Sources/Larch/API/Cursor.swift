/// A movable position in one database of a transaction. `Cursor<ReadWrite>`, from a write
/// transaction, can also change the database; a cursor of a read transaction cannot.
///
/// Moves return whether the cursor is on an entry afterwards. Cursors of a write transaction stay
/// valid across changes made through the transaction or through other cursors: after the entry
/// under a cursor is deleted, `next()` moves to the entry that followed it. A cursor cannot be
/// used after its transaction ends: it then throws `transactionEnded`.
public final class Cursor<Mode: TransactionMode> {
    let state: CursorState

    init(state: CursorState) {
        self.state = state
    }

    func check() throws(LarchError) { try state.core.checkActive() }

    /// Runs a move or read of the cursor, checking the transaction first and, for a read
    /// transaction, that its snapshot did not expire meanwhile (`Options.maxReaderLag`).
    private func reading<R>(_ body: () throws(LarchError) -> R) throws(LarchError) -> R {
        try check()
        return try state.core.expiringTyped(body)
    }

    /// Moves to the first entry.
    @discardableResult public func first() throws(LarchError) -> Bool { try reading { () throws(LarchError) in try state.first() } }
    /// Moves to the last entry.
    @discardableResult public func last() throws(LarchError) -> Bool { try reading { () throws(LarchError) in try state.last() } }
    /// Moves to the next entry.
    @discardableResult public func next() throws(LarchError) -> Bool { try reading { () throws(LarchError) in try state.next() } }
    /// Moves to the previous entry.
    @discardableResult public func previous() throws(LarchError) -> Bool { try reading { () throws(LarchError) in try state.previous() } }

    /// Moves to `key` if present; returns false (and leaves the cursor on the next key) if not.
    @discardableResult
    public func seek(to key: some Collection<UInt8>) throws(LarchError) -> Bool {
        try reading { () throws(LarchError) in
            try withBytes(key) { k throws(LarchError) in try state.core.validateKey(k); return try state.seek(k).exact }
        }
    }

    /// Moves to the first entry whose key is `≥ key`.
    @discardableResult
    public func seek(atLeast key: some Collection<UInt8>) throws(LarchError) -> Bool {
        try reading { () throws(LarchError) in
            try withBytes(key) { k throws(LarchError) in try state.core.validateKey(k); return try state.seek(k).found }
        }
    }

    /// A copy of the current key, or nil when the cursor is not on an entry.
    public var key: [UInt8]? {
        get throws(LarchError) {
            try reading { () throws(LarchError) in
                guard try state.refresh() else { return nil }
                return Array(try state.currentKey())
            }
        }
    }

    /// A copy of the current value, or nil when the cursor is not on an entry.
    public var value: [UInt8]? {
        get throws(LarchError) {
            try reading { () throws(LarchError) in
                guard try state.refresh() else { return nil }
                return Array(try state.core.valueBytes(state.currentEntry()))
            }
        }
    }

    /// Calls `body` with the current key and value in place (no copy), or returns nil when the
    /// cursor is not on an entry. The spans cannot leave `body`; changes through a cursor while it
    /// runs throw `viewInUse`.
    public func withCurrent<R>(_ body: (_ key: RawSpan, _ value: RawSpan) throws -> R) throws -> R? {
        try check()
        return try state.core.expiring {
            guard try state.refresh() else { return nil }
            return try state.core.lendingView { try state.withCurrentUnsafe { k, v in try body(k.bytes, v.bytes) } }
        }
    }
}

extension Cursor where Mode == ReadWrite {
    /// Stores `value` under `key` and moves the cursor to it.
    public func put(_ value: some Collection<UInt8>, forKey key: some Collection<UInt8>) throws(LarchError) {
        try check()
        try withBytes(key) { k throws(LarchError) in
            try withBytes(value) { v throws(LarchError) in try state.core.put(tree: state.tree, key: k, value: v) }
            _ = try state.seek(k)
        }
    }

    /// Deletes the entry under the cursor. The cursor then stands between entries: `next()` moves
    /// to the entry after the deleted one, `previous()` to the one before it.
    public func delete() throws(LarchError) {
        try check()
        guard try state.refresh() else { throw .invalidOption("delete needs a cursor positioned on an entry") }
        let key = Array(try state.currentKey())
        _ = try withBytes(key) { k throws(LarchError) in try state.core.delete(tree: state.tree, key: k) }
    }
}

/// A movable position in one database of a transaction.
///
/// Moves return whether the cursor is on an entry afterwards. Cursors of a write transaction stay
/// valid across changes made through the transaction or through other cursors: after the entry
/// under a cursor is deleted, `next()` moves to the entry that followed it.
/// A cursor keeps its transaction alive but cannot be used after the transaction ends.
public final class Cursor {
    let state: CursorState
    /// The transaction, kept alive while the cursor is.
    let transaction: ReadTransaction

    init(state: CursorState, transaction: ReadTransaction) {
        self.state = state
        self.transaction = transaction
    }

    private func check() throws(LarchError) { try state.core.checkActive() }

    /// Moves to the first entry.
    @discardableResult public func first() throws(LarchError) -> Bool { try check(); return try state.first() }
    /// Moves to the last entry.
    @discardableResult public func last() throws(LarchError) -> Bool { try check(); return try state.last() }
    /// Moves to the next entry.
    @discardableResult public func next() throws(LarchError) -> Bool { try check(); return try state.next() }
    /// Moves to the previous entry.
    @discardableResult public func previous() throws(LarchError) -> Bool { try check(); return try state.previous() }

    /// Moves to `key` if present; returns false (and leaves the cursor on the next key) if not.
    @discardableResult
    public func seek(to key: some Collection<UInt8>) throws(LarchError) -> Bool {
        try check()
        return try withBytes(key) { k throws(LarchError) in try state.core.validateKey(k); return try state.seek(k).exact }
    }

    /// Moves to the first entry whose key is `≥ key`.
    @discardableResult
    public func seek(atLeast key: some Collection<UInt8>) throws(LarchError) -> Bool {
        try check()
        return try withBytes(key) { k throws(LarchError) in try state.core.validateKey(k); return try state.seek(k).found }
    }

    /// A copy of the current key, or nil when the cursor is not on an entry.
    public var key: [UInt8]? {
        get throws(LarchError) {
            try check()
            guard try state.refresh() else { return nil }
            return Array(try state.currentKey())
        }
    }

    /// A copy of the current value, or nil when the cursor is not on an entry.
    public var value: [UInt8]? {
        get throws(LarchError) {
            try check()
            guard try state.refresh() else { return nil }
            return Array(try state.core.valueBytes(state.currentEntry()))
        }
    }

    /// Calls `body` with the current key and value in place (no copy), or returns nil when the
    /// cursor is not on an entry. The spans are valid only inside `body`.
    public func withCurrent<R>(_ body: (_ key: RawSpan, _ value: RawSpan) throws -> R) throws -> R? {
        try check()
        guard try state.refresh() else { return nil }
        return try transaction.lendingView { try state.withCurrentUnsafe { k, v in try body(k.bytes, v.bytes) } }
    }

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
        _ = try state.core.checkWritable()
        guard try state.refresh() else { throw .invalidOption("delete needs a cursor positioned on an entry") }
        let key = Array(try state.currentKey())
        _ = try withBytes(key) { k throws(LarchError) in try state.core.delete(tree: state.tree, key: k) }
    }

    // MARK: Range iteration

    /// Positions on the first entry of `range` in the given direction.
    func start(_ range: KeyRange, reverse: Bool) throws(LarchError) -> Bool {
        try check()
        var on: Bool
        if !reverse {
            switch range.lower {
            case .unbounded: on = try state.first()
            case .included(let b): on = try withBytes(b) { k throws(LarchError) in try state.seek(k).found }
            case .excluded(let b):
                let (found, exact) = try withBytes(b) { k throws(LarchError) in try state.seek(k) }
                on = found
                if found && exact { on = try state.next() }
            }
        } else {
            switch range.upper {
            case .unbounded: on = try state.last()
            case .included(let b): on = try withBytes(b) { k throws(LarchError) in try state.seekLast(atMost: k, inclusive: true) }
            case .excluded(let b): on = try withBytes(b) { k throws(LarchError) in try state.seekLast(atMost: k, inclusive: false) }
            }
        }
        guard on else { return false }
        return try inRange(range)
    }

    /// Moves to the next entry of `range` in the given direction.
    func advance(_ range: KeyRange, reverse: Bool) throws(LarchError) -> Bool {
        try check()
        let on = reverse ? try state.previous() : try state.next()
        guard on else { return false }
        return try inRange(range)
    }

    private func inRange(_ range: KeyRange) throws(LarchError) -> Bool {
        let k = try state.currentKey()
        return range.isAboveLower(k) && range.isBelowUpper(k)
    }
}

extension CursorState {
    /// Calls `body` with the current key and value buffers (the cursor must be up to date).
    func withCurrentUnsafe<R>(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> R) throws -> R {
        let e = try currentEntry()
        return try body(e.key, try core.valueBytes(e))
    }
}

/// The entries of a key range, as a Swift sequence of copies.
///
/// **Errors.** `Sequence` iteration cannot throw: a `for` loop stops at the first error (a corrupt
/// page, an ended transaction) and `error` holds it. A loop that ends early looks like a short range,
/// so check `error` after the loop, or use the throwing forms: `collect()`, `ReadTransaction.forEach`,
/// or a `Cursor`.
public struct Entries: Sequence {
    /// One key-value pair, copied out of the database.
    public typealias Element = (key: [UInt8], value: [UInt8])

    final class ErrorBox { var error: LarchError? }
    let cursor: Cursor
    let range: KeyRange
    let reverse: Bool
    let box = ErrorBox()

    init(cursor: Cursor, range: KeyRange, reverse: Bool) {
        self.cursor = cursor
        self.range = range
        self.reverse = reverse
    }

    /// The error that ended the last iteration early, if any.
    public var error: LarchError? { box.error }

    /// Every entry, in order; throws the first error instead of stopping early.
    public func collect() throws(LarchError) -> [Element] {
        var out: [Element] = []
        for e in self { out.append(e) }
        if let e = box.error { throw e }
        return out
    }

    public struct Iterator: IteratorProtocol {
        let cursor: Cursor
        let range: KeyRange
        let reverse: Bool
        let box: ErrorBox
        var started = false
        var done = false

        public mutating func next() -> Element? {
            guard !done else { return nil }
            do throws(LarchError) {
                let on = started ? try cursor.advance(range, reverse: reverse) : try cursor.start(range, reverse: reverse)
                started = true
                guard on else { done = true; return nil }
                let e = try cursor.state.currentEntry()
                return (Array(e.key), Array(try cursor.state.core.valueBytes(e)))
            } catch {
                box.error = error
                done = true
                return nil
            }
        }
    }

    public func makeIterator() -> Iterator {
        box.error = nil
        let c = Cursor(state: CursorState(core: cursor.state.core, tree: cursor.state.tree), transaction: cursor.transaction)
        return Iterator(cursor: c, range: range, reverse: reverse, box: box)
    }
}

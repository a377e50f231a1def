/// The entries of a key range, copied out one at a time: a cursor whose iteration throws.
///
/// ```swift
/// var entries = try txn.entries(in: db, "a"..<"b")
/// while let (key, value) = try entries.next() { ... }
/// ```
///
/// Every way to iterate (`next()`, `forEach`, `collect()`) throws the first error it meets (a
/// corrupt page, an ended transaction), so a loop that ends early never looks like a short range.
/// It reads its transaction and cannot be used after the transaction ends (`transactionEnded`).
public struct Entries: ~Copyable {
    /// One key-value pair, copied out of the database.
    public typealias Element = (key: [UInt8], value: [UInt8])

    let state: CursorState
    let range: KeyRange
    let reverse: Bool
    private var started = false
    private var done = false

    init(state: CursorState, range: KeyRange, reverse: Bool) {
        self.state = state
        self.range = range
        self.reverse = reverse
    }

    /// The next entry, or nil after the last one.
    public mutating func next() throws(LarchError) -> Element? {
        guard !done else { return nil }
        let core = state.core
        return try core.expiringTyped { () throws(LarchError) in try nextUnchecked() }
    }

    private mutating func nextUnchecked() throws(LarchError) -> Element? {
        do {
            let on = started ? try state.advance(range, reverse: reverse) : try state.start(range, reverse: reverse)
            started = true
            guard on else { done = true; return nil }
            let e = try state.currentEntry()
            return (Array(e.key), Array(try state.core.valueBytes(e)))
        } catch {
            done = true
            throw error
        }
    }

    /// Calls `body` with each remaining entry.
    public consuming func forEach<E: Error>(_ body: (Element) throws(E) -> Void) throws {
        while let e = try next() { try body(e) }
    }

    /// Every remaining entry, in order.
    public consuming func collect() throws(LarchError) -> [Element] {
        var out: [Element] = []
        while let e = try next() { out.append(e) }
        return out
    }

    /// The remaining entries, transformed by `transform`, in order.
    public consuming func map<T>(_ transform: (Element) throws -> T) throws -> [T] {
        var out: [T] = []
        while let e = try next() { out.append(try transform(e)) }
        return out
    }
}

/// Walking a `KeyRange` with a cursor: what `Entries` and `Transaction.forEach` share.
extension CursorPosition {
    /// Positions on the first entry of `range` in the given direction.
    mutating func start(_ range: KeyRange, reverse: Bool) throws(LarchError) -> Bool {
        try core.checkActive()
        var on: Bool
        if !reverse {
            switch range.lower {
            case .unbounded: on = try first()
            case .included(let b): on = try withBytes(b) { k throws(LarchError) in try seek(k).found }
            case .excluded(let b):
                let (found, exact) = try withBytes(b) { k throws(LarchError) in try seek(k) }
                on = found
                if found && exact { on = try next() }
            }
        } else {
            switch range.upper {
            case .unbounded: on = try last()
            case .included(let b): on = try withBytes(b) { k throws(LarchError) in try seekLast(atMost: k, inclusive: true) }
            case .excluded(let b): on = try withBytes(b) { k throws(LarchError) in try seekLast(atMost: k, inclusive: false) }
            }
        }
        guard on else { return false }
        return try inRange(range)
    }

    /// Moves to the next entry of `range` in the given direction.
    mutating func advance(_ range: KeyRange, reverse: Bool) throws(LarchError) -> Bool {
        try core.checkActive()
        let on = reverse ? try previous() : try next()
        guard on else { return false }
        return try inRange(range)
    }

    private func inRange(_ range: KeyRange) throws(LarchError) -> Bool {
        let k = try currentKey()
        return range.isAboveLower(k) && range.isBelowUpper(k)
    }

    /// Calls `body` with the current key and value buffers (the cursor must be up to date).
    func withCurrentUnsafe<R>(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> R) throws -> R {
        let e = try currentEntry()
        return try body(e.key, try core.valueBytes(e))
    }

    /// Calls `body` with each entry of `range` in place until it returns false.
    mutating func forEach(_ range: KeyRange, reverse: Bool, _ body: (_ key: RawSpan, _ value: RawSpan) throws -> Bool) throws {
        var more = try start(range, reverse: reverse)
        // Read-only snapshots never change: walk each leaf's cells in a local loop.
        let fast = !core.isWrite
        // Only a bounded end needs a comparison per entry.
        let bounded = reverse ? range.hasLowerBound : range.hasUpperBound
        while more {
            if fast {
                let (leaf, first) = leafPosition
                var i = first
                let end = reverse ? -1 : leaf.count
                let step = reverse ? -1 : 1
                while i != end {
                    let e = try leaf.leafCell(i)
                    if bounded, reverse ? !range.isAboveLower(e.key) : !range.isBelowUpper(e.key) { return }
                    guard try body(e.key.bytes, core.valueBytes(e).bytes) else { return }
                    i += step
                }
                setLeafIndex(end - step)
            } else {
                guard try withCurrentUnsafe({ k, v in try body(k.bytes, v.bytes) }) else { return }
            }
            more = try advance(range, reverse: reverse)
        }
    }
}

extension CursorState {
    /// Positions on the first entry of `range` in the given direction.
    func start(_ range: KeyRange, reverse: Bool) throws(LarchError) -> Bool { try position.start(range, reverse: reverse) }

    /// Moves to the next entry of `range` in the given direction.
    func advance(_ range: KeyRange, reverse: Bool) throws(LarchError) -> Bool { try position.advance(range, reverse: reverse) }

    /// Calls `body` with the current key and value buffers (the cursor must be up to date).
    func withCurrentUnsafe<R>(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> R) throws -> R {
        try position.withCurrentUnsafe(body)
    }

    /// Calls `body` with each entry of `range` in place until it returns false. The walk is one
    /// access to the position: no change can happen meanwhile (a change during a view throws
    /// `viewInUse`), so no cursor notification can reach it.
    func forEach(_ range: KeyRange, reverse: Bool, _ body: (_ key: RawSpan, _ value: RawSpan) throws -> Bool) throws {
        try position.forEach(range, reverse: reverse, body)
    }
}

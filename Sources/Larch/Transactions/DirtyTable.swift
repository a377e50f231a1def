/// The write transaction's dirty pages by page number: an open-addressing hash table with linear
/// probing and backward-shift deletion, keyed by page numbers (never 0, which marks an empty
/// slot). Looked up on every page access of a write transaction, so it avoids `Dictionary`'s
/// SipHash and per-access overhead. A noncopyable owner of its storage: `deinit` frees it (the page
/// buffers it lists belong to `DirtyPages`).
struct DirtyTable: ~Copyable {
    private var keys: UnsafeMutablePointer<UInt64>
    private var values: UnsafeMutablePointer<DirtyPage>
    private var mask: Int
    private(set) var count = 0

    init(capacity: Int = 1024) {
        var n = 16
        while n < capacity * 2 { n <<= 1 }
        keys = .allocate(capacity: n)
        keys.initialize(repeating: 0, count: n)
        values = .allocate(capacity: n)
        mask = n - 1
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    /// The home slot of `key` in a table of `mask + 1` slots.
    @inline(__always)
    fileprivate static func slot(for key: UInt64, mask: Int) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 20) & mask
    }

    @inline(__always)
    private func slot(for key: UInt64) -> Int { Self.slot(for: key, mask: mask) }

    @inline(__always)
    subscript(page: PageNumber) -> DirtyPage? { view[page] }

    @inline(__always)
    func contains(_ page: PageNumber) -> Bool { self[page] != nil }

    mutating func insert(_ page: PageNumber, _ value: DirtyPage) {
        if (count + 1) * 2 > mask + 1 { grow() }
        let key = page.rawValue
        precondition(key != 0, "page 0 is never dirty")
        var i = slot(for: key)
        while keys[i] != 0 && keys[i] != key { i = (i + 1) & mask }
        if keys[i] == 0 { count += 1 }
        keys[i] = key
        (values + i).initialize(to: value)
    }

    /// Removes `page` and returns its entry.
    mutating func remove(_ page: PageNumber) -> DirtyPage? {
        let key = page.rawValue
        var i = slot(for: key)
        while keys[i] != key {
            if keys[i] == 0 { return nil }
            i = (i + 1) & mask
        }
        let removed = values[i]
        // Backward-shift: move later entries of the probe run into the hole.
        var hole = i
        var j = (i + 1) & mask
        while keys[j] != 0 {
            let home = slot(for: keys[j])
            // Move j into the hole unless its home lies cyclically in (hole, j].
            let inRange = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j)
            if !inRange {
                keys[hole] = keys[j]
                values[hole] = values[j]
                hole = j
            }
            j = (j + 1) & mask
        }
        keys[hole] = 0
        count -= 1
        return removed
    }

    private mutating func grow() {
        let oldKeys = keys, oldValues = values, oldSize = mask + 1
        let n = oldSize * 2
        keys = .allocate(capacity: n)
        keys.initialize(repeating: 0, count: n)
        values = .allocate(capacity: n)
        mask = n - 1
        count = 0
        for i in 0..<oldSize where oldKeys[i] != 0 { insert(PageNumber(oldKeys[i]), oldValues[i]) }
        oldKeys.deallocate()
        oldValues.deallocate()
    }

    /// Calls `body` with every entry, in no particular order.
    func forEach(_ body: (PageNumber, DirtyPage) throws -> Void) rethrows {
        for i in 0...mask where keys[i] != 0 { try body(PageNumber(keys[i]), values[i]) }
    }

    /// Every entry in ascending page order, for writing pages in file order at commit.
    ///
    /// An LSD radix sort on the page number, a byte per pass and only as many passes as the
    /// largest page number needs (two for a file under 256 MiB at 4 KiB pages): a comparison sort
    /// of the tuples was 2–3% of a commit of 1,000 random puts.
    func sortedByPage() -> [(page: PageNumber, dirty: DirtyPage)] {
        var sorted: [(page: PageNumber, dirty: DirtyPage)] = []
        sorted.reserveCapacity(count)
        var largest: UInt64 = 0
        for i in 0...mask where keys[i] != 0 {
            sorted.append((PageNumber(keys[i]), values[i]))
            largest = max(largest, keys[i])
        }
        guard sorted.count > 32 else {
            sorted.sort { $0.page < $1.page }
            return sorted
        }
        var other = sorted
        var shift: UInt64 = 0
        var starts = [Int](repeating: 0, count: 257)
        while shift < 64 && largest >> shift != 0 {
            for d in 0...256 { starts[d] = 0 }
            for e in sorted { starts[Int((e.page.rawValue >> shift) & 0xFF) + 1] += 1 }
            for d in 1...256 { starts[d] += starts[d - 1] }
            for e in sorted {
                let d = Int((e.page.rawValue >> shift) & 0xFF)
                other[starts[d]] = e
                starts[d] += 1
            }
            swap(&sorted, &other)
            shift += 8
        }
        return sorted
    }

    /// Empties the table, keeping its storage.
    mutating func removeAll() {
        keys.update(repeating: 0, count: mask + 1)
        count = 0
    }

    /// A view of the table for lookups while it does not change (no insert or remove).
    struct View {
        fileprivate let keys: UnsafeMutablePointer<UInt64>
        fileprivate let values: UnsafeMutablePointer<DirtyPage>
        fileprivate let mask: Int

        @inline(__always)
        subscript(page: PageNumber) -> DirtyPage? {
            let key = page.rawValue
            var i = DirtyTable.slot(for: key, mask: mask)
            while true {
                let k = keys[i]
                if k == 0 { return nil }   // before the match: 0 marks an empty slot, and a forged pointer may name page 0
                if k == key { return values[i] }
                i = (i + 1) & mask
            }
        }
    }

    /// A view for lookups, valid until the table next changes.
    var view: View { View(keys: keys, values: values, mask: mask) }
}

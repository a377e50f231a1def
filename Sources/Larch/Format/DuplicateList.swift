/// The inline form of one key's values in a sorted-duplicates database: the values packed one
/// after another, each behind its length, in strictly ascending byte order (FORMAT.md §20.1).
///
/// ```
/// offset  size  field            (repeated for each value, at least once)
///      0     2  n: the value's length, 1 ... P/4
///      2     n  the value's bytes
/// ```
///
/// A key keeps its values inline while the leaf cell holding the list stays inline under §8's rule
/// (`maxInlineBytes`); past that they move to a duplicate tree of their own.
enum DuplicateList {
    static let lengthSize = 2

    /// The encoded size of a list holding values of `lengths`.
    static func encodedSize(lengths: some Sequence<Int>) -> Int {
        lengths.reduce(0) { $0 + lengthSize + $1 }
    }

    /// The largest list kept inline beside a key of `keyLength` bytes: the largest inline value of §8.
    static func maxInlineBytes(keyLength: Int, limits: PageLimits) -> Int {
        limits.maxInlineCell - PageLayout.slotSize - LeafCell.headerSize - keyLength
    }

    /// Packs `values` (sorted, unique, each 1 ... P/4 bytes).
    static func encode(_ values: [[UInt8]]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(encodedSize(lengths: values.lazy.map(\.count)))
        for v in values {
            out.append(UInt8(truncatingIfNeeded: v.count))
            out.append(UInt8(truncatingIfNeeded: v.count >> 8))
            out.append(contentsOf: v)
        }
        return out
    }

    /// Calls `body` with each value of `list`, in order, until it returns false. Throws
    /// `corruptPage` (naming `page`) when a length runs past the list or is 0 or above `maxLength`.
    /// Order is checked by `validate`, not here.
    static func forEach(_ list: UnsafeRawBufferPointer, maxLength: Int, page: PageNumber,
                        _ body: (UnsafeRawBufferPointer) throws(LarchError) -> Bool) throws(LarchError) {
        var off = 0
        guard list.count > 0 else { throw .corruptPage(page: page.rawValue, reason: "empty duplicate list") }
        while off < list.count {
            guard off + lengthSize <= list.count else {
                throw .corruptPage(page: page.rawValue, reason: "duplicate list cut short at offset \(off)")
            }
            let n = Int(list.baseAddress!.u16(at: off))
            guard n >= 1, n <= maxLength, off + lengthSize + n <= list.count else {
                throw .corruptPage(page: page.rawValue, reason: "duplicate list holds a value of \(n) bytes at offset \(off) (list of \(list.count) bytes, values 1 ... \(maxLength))")
            }
            let value = UnsafeRawBufferPointer(start: list.baseAddress! + off + lengthSize, count: n)
            guard try body(value) else { return }
            off += lengthSize + n
        }
    }

    /// Where `value` is or belongs in `list`: the offset of its entry (or of the first entry above
    /// it, or the list's end), whether it is there, and the entry's size when it is.
    static func locate(_ value: UnsafeRawBufferPointer, in list: UnsafeRawBufferPointer, maxLength: Int) throws(LarchError) -> (offset: Int, found: Bool, size: Int) {
        var off = 0
        var result: (Int, Bool, Int)?
        try forEach(list, maxLength: maxLength, page: .none) { v in
            let c = compareBytes(v.start, v.count, value.start, value.count)
            if c >= 0 {
                result = (off, c == 0, lengthSize + v.count)
                return false
            }
            off += lengthSize + v.count
            return true
        }
        return result ?? (list.count, false, 0)
    }

    /// `list` with `value` inserted at byte `offset` (from `locate`).
    static func inserting(_ value: UnsafeRawBufferPointer, at offset: Int, into list: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(list.count + lengthSize + value.count)
        out.append(contentsOf: list[..<offset])
        out.append(UInt8(truncatingIfNeeded: value.count))
        out.append(UInt8(truncatingIfNeeded: value.count >> 8))
        out.append(contentsOf: value)
        out.append(contentsOf: list[offset...])
        return out
    }

    /// Copies of the values of `list`.
    static func values(_ list: UnsafeRawBufferPointer, maxLength: Int, page: PageNumber) throws(LarchError) -> [[UInt8]] {
        var out: [[UInt8]] = []
        try forEach(list, maxLength: maxLength, page: page) { v in out.append(Array(v)); return true }
        return out
    }

    /// Why `list` is malformed (a bad length, values out of order or repeated), or nil; also
    /// returns how many values it holds.
    static func validate(_ list: UnsafeRawBufferPointer, maxLength: Int) -> (count: Int, problem: String?) {
        var count = 0
        var previous: UnsafeRawBufferPointer?
        var problem: String?
        do throws(LarchError) {
            try forEach(list, maxLength: maxLength, page: .none) { v in
                if let p = previous, compareBytes(p.start, p.count, v.start, v.count) >= 0 {
                    problem = "duplicate list values out of order or repeated at value \(count)"
                    return false
                }
                previous = v
                count += 1
                return true
            }
        } catch {
            return (count, error.reason)
        }
        return (count, problem)
    }
}

/// A key as a value: bytes with lexicographic order, the order of keys in a database. Write
/// literals where a `ByteKey` is expected: `"apple"..<"banana"`, `[0x01, 0x02]`.
public struct ByteKey: Comparable, Hashable, Sendable, ExpressibleByStringLiteral, ExpressibleByArrayLiteral, CustomStringConvertible {
    public var bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public init(_ string: String) { bytes = Array(string.utf8) }
    public init(stringLiteral value: String) { bytes = Array(value.utf8) }
    public init(arrayLiteral elements: UInt8...) { bytes = elements }
    public static func < (a: ByteKey, b: ByteKey) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }
    public var description: String { String(decoding: bytes, as: UTF8.self) }
}

/// A range of keys, each end open, closed or unbounded. Built from Swift ranges of `ByteKey`
/// (`"a"..<"m"`, `"a"..."m"`, `"a"...`, `..<"m"`) or with `prefix(_:)`.
public struct KeyRange: Sendable, Equatable {
    public enum Bound: Sendable, Equatable {
        case unbounded
        case included([UInt8])
        case excluded([UInt8])
    }
    public var lower: Bound
    public var upper: Bound

    public init(lower: Bound, upper: Bound) {
        self.lower = lower
        self.upper = upper
    }

    /// Every key.
    public static let all = KeyRange(lower: .unbounded, upper: .unbounded)

    /// Keys that start with `prefix`.
    public static func prefix(_ prefix: some Collection<UInt8>) -> KeyRange {
        let p = Array(prefix)
        // The first key after every key with this prefix: drop trailing 0xFF bytes, increment the last.
        var end = p
        while let last = end.last, last == 0xFF { end.removeLast() }
        if end.isEmpty { return KeyRange(lower: p.isEmpty ? .unbounded : .included(p), upper: .unbounded) }
        end[end.count - 1] += 1
        return KeyRange(lower: p.isEmpty ? .unbounded : .included(p), upper: .excluded(end))
    }

    public init(_ r: Range<ByteKey>) { self.init(lower: .included(r.lowerBound.bytes), upper: .excluded(r.upperBound.bytes)) }
    public init(_ r: ClosedRange<ByteKey>) { self.init(lower: .included(r.lowerBound.bytes), upper: .included(r.upperBound.bytes)) }
    public init(_ r: PartialRangeFrom<ByteKey>) { self.init(lower: .included(r.lowerBound.bytes), upper: .unbounded) }
    public init(_ r: PartialRangeUpTo<ByteKey>) { self.init(lower: .unbounded, upper: .excluded(r.upperBound.bytes)) }
    public init(_ r: PartialRangeThrough<ByteKey>) { self.init(lower: .unbounded, upper: .included(r.upperBound.bytes)) }

    /// Whether `key` is at or above the lower end.
    func isAboveLower(_ key: UnsafeRawBufferPointer) -> Bool {
        switch lower {
        case .unbounded: return true
        case .included(let b): return b.withUnsafeBytes { compareBytes(key.start, key.count, $0.start, $0.count) >= 0 }
        case .excluded(let b): return b.withUnsafeBytes { compareBytes(key.start, key.count, $0.start, $0.count) > 0 }
        }
    }

    /// Whether the range ends before the last key (`upper` is not `.unbounded`).
    var hasUpperBound: Bool {
        if case .unbounded = upper { return false }
        return true
    }

    /// Whether the range starts after the first key (`lower` is not `.unbounded`).
    var hasLowerBound: Bool {
        if case .unbounded = lower { return false }
        return true
    }

    /// Whether `key` is at or below the upper end.
    func isBelowUpper(_ key: UnsafeRawBufferPointer) -> Bool {
        switch upper {
        case .unbounded: return true
        case .included(let b): return b.withUnsafeBytes { compareBytes(key.start, key.count, $0.start, $0.count) <= 0 }
        case .excluded(let b): return b.withUnsafeBytes { compareBytes(key.start, key.count, $0.start, $0.count) < 0 }
        }
    }
}

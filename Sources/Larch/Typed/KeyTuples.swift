/// A composite key of two elements, ordered by `first`, then by `second`: each
/// element's encoding follows the previous one's, and every encoding is prefix-free.
public struct KeyTuple2<A: OrderedKey, B: OrderedKey>: OrderedKey {
    /// The first element.
    public var first: A
    /// The second element.
    public var second: B

    /// A key of these elements, in order.
    public init(_ first: A, _ second: B) {
        self.first = first
        self.second = second
    }

    /// The elements as a Swift tuple.
    public var values: (A, B) { (first, second) }

    /// Appends each element's encoding in order.
    public func encodeKey(into bytes: inout [UInt8]) {
        first.encodeKey(into: &bytes)
        second.encodeKey(into: &bytes)
    }

    /// Reads each element's encoding in order.
    public static func decodeKey(from reader: inout KeyReader) throws(LarchError) -> Self {
        let first = try A.decodeKey(from: &reader)
        let second = try B.decodeKey(from: &reader)
        return Self(first, second)
    }

    /// The encoding of the first `count` elements (0 ... 2): the prefix every key with those
    /// leading elements starts with. A count out of range is clamped.
    public func encodedPrefix(count: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        if count > 0 { first.encodeKey(into: &bytes) }
        if count > 1 { second.encodeKey(into: &bytes) }
        return bytes
    }

    /// Every key whose leading element is `first` — the keys (first, _) — for
    /// `Transaction.entries(in:_:)` and the other range scans.
    public static func prefix(_ first: A) -> KeyRange {
        var bytes: [UInt8] = []
        first.encodeKey(into: &bytes)
        return .prefix(bytes)
    }
}

/// Equal when every element is.
extension KeyTuple2: Equatable where A: Equatable, B: Equatable {}
/// Hashes every element.
extension KeyTuple2: Hashable where A: Hashable, B: Hashable {}

/// A composite key of three elements, ordered by `first`, then by `second`, and so on: each
/// element's encoding follows the previous one's, and every encoding is prefix-free.
public struct KeyTuple3<A: OrderedKey, B: OrderedKey, C: OrderedKey>: OrderedKey {
    /// The first element.
    public var first: A
    /// The second element.
    public var second: B
    /// The third element.
    public var third: C

    /// A key of these elements, in order.
    public init(_ first: A, _ second: B, _ third: C) {
        self.first = first
        self.second = second
        self.third = third
    }

    /// The elements as a Swift tuple.
    public var values: (A, B, C) { (first, second, third) }

    /// Appends each element's encoding in order.
    public func encodeKey(into bytes: inout [UInt8]) {
        first.encodeKey(into: &bytes)
        second.encodeKey(into: &bytes)
        third.encodeKey(into: &bytes)
    }

    /// Reads each element's encoding in order.
    public static func decodeKey(from reader: inout KeyReader) throws(LarchError) -> Self {
        let first = try A.decodeKey(from: &reader)
        let second = try B.decodeKey(from: &reader)
        let third = try C.decodeKey(from: &reader)
        return Self(first, second, third)
    }

    /// The encoding of the first `count` elements (0 ... 3): the prefix every key with those
    /// leading elements starts with. A count out of range is clamped.
    public func encodedPrefix(count: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        if count > 0 { first.encodeKey(into: &bytes) }
        if count > 1 { second.encodeKey(into: &bytes) }
        if count > 2 { third.encodeKey(into: &bytes) }
        return bytes
    }

    /// Every key whose leading element is `first` — the keys (first, _, _) — for
    /// `Transaction.entries(in:_:)` and the other range scans.
    public static func prefix(_ first: A) -> KeyRange {
        var bytes: [UInt8] = []
        first.encodeKey(into: &bytes)
        return .prefix(bytes)
    }

    /// Every key whose leading elements are `first`, `second` — the keys (first, second, _) — for
    /// `Transaction.entries(in:_:)` and the other range scans.
    public static func prefix(_ first: A, _ second: B) -> KeyRange {
        var bytes: [UInt8] = []
        first.encodeKey(into: &bytes)
        second.encodeKey(into: &bytes)
        return .prefix(bytes)
    }
}

/// Equal when every element is.
extension KeyTuple3: Equatable where A: Equatable, B: Equatable, C: Equatable {}
/// Hashes every element.
extension KeyTuple3: Hashable where A: Hashable, B: Hashable, C: Hashable {}

/// A composite key of four elements, ordered by `first`, then by `second`, and so on: each
/// element's encoding follows the previous one's, and every encoding is prefix-free.
public struct KeyTuple4<A: OrderedKey, B: OrderedKey, C: OrderedKey, D: OrderedKey>: OrderedKey {
    /// The first element.
    public var first: A
    /// The second element.
    public var second: B
    /// The third element.
    public var third: C
    /// The fourth element.
    public var fourth: D

    /// A key of these elements, in order.
    public init(_ first: A, _ second: B, _ third: C, _ fourth: D) {
        self.first = first
        self.second = second
        self.third = third
        self.fourth = fourth
    }

    /// The elements as a Swift tuple.
    public var values: (A, B, C, D) { (first, second, third, fourth) }

    /// Appends each element's encoding in order.
    public func encodeKey(into bytes: inout [UInt8]) {
        first.encodeKey(into: &bytes)
        second.encodeKey(into: &bytes)
        third.encodeKey(into: &bytes)
        fourth.encodeKey(into: &bytes)
    }

    /// Reads each element's encoding in order.
    public static func decodeKey(from reader: inout KeyReader) throws(LarchError) -> Self {
        let first = try A.decodeKey(from: &reader)
        let second = try B.decodeKey(from: &reader)
        let third = try C.decodeKey(from: &reader)
        let fourth = try D.decodeKey(from: &reader)
        return Self(first, second, third, fourth)
    }

    /// The encoding of the first `count` elements (0 ... 4): the prefix every key with those
    /// leading elements starts with. A count out of range is clamped.
    public func encodedPrefix(count: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        if count > 0 { first.encodeKey(into: &bytes) }
        if count > 1 { second.encodeKey(into: &bytes) }
        if count > 2 { third.encodeKey(into: &bytes) }
        if count > 3 { fourth.encodeKey(into: &bytes) }
        return bytes
    }

    /// Every key whose leading element is `first` — the keys (first, _, _, _) — for
    /// `Transaction.entries(in:_:)` and the other range scans.
    public static func prefix(_ first: A) -> KeyRange {
        var bytes: [UInt8] = []
        first.encodeKey(into: &bytes)
        return .prefix(bytes)
    }

    /// Every key whose leading elements are `first`, `second` — the keys (first, second, _, _) — for
    /// `Transaction.entries(in:_:)` and the other range scans.
    public static func prefix(_ first: A, _ second: B) -> KeyRange {
        var bytes: [UInt8] = []
        first.encodeKey(into: &bytes)
        second.encodeKey(into: &bytes)
        return .prefix(bytes)
    }

    /// Every key whose leading elements are `first`, `second`, `third` — the keys (first, second, third, _) — for
    /// `Transaction.entries(in:_:)` and the other range scans.
    public static func prefix(_ first: A, _ second: B, _ third: C) -> KeyRange {
        var bytes: [UInt8] = []
        first.encodeKey(into: &bytes)
        second.encodeKey(into: &bytes)
        third.encodeKey(into: &bytes)
        return .prefix(bytes)
    }
}

/// Equal when every element is.
extension KeyTuple4: Equatable where A: Equatable, B: Equatable, C: Equatable, D: Equatable {}
/// Hashes every element.
extension KeyTuple4: Hashable where A: Hashable, B: Hashable, C: Hashable, D: Hashable {}

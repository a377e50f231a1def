/// Encodes `Encodable` values in Larch's compact binary value encoding (docs/FORMAT.md §19):
/// a tag byte per value, integers as varints (0 ... 127 in one byte), floating-point numbers as
/// their exact bits, strings and `[UInt8]` with a length, keyed containers (structs, classes,
/// enums, dictionaries) with their keys sorted, so that equal values encode to equal bytes.
///
/// ```swift
/// let bytes = try LarchBinaryEncoder().encode(user)
/// let back = try LarchBinaryDecoder().decode(User.self, from: bytes)
/// ```
public struct LarchBinaryEncoder: Sendable {
    /// The deepest nesting written (the top-level value is depth 0); deeper values throw
    /// `invalidValueEncoding`, as `LarchBinaryDecoder` would refuse them. Also stops a value
    /// that contains itself.
    public var maxDepth: Int = LarchBinaryDecoder.defaultMaxDepth

    public init() {}

    /// The encoding of `value`. Throws `invalidValueEncoding` when the value nests deeper than
    /// `maxDepth` or when its `encode(to:)` throws (the reason then gives that error).
    public func encode<T: Encodable>(_ value: T) throws(LarchError) -> [UInt8] {
        let root = EncodingSlot(depth: 0)
        do {
            try BinaryEncoderImpl(slot: root, codingPath: [], maxDepth: maxDepth).encodeValue(value)
        } catch let e as LarchError {
            throw e
        } catch {
            throw .invalidValueEncoding(reason: "encoding a \(T.self) failed: \(error)")
        }
        var out: [UInt8] = []
        try root.write(to: &out, maxDepth: maxDepth)
        return out
    }
}

// MARK: - The tree built while encoding

/// One value's place in the tree: filled by a container, or by a scalar.
final class EncodingSlot {
    let depth: Int
    var node: EncodingNode = .empty
    init(depth: Int) { self.depth = depth }

    func write(to out: inout [UInt8], maxDepth: Int) throws(LarchError) {
        guard depth <= maxDepth else {
            throw .invalidValueEncoding(reason: "the value nests more than maxDepth \(maxDepth) levels deep")
        }
        switch node {
        case .empty:
            // A value whose encode(to:) wrote nothing: an empty keyed container, which decodes
            // into a type whose init(from:) reads nothing.
            out.append(BinaryValueTag.keyed)
            out.append(0)
        case let .scalar(bytes):
            out += bytes
        case let .some(inner):
            out.append(BinaryValueTag.some)
            try inner.write(to: &out, maxDepth: maxDepth)
        case let .array(box):
            out.append(BinaryValueTag.array)
            appendVarint(UInt64(box.items.count), to: &out)
            for item in box.items { try item.write(to: &out, maxDepth: maxDepth) }
        case let .keyed(box):
            out.append(BinaryValueTag.keyed)
            appendVarint(UInt64(box.slots.count), to: &out)
            // Sorted by the key's bytes: equal values encode equally whatever the order in which
            // their keys were written (a dictionary's order differs from run to run).
            let keys = box.keys.map { k -> [UInt8] in
                var b: [UInt8] = []
                k.write(to: &b)
                return b
            }
            for i in keys.indices.sorted(by: { keys[$0].lexicographicallyPrecedes(keys[$1]) }) {
                out += keys[i]
                try box.slots[i].write(to: &out, maxDepth: maxDepth)
            }
        }
    }
}

enum EncodingNode {
    case empty
    /// A complete scalar encoding, tag included.
    case scalar([UInt8])
    /// The `some` marker and the value it wraps.
    case some(EncodingSlot)
    case array(EncodingArray)
    case keyed(EncodingKeyed)
}

final class EncodingArray {
    var items: [EncodingSlot] = []
}

final class EncodingKeyed {
    var keys: [BinaryCodingKey] = []
    var slots: [EncodingSlot] = []
    var index: [BinaryCodingKey: Int] = [:]

    /// A fresh slot for `key`; a key written twice keeps the last value.
    func slot(for key: BinaryCodingKey, depth: Int) -> EncodingSlot {
        let s = EncodingSlot(depth: depth)
        if let i = index[key] {
            slots[i] = s
        } else {
            index[key] = keys.count
            keys.append(key)
            slots.append(s)
        }
        return s
    }
}

// MARK: - Scalars

enum ScalarEncoding {
    static func integer<T: FixedWidthInteger>(_ v: T) -> [UInt8] {
        if v >= 0 {
            let u = UInt64(truncatingIfNeeded: v)
            if u < 0x80 { return [BinaryValueTag.smallIntBase | UInt8(u)] }
            var out: [UInt8] = [BinaryValueTag.unsigned]
            appendVarint(u, to: &out)
            return out
        }
        var out: [UInt8] = [BinaryValueTag.negative]
        appendVarint(UInt64(truncatingIfNeeded: ~Int64(truncatingIfNeeded: v)), to: &out)
        return out
    }

    static func float(_ v: Float) -> [UInt8] {
        var out: [UInt8] = [BinaryValueTag.float32]
        let b = v.bitPattern
        for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: b >> (8 * UInt32(i)))) }
        return out
    }

    static func double(_ v: Double) -> [UInt8] {
        var out: [UInt8] = [BinaryValueTag.float64]
        let b = v.bitPattern
        for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: b >> (8 * UInt64(i)))) }
        return out
    }

    static func string(_ s: String) -> [UInt8] {
        var out: [UInt8] = [BinaryValueTag.string]
        appendVarint(UInt64(s.utf8.count), to: &out)
        out += s.utf8
        return out
    }

    static func bytes(_ b: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [BinaryValueTag.bytes]
        appendVarint(UInt64(b.count), to: &out)
        out += b
        return out
    }
}

// MARK: - Encoder

struct BinaryEncoderImpl: Encoder {
    let slot: EncodingSlot
    let codingPath: [any CodingKey]
    let maxDepth: Int
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(slot: EncodingSlot, codingPath: [any CodingKey], maxDepth: Int) {
        self.slot = slot
        self.codingPath = codingPath
        self.maxDepth = maxDepth
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let box: EncodingKeyed
        if case let .keyed(b) = slot.node { box = b } else { box = EncodingKeyed(); slot.node = .keyed(box) }
        return KeyedEncodingContainer(BinaryKeyedEncoder<Key>(box: box, depth: slot.depth, codingPath: codingPath, maxDepth: maxDepth))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let box: EncodingArray
        if case let .array(b) = slot.node { box = b } else { box = EncodingArray(); slot.node = .array(box) }
        return BinaryUnkeyedEncoder(box: box, depth: slot.depth, codingPath: codingPath, maxDepth: maxDepth)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { BinarySingleValueEncoder(encoder: self) }

    /// Encodes `value` into this encoder's slot: `[UInt8]` as bytes, anything else by its
    /// `encode(to:)`.
    func encodeValue<T: Encodable>(_ value: T) throws {
        guard slot.depth <= maxDepth else {
            throw LarchError.invalidValueEncoding(
                reason: "the value at \(describePath(codingPath)) nests \(slot.depth) levels deep, deeper than maxDepth \(maxDepth) (does it contain itself?)")
        }
        if T.self == [UInt8].self, let b = value as? [UInt8] {
            slot.node = .scalar(ScalarEncoding.bytes(b))
        } else {
            try value.encode(to: self)
        }
    }

    /// Encodes `value` into a new child slot `slot`.
    static func encode<T: Encodable>(_ value: T, into slot: EncodingSlot, codingPath: [any CodingKey], maxDepth: Int) throws {
        try BinaryEncoderImpl(slot: slot, codingPath: codingPath, maxDepth: maxDepth).encodeValue(value)
    }
}

struct BinarySingleValueEncoder: SingleValueEncodingContainer {
    let encoder: BinaryEncoderImpl
    var codingPath: [any CodingKey] { encoder.codingPath }

    private func set(_ bytes: [UInt8]) { encoder.slot.node = .scalar(bytes) }

    mutating func encodeNil() throws { set([BinaryValueTag.null]) }
    mutating func encode(_ value: Bool) throws { set([value ? BinaryValueTag.true : BinaryValueTag.false]) }
    mutating func encode(_ value: String) throws { set(ScalarEncoding.string(value)) }
    mutating func encode(_ value: Double) throws { set(ScalarEncoding.double(value)) }
    mutating func encode(_ value: Float) throws { set(ScalarEncoding.float(value)) }
    mutating func encode(_ value: Int) throws { set(ScalarEncoding.integer(value)) }
    mutating func encode(_ value: Int8) throws { set(ScalarEncoding.integer(value)) }
    mutating func encode(_ value: Int16) throws { set(ScalarEncoding.integer(value)) }
    mutating func encode(_ value: Int32) throws { set(ScalarEncoding.integer(value)) }
    mutating func encode(_ value: Int64) throws { set(ScalarEncoding.integer(value)) }
    mutating func encode(_ value: UInt) throws { set(ScalarEncoding.integer(value)) }
    mutating func encode(_ value: UInt8) throws { set(ScalarEncoding.integer(value)) }
    mutating func encode(_ value: UInt16) throws { set(ScalarEncoding.integer(value)) }
    mutating func encode(_ value: UInt32) throws { set(ScalarEncoding.integer(value)) }
    mutating func encode(_ value: UInt64) throws { set(ScalarEncoding.integer(value)) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        if T.self is any BinaryOptionalMarker.Type {
            // An Optional's encode(to:) handing on the Optional it wraps: mark it, so that
            // `.some(nil)` stays apart from `nil`.
            let inner = EncodingSlot(depth: encoder.slot.depth + 1)
            encoder.slot.node = .some(inner)
            try BinaryEncoderImpl.encode(value, into: inner, codingPath: codingPath, maxDepth: encoder.maxDepth)
        } else {
            try encoder.encodeValue(value)
        }
    }
}

struct BinaryKeyedEncoder<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let box: EncodingKeyed
    let depth: Int
    let codingPath: [any CodingKey]
    let maxDepth: Int

    private func slot(_ key: Key) -> EncodingSlot { box.slot(for: BinaryCodingKey(key), depth: depth + 1) }
    private func set(_ bytes: [UInt8], _ key: Key) { slot(key).node = .scalar(bytes) }

    mutating func encodeNil(forKey key: Key) throws { set([BinaryValueTag.null], key) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { set([value ? BinaryValueTag.true : BinaryValueTag.false], key) }
    mutating func encode(_ value: String, forKey key: Key) throws { set(ScalarEncoding.string(value), key) }
    mutating func encode(_ value: Double, forKey key: Key) throws { set(ScalarEncoding.double(value), key) }
    mutating func encode(_ value: Float, forKey key: Key) throws { set(ScalarEncoding.float(value), key) }
    mutating func encode(_ value: Int, forKey key: Key) throws { set(ScalarEncoding.integer(value), key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { set(ScalarEncoding.integer(value), key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { set(ScalarEncoding.integer(value), key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { set(ScalarEncoding.integer(value), key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { set(ScalarEncoding.integer(value), key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { set(ScalarEncoding.integer(value), key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { set(ScalarEncoding.integer(value), key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { set(ScalarEncoding.integer(value), key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { set(ScalarEncoding.integer(value), key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { set(ScalarEncoding.integer(value), key) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try BinaryEncoderImpl.encode(value, into: slot(key), codingPath: codingPath + [key], maxDepth: maxDepth)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        BinaryEncoderImpl(slot: slot(key), codingPath: codingPath + [key], maxDepth: maxDepth).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        BinaryEncoderImpl(slot: slot(key), codingPath: codingPath + [key], maxDepth: maxDepth).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        let k = BinaryCodingKey.string("super")
        return BinaryEncoderImpl(slot: box.slot(for: k, depth: depth + 1), codingPath: codingPath + [AnyBinaryKey.super], maxDepth: maxDepth)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        BinaryEncoderImpl(slot: slot(key), codingPath: codingPath + [key], maxDepth: maxDepth)
    }
}

struct BinaryUnkeyedEncoder: UnkeyedEncodingContainer {
    let box: EncodingArray
    let depth: Int
    let codingPath: [any CodingKey]
    let maxDepth: Int
    var count: Int { box.items.count }

    private func next() -> EncodingSlot {
        let s = EncodingSlot(depth: depth + 1)
        box.items.append(s)
        return s
    }
    private func add(_ bytes: [UInt8]) { next().node = .scalar(bytes) }
    private var nextPath: [any CodingKey] { codingPath + [AnyBinaryKey(intValue: count)] }

    mutating func encodeNil() throws { add([BinaryValueTag.null]) }
    mutating func encode(_ value: Bool) throws { add([value ? BinaryValueTag.true : BinaryValueTag.false]) }
    mutating func encode(_ value: String) throws { add(ScalarEncoding.string(value)) }
    mutating func encode(_ value: Double) throws { add(ScalarEncoding.double(value)) }
    mutating func encode(_ value: Float) throws { add(ScalarEncoding.float(value)) }
    mutating func encode(_ value: Int) throws { add(ScalarEncoding.integer(value)) }
    mutating func encode(_ value: Int8) throws { add(ScalarEncoding.integer(value)) }
    mutating func encode(_ value: Int16) throws { add(ScalarEncoding.integer(value)) }
    mutating func encode(_ value: Int32) throws { add(ScalarEncoding.integer(value)) }
    mutating func encode(_ value: Int64) throws { add(ScalarEncoding.integer(value)) }
    mutating func encode(_ value: UInt) throws { add(ScalarEncoding.integer(value)) }
    mutating func encode(_ value: UInt8) throws { add(ScalarEncoding.integer(value)) }
    mutating func encode(_ value: UInt16) throws { add(ScalarEncoding.integer(value)) }
    mutating func encode(_ value: UInt32) throws { add(ScalarEncoding.integer(value)) }
    mutating func encode(_ value: UInt64) throws { add(ScalarEncoding.integer(value)) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let path = nextPath
        try BinaryEncoderImpl.encode(value, into: next(), codingPath: path, maxDepth: maxDepth)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let path = nextPath
        return BinaryEncoderImpl(slot: next(), codingPath: path, maxDepth: maxDepth).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let path = nextPath
        return BinaryEncoderImpl(slot: next(), codingPath: path, maxDepth: maxDepth).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        let path = nextPath
        return BinaryEncoderImpl(slot: next(), codingPath: path, maxDepth: maxDepth)
    }
}

/// Decodes values written by `LarchBinaryEncoder` (docs/FORMAT.md §19).
///
/// Every malformed input — cut short, an unknown tag, a count larger than the bytes left, keys
/// out of order, nesting deeper than `maxDepth`, bytes after the value, or a value of another
/// shape than the type expects — throws `LarchError.invalidValueEncoding`; decoding never traps,
/// and its work and memory are bounded by the input's length.
public struct LarchBinaryDecoder: Sendable {
    /// The default of `maxDepth` (and of `LarchBinaryEncoder.maxDepth`).
    public static let defaultMaxDepth = 100

    /// The deepest nesting accepted (the top-level value is depth 0).
    public var maxDepth: Int = LarchBinaryDecoder.defaultMaxDepth

    public init() {}

    /// The value of type `type` that `bytes` encode. Throws `invalidValueEncoding` when the bytes
    /// are not one encoded value of that type (an error thrown by the type's `init(from:)` is
    /// reported in the reason).
    public func decode<T: Decodable>(_ type: T.Type, from bytes: some Collection<UInt8>) throws(LarchError) -> T {
        var parser = BinaryValueParser(bytes: Array(bytes), maxDepth: maxDepth)
        let value = try parser.parseValue(depth: 0)
        guard parser.position == parser.bytes.count else {
            throw .invalidValueEncoding(
                reason: "\(parser.bytes.count - parser.position) bytes follow the encoded value at offset \(parser.position)")
        }
        do {
            return try BinaryDecoderImpl.decode(T.self, from: value, codingPath: [])
        } catch let e as LarchError {
            throw e
        } catch {
            throw .invalidValueEncoding(reason: "decoding a \(T.self) failed: \(error)")
        }
    }
}

// MARK: - Parsing

/// One parsed value.
indirect enum BinaryValue {
    case null
    case bool(Bool)
    case some(BinaryValue)
    case unsigned(UInt64)
    /// A negative integer `-1 - magnitude`.
    case negative(UInt64)
    case float(Float)
    case double(Double)
    case string(String)
    case bytes([UInt8])
    case array([BinaryValue])
    case keyed(keys: [BinaryCodingKey], values: [BinaryCodingKey: BinaryValue])

    var kind: String {
        switch self {
        case .null: return "nil"
        case .bool: return "a Bool"
        case .some: return "an Optional holding an Optional"
        case .unsigned, .negative: return "an integer"
        case .float: return "a Float"
        case .double: return "a Double"
        case .string: return "a String"
        case .bytes: return "bytes"
        case .array: return "an array (unkeyed container)"
        case .keyed: return "a keyed container"
        }
    }
}

struct BinaryValueParser {
    let bytes: [UInt8]
    let maxDepth: Int
    var position = 0

    init(bytes: [UInt8], maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    var remaining: Int { bytes.count - position }

    mutating func byte() throws(LarchError) -> UInt8 {
        guard position < bytes.count else {
            throw .invalidValueEncoding(reason: "the value ends at offset \(position) where another byte was expected")
        }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func read(_ count: Int) throws(LarchError) -> ArraySlice<UInt8> {
        guard count <= remaining else {
            throw .invalidValueEncoding(reason: "\(count) bytes are expected from offset \(position) but only \(remaining) remain")
        }
        defer { position += count }
        return bytes[position..<position + count]
    }

    /// A minimal LEB128 varint of at most 10 bytes.
    mutating func varint() throws(LarchError) -> UInt64 {
        let start = position
        var v: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try byte()
            guard shift < 63 || b <= 1 else {
                throw .invalidValueEncoding(reason: "the varint at offset \(start) does not fit 64 bits")
            }
            v |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 {
                guard b != 0 || shift == 0 else {
                    throw .invalidValueEncoding(reason: "the varint at offset \(start) is not minimal (it ends with a zero byte)")
                }
                return v
            }
            shift += 7
        }
    }

    /// A length or count that at least `minBytesEach` bytes each of the rest of the input must hold.
    mutating func count(minBytesEach: Int, what: String) throws(LarchError) -> Int {
        let at = position
        let n = try varint()
        guard n <= UInt64(remaining / minBytesEach) else {
            throw .invalidValueEncoding(
                reason: "the \(what) at offset \(at) is \(n), more than the \(remaining) bytes left can hold")
        }
        return Int(n)
    }

    mutating func utf8String(_ count: Int, at: Int) throws(LarchError) -> String {
        guard let s = String(validating: try read(count), as: UTF8.self) else {
            throw .invalidValueEncoding(reason: "the string at offset \(at) is not valid UTF-8")
        }
        return s
    }

    mutating func parseValue(depth: Int) throws(LarchError) -> BinaryValue {
        guard depth <= maxDepth else {
            throw .invalidValueEncoding(reason: "the value at offset \(position) nests deeper than maxDepth \(maxDepth)")
        }
        let at = position
        let tag = try byte()
        switch tag {
        case BinaryValueTag.null: return .null
        case BinaryValueTag.false: return .bool(false)
        case BinaryValueTag.true: return .bool(true)
        case BinaryValueTag.some: return .some(try parseValue(depth: depth + 1))
        case BinaryValueTag.unsigned:
            let v = try varint()
            guard v >= 0x80 else {
                throw .invalidValueEncoding(reason: "the integer \(v) at offset \(at) must be written in its tag byte")
            }
            return .unsigned(v)
        case BinaryValueTag.negative: return .negative(try varint())
        case BinaryValueTag.float32:
            var b: UInt32 = 0
            for (i, x) in try read(4).enumerated() { b |= UInt32(x) << (8 * UInt32(i)) }
            return .float(Float(bitPattern: b))
        case BinaryValueTag.float64:
            var b: UInt64 = 0
            for (i, x) in try read(8).enumerated() { b |= UInt64(x) << (8 * UInt64(i)) }
            return .double(Double(bitPattern: b))
        case BinaryValueTag.string:
            let n = try count(minBytesEach: 1, what: "string length")
            return .string(try utf8String(n, at: at))
        case BinaryValueTag.bytes:
            let n = try count(minBytesEach: 1, what: "byte count")
            return .bytes(Array(try read(n)))
        case BinaryValueTag.array:
            let n = try count(minBytesEach: 1, what: "element count")
            var items: [BinaryValue] = []
            items.reserveCapacity(n)
            for _ in 0..<n { items.append(try parseValue(depth: depth + 1)) }
            return .array(items)
        case BinaryValueTag.keyed:
            let n = try count(minBytesEach: 2, what: "key count")
            var keys: [BinaryCodingKey] = []
            var values: [BinaryCodingKey: BinaryValue] = [:]
            keys.reserveCapacity(n)
            var previous: ArraySlice<UInt8> = []
            for i in 0..<n {
                let keyStart = position
                let key = try parseKey()
                let keyBytes = bytes[keyStart..<position]
                guard i == 0 || previous.lexicographicallyPrecedes(keyBytes) else {
                    throw .invalidValueEncoding(
                        reason: "the key at offset \(keyStart) does not follow the previous one in byte order (keys are sorted and unique)")
                }
                previous = keyBytes
                keys.append(key)
                values[key] = try parseValue(depth: depth + 1)
            }
            return .keyed(keys: keys, values: values)
        case BinaryValueTag.smallIntBase...:
            return .unsigned(UInt64(tag - BinaryValueTag.smallIntBase))
        default:
            throw .invalidValueEncoding(reason: "byte \(hexByte(tag)) at offset \(at) is not a value tag")
        }
    }

    mutating func parseKey() throws(LarchError) -> BinaryCodingKey {
        let at = position
        let h = try varint()
        if h & 1 == 0 {
            guard h >> 1 <= UInt64(remaining) else {
                throw .invalidValueEncoding(reason: "the key at offset \(at) is \(h >> 1) bytes long, more than the \(remaining) bytes left")
            }
            return .string(try utf8String(Int(h >> 1), at: at))
        }
        guard h == 1 else {
            throw .invalidValueEncoding(reason: "the key header \(h) at offset \(at) is neither a string length (even) nor 1 (an integer key)")
        }
        let z = try varint()
        let v = Int64(bitPattern: (z >> 1) ^ (0 &- (z & 1)))
        guard let i = Int(exactly: v) else {
            throw .invalidValueEncoding(reason: "the integer key \(v) at offset \(at) does not fit this platform's Int")
        }
        return .int(i)
    }
}

// MARK: - Decoder

func valueError(_ path: [any CodingKey], expected: String, found value: BinaryValue) -> LarchError {
    .invalidValueEncoding(reason: "\(describePath(path)) should be \(expected) but is \(value.kind)")
}

enum ScalarDecoding {
    static func bool(_ v: BinaryValue, _ path: [any CodingKey]) throws(LarchError) -> Bool {
        guard case let .bool(b) = v else { throw valueError(path, expected: "a Bool", found: v) }
        return b
    }

    static func string(_ v: BinaryValue, _ path: [any CodingKey]) throws(LarchError) -> String {
        guard case let .string(s) = v else { throw valueError(path, expected: "a String", found: v) }
        return s
    }

    static func float(_ v: BinaryValue, _ path: [any CodingKey]) throws(LarchError) -> Float {
        guard case let .float(f) = v else { throw valueError(path, expected: "a Float", found: v) }
        return f
    }

    /// A `Double`, or a `Float` widened (exactly).
    static func double(_ v: BinaryValue, _ path: [any CodingKey]) throws(LarchError) -> Double {
        switch v {
        case let .double(d): return d
        case let .float(f): return Double(f)
        default: throw valueError(path, expected: "a Double", found: v)
        }
    }

    static func integer<T: FixedWidthInteger>(_ v: BinaryValue, _ path: [any CodingKey]) throws(LarchError) -> T {
        switch v {
        case let .unsigned(u):
            guard let x = T(exactly: u) else {
                throw .invalidValueEncoding(reason: "\(describePath(path)) is \(u), which does not fit \(T.self)")
            }
            return x
        case let .negative(m):
            guard T.isSigned, let x = T(exactly: m) else {
                throw .invalidValueEncoding(reason: "\(describePath(path)) is -\(m) - 1, which does not fit \(T.self)")
            }
            return -1 - x
        default:
            throw valueError(path, expected: "an integer (\(T.self))", found: v)
        }
    }
}

struct BinaryDecoderImpl: Decoder {
    let value: BinaryValue
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    static func decode<T: Decodable>(_ type: T.Type, from value: BinaryValue, codingPath: [any CodingKey]) throws -> T {
        if T.self == [UInt8].self, case let .bytes(b) = value, let t = b as? T { return t }
        return try T(from: BinaryDecoderImpl(value: value, codingPath: codingPath))
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case let .keyed(keys, values) = value else {
            throw valueError(codingPath, expected: "a keyed container (\(Key.self))", found: value)
        }
        return KeyedDecodingContainer(BinaryKeyedDecoder<Key>(keys: keys, values: values, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case let .array(items) = value else {
            throw valueError(codingPath, expected: "an array (unkeyed container)", found: value)
        }
        return BinaryUnkeyedDecoder(items: items, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { BinarySingleValueDecoder(value: value, codingPath: codingPath) }
}

struct BinarySingleValueDecoder: SingleValueDecodingContainer {
    let value: BinaryValue
    let codingPath: [any CodingKey]

    func decodeNil() -> Bool { if case .null = value { return true } else { return false } }
    func decode(_ type: Bool.Type) throws -> Bool { try ScalarDecoding.bool(value, codingPath) }
    func decode(_ type: String.Type) throws -> String { try ScalarDecoding.string(value, codingPath) }
    func decode(_ type: Double.Type) throws -> Double { try ScalarDecoding.double(value, codingPath) }
    func decode(_ type: Float.Type) throws -> Float { try ScalarDecoding.float(value, codingPath) }
    func decode(_ type: Int.Type) throws -> Int { try ScalarDecoding.integer(value, codingPath) }
    func decode(_ type: Int8.Type) throws -> Int8 { try ScalarDecoding.integer(value, codingPath) }
    func decode(_ type: Int16.Type) throws -> Int16 { try ScalarDecoding.integer(value, codingPath) }
    func decode(_ type: Int32.Type) throws -> Int32 { try ScalarDecoding.integer(value, codingPath) }
    func decode(_ type: Int64.Type) throws -> Int64 { try ScalarDecoding.integer(value, codingPath) }
    func decode(_ type: UInt.Type) throws -> UInt { try ScalarDecoding.integer(value, codingPath) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try ScalarDecoding.integer(value, codingPath) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try ScalarDecoding.integer(value, codingPath) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try ScalarDecoding.integer(value, codingPath) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try ScalarDecoding.integer(value, codingPath) }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        // An Optional's init(from:) asking for the Optional it wraps: unwrap the marker.
        if T.self is any BinaryOptionalMarker.Type, case let .some(inner) = value {
            return try BinaryDecoderImpl.decode(T.self, from: inner, codingPath: codingPath)
        }
        return try BinaryDecoderImpl.decode(T.self, from: value, codingPath: codingPath)
    }
}

struct BinaryKeyedDecoder<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let keys: [BinaryCodingKey]
    let values: [BinaryCodingKey: BinaryValue]
    let codingPath: [any CodingKey]

    var allKeys: [Key] {
        keys.compactMap { k in
            switch k {
            case let .string(s): return Key(stringValue: s)
            case let .int(i): return Key(intValue: i) ?? Key(stringValue: String(i))
            }
        }
    }

    func contains(_ key: Key) -> Bool { values[BinaryCodingKey(key)] != nil }

    private func value(_ key: Key) throws(LarchError) -> BinaryValue {
        guard let v = values[BinaryCodingKey(key)] else {
            throw .invalidValueEncoding(reason: "\(describePath(codingPath + [key])) is missing (no key \"\(key.stringValue)\")")
        }
        return v
    }

    func decodeNil(forKey key: Key) throws -> Bool { if case .null = try value(key) { return true } else { return false } }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try ScalarDecoding.bool(try value(key), codingPath + [key]) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try ScalarDecoding.string(try value(key), codingPath + [key]) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try ScalarDecoding.double(try value(key), codingPath + [key]) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try ScalarDecoding.float(try value(key), codingPath + [key]) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try ScalarDecoding.integer(try value(key), codingPath + [key]) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try ScalarDecoding.integer(try value(key), codingPath + [key]) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try ScalarDecoding.integer(try value(key), codingPath + [key]) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try ScalarDecoding.integer(try value(key), codingPath + [key]) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try ScalarDecoding.integer(try value(key), codingPath + [key]) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try ScalarDecoding.integer(try value(key), codingPath + [key]) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try ScalarDecoding.integer(try value(key), codingPath + [key]) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try ScalarDecoding.integer(try value(key), codingPath + [key]) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try ScalarDecoding.integer(try value(key), codingPath + [key]) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try ScalarDecoding.integer(try value(key), codingPath + [key]) }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try BinaryDecoderImpl.decode(T.self, from: try value(key), codingPath: codingPath + [key])
    }

    /// Absent → nil; for an Optional `T`, a present nil is `.some(nil)` (so `Int??` round-trips);
    /// otherwise a present nil is nil.
    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let v = values[BinaryCodingKey(key)] else { return nil }
        if case .null = v, !(T.self is any BinaryOptionalMarker.Type) { return nil }
        return try BinaryDecoderImpl.decode(T.self, from: v, codingPath: codingPath + [key])
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try BinaryDecoderImpl(value: try value(key), codingPath: codingPath + [key]).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try BinaryDecoderImpl(value: try value(key), codingPath: codingPath + [key]).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        let k = BinaryCodingKey.string("super")
        return BinaryDecoderImpl(value: values[k] ?? .null, codingPath: codingPath + [AnyBinaryKey.super])
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        BinaryDecoderImpl(value: values[BinaryCodingKey(key)] ?? .null, codingPath: codingPath + [key])
    }
}

struct BinaryUnkeyedDecoder: UnkeyedDecodingContainer {
    let items: [BinaryValue]
    let codingPath: [any CodingKey]
    var currentIndex = 0

    init(items: [BinaryValue], codingPath: [any CodingKey]) {
        self.items = items
        self.codingPath = codingPath
    }

    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    private var path: [any CodingKey] { codingPath + [AnyBinaryKey(intValue: currentIndex)] }

    private mutating func next() throws(LarchError) -> BinaryValue {
        guard currentIndex < items.count else {
            throw .invalidValueEncoding(reason: "\(describePath(codingPath)) has \(items.count) elements, and element \(currentIndex) was asked for")
        }
        defer { currentIndex += 1 }
        return items[currentIndex]
    }

    mutating func decodeNil() throws -> Bool {
        guard currentIndex < items.count else { _ = try next(); return false }
        if case .null = items[currentIndex] { currentIndex += 1; return true }
        return false
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { let p = path; return try ScalarDecoding.bool(try next(), p) }
    mutating func decode(_ type: String.Type) throws -> String { let p = path; return try ScalarDecoding.string(try next(), p) }
    mutating func decode(_ type: Double.Type) throws -> Double { let p = path; return try ScalarDecoding.double(try next(), p) }
    mutating func decode(_ type: Float.Type) throws -> Float { let p = path; return try ScalarDecoding.float(try next(), p) }
    mutating func decode(_ type: Int.Type) throws -> Int { let p = path; return try ScalarDecoding.integer(try next(), p) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { let p = path; return try ScalarDecoding.integer(try next(), p) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { let p = path; return try ScalarDecoding.integer(try next(), p) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { let p = path; return try ScalarDecoding.integer(try next(), p) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { let p = path; return try ScalarDecoding.integer(try next(), p) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { let p = path; return try ScalarDecoding.integer(try next(), p) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { let p = path; return try ScalarDecoding.integer(try next(), p) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { let p = path; return try ScalarDecoding.integer(try next(), p) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { let p = path; return try ScalarDecoding.integer(try next(), p) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { let p = path; return try ScalarDecoding.integer(try next(), p) }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let p = path
        return try BinaryDecoderImpl.decode(T.self, from: try next(), codingPath: p)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let p = path
        return try BinaryDecoderImpl(value: try next(), codingPath: p).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let p = path
        return try BinaryDecoderImpl(value: try next(), codingPath: p).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        let p = path
        return BinaryDecoderImpl(value: try next(), codingPath: p)
    }
}

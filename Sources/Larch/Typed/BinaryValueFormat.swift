/// The pieces of the compact binary value encoding (`LarchBinaryEncoder`, `LarchBinaryDecoder`)
/// that both sides share: the tags, varints and map keys. The layout is described in
/// docs/FORMAT.md §19.
enum BinaryValueTag {
    static let null: UInt8 = 0x00
    static let `false`: UInt8 = 0x01
    static let `true`: UInt8 = 0x02
    /// An `Optional` holding another `Optional`; the held value follows.
    static let some: UInt8 = 0x03
    /// An integer >= 128, as a varint.
    static let unsigned: UInt8 = 0x04
    /// A negative integer `v`, as the varint of `-1 - v`.
    static let negative: UInt8 = 0x05
    static let float32: UInt8 = 0x06
    static let float64: UInt8 = 0x07
    static let string: UInt8 = 0x08
    static let bytes: UInt8 = 0x09
    static let array: UInt8 = 0x0A
    static let keyed: UInt8 = 0x0B
    /// 0x80 ... 0xFF: the integers 0 ... 127 in the tag byte itself.
    static let smallIntBase: UInt8 = 0x80
}

/// A key of a keyed container as stored: the coding key's `intValue` when it has one and its
/// `stringValue` is that integer in decimal (a `[Int: _]` key), else its `stringValue` (so that
/// the `[String: _]` key "012", whose coding key also has the `intValue` 12, stays "012").
enum BinaryCodingKey: Hashable {
    case string(String)
    case int(Int)

    init(_ key: some CodingKey) {
        if let i = key.intValue, key.stringValue == String(i) { self = .int(i) } else { self = .string(key.stringValue) }
    }

    /// The key as stored: a varint `h`; for an even `h` a UTF-8 string of `h >> 1` bytes follows,
    /// for `h == 1` an integer as a zigzag varint (other odd values are invalid).
    func write(to out: inout [UInt8]) {
        switch self {
        case let .string(s):
            appendVarint(UInt64(s.utf8.count) << 1, to: &out)
            out.append(contentsOf: s.utf8)
        case let .int(i):
            let v = Int64(i)
            let zigzag = UInt64(bitPattern: (v << 1) ^ (v >> 63))
            out.append(1)
            appendVarint(zigzag, to: &out)
        }
    }

    var stringValue: String {
        switch self {
        case let .string(s): return s
        case let .int(i): return String(i)
        }
    }

    /// A `CodingKey` to report in coding paths.
    var codingKey: AnyBinaryKey { AnyBinaryKey(self) }
}

/// A `CodingKey` for paths and for `superEncoder()`.
struct AnyBinaryKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue; intValue = nil }
    init(intValue: Int) { stringValue = String(intValue); self.intValue = intValue }
    init(_ key: BinaryCodingKey) {
        switch key {
        case let .string(s): self.init(stringValue: s)
        case let .int(i): self.init(intValue: i)
        }
    }
    static let `super` = AnyBinaryKey(stringValue: "super")
}

/// LEB128: 7 bits a byte, least significant first, the top bit set on every byte but the last.
func appendVarint(_ value: UInt64, to out: inout [UInt8]) {
    var v = value
    while v >= 0x80 {
        out.append(UInt8(truncatingIfNeeded: v) | 0x80)
        v >>= 7
    }
    out.append(UInt8(v))
}

/// Marks `Optional` so that the coders can tell an optional type from others at run time.
protocol BinaryOptionalMarker {}
extension Optional: BinaryOptionalMarker {}

/// `"a.b[2]"` for a coding path, for error messages.
func describePath(_ path: [any CodingKey]) -> String {
    if path.isEmpty { return "the top-level value" }
    var s = ""
    for k in path {
        if let i = k.intValue, k.stringValue == String(i) { s += "[\(i)]" } else { s += s.isEmpty ? k.stringValue : "." + k.stringValue }
    }
    return "\"\(s)\""
}

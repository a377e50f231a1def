/// Reads encoded key bytes front to back, for `OrderedKey.decodeKey(from:)`. Every read checks
/// its bounds and throws `LarchError.invalidKeyEncoding` instead of trapping.
public struct KeyReader: Sendable {
    @usableFromInline let bytes: [UInt8]
    /// The offset of the next byte to read.
    public private(set) var position: Int = 0

    /// A reader positioned at the first of `bytes`.
    public init(_ bytes: some Collection<UInt8>) { self.bytes = Array(bytes) }

    /// Whether every byte has been read.
    public var isAtEnd: Bool { position >= bytes.count }

    /// The number of bytes not read yet.
    public var remaining: Int { bytes.count - position }

    /// Reads one byte.
    public mutating func readByte() throws(LarchError) -> UInt8 {
        guard position < bytes.count else {
            throw LarchError.invalidKeyEncoding(reason: "the key ends at offset \(position) where another byte was expected")
        }
        defer { position += 1 }
        return bytes[position]
    }

    /// Reads the next `count` bytes.
    public mutating func read(count: Int) throws(LarchError) -> ArraySlice<UInt8> {
        guard count >= 0, count <= remaining else {
            throw LarchError.invalidKeyEncoding(
                reason: "the key ends at offset \(bytes.count) but \(count) bytes were expected from offset \(position)")
        }
        defer { position += count }
        return bytes[position..<position + count]
    }

    /// Reads a sequence written by `appendEscapedKeyBytes`: every 0x00 was written as 0x00 0xFF and
    /// the end as 0x00 0x00.
    mutating func readEscaped() throws(LarchError) -> [UInt8] {
        var out: [UInt8] = []
        while true {
            guard let zero = bytes[position...].firstIndex(of: 0) else {
                throw LarchError.invalidKeyEncoding(
                    reason: "a string or byte sequence starting at offset \(position) has no end marker (0x00 0x00)")
            }
            out += bytes[position..<zero]
            position = zero + 1
            let next = try readByte()
            switch next {
            case 0xFF: out.append(0)
            case 0x00: return out
            default:
                throw LarchError.invalidKeyEncoding(
                    reason: "byte 0x00 at offset \(zero) is followed by \(hexByte(next)); in a string or byte sequence it must be followed by 0xFF (an embedded zero byte) or 0x00 (the end)")
            }
        }
    }
}

/// Appends `source` escaped and terminated, so that the result is prefix-free and orders like
/// `source` (bytewise, a proper prefix first) even with more bytes after it: every 0x00 becomes
/// 0x00 0xFF, and 0x00 0x00 marks the end.
///
/// The end marker is two bytes, not one, because elements of a composite key carry no type
/// codes: after a one-byte terminator the next element could start with 0xFF and sort the shorter
/// sequence after a longer one that continues with an escaped zero.
func appendEscapedKeyBytes(_ source: some Sequence<UInt8>, to bytes: inout [UInt8]) {
    for b in source {
        bytes.append(b)
        if b == 0 { bytes.append(0xFF) }
    }
    bytes.append(0)
    bytes.append(0)
}

/// `0xAB` for 0xAB.
func hexByte(_ b: UInt8) -> String {
    let digits = Array("0123456789ABCDEF")
    return "0x" + String(digits[Int(b >> 4)]) + String(digits[Int(b & 0xF)])
}

/// Fixed-width integers encode as their full width, big-endian, with the sign bit flipped for
/// signed types, so that negative numbers sort before zero and positive numbers.
extension OrderedKey where Self: FixedWidthInteger {
    /// Appends `Self.bitWidth / 8` bytes, big-endian, the sign bit flipped for signed types.
    public func encodeKey(into bytes: inout [UInt8]) {
        var u = UInt64(truncatingIfNeeded: self)
        if Self.isSigned { u ^= 1 << UInt64(Self.bitWidth - 1) }
        var shift = Self.bitWidth - 8
        while shift >= 0 {
            bytes.append(UInt8(truncatingIfNeeded: u >> UInt64(shift)))
            shift -= 8
        }
    }

    /// Reads `Self.bitWidth / 8` bytes written by `encodeKey(into:)`.
    public static func decodeKey(from reader: inout KeyReader) throws(LarchError) -> Self {
        var u: UInt64 = 0
        for b in try reader.read(count: Self.bitWidth / 8) { u = u << 8 | UInt64(b) }
        if Self.isSigned { u ^= 1 << UInt64(Self.bitWidth - 1) }
        return Self(truncatingIfNeeded: u)
    }
}

/// 1 byte, the sign bit flipped.
extension Int8: OrderedKey {}
/// 2 bytes, big-endian, the sign bit flipped.
extension Int16: OrderedKey {}
/// 4 bytes, big-endian, the sign bit flipped.
extension Int32: OrderedKey {}
/// 8 bytes, big-endian, the sign bit flipped.
extension Int64: OrderedKey {}
/// 1 byte.
extension UInt8: OrderedKey {}
/// 2 bytes, big-endian.
extension UInt16: OrderedKey {}
/// 4 bytes, big-endian.
extension UInt32: OrderedKey {}
/// 8 bytes, big-endian.
extension UInt64: OrderedKey {}

/// Encodes exactly as `Int64` (8 bytes on every platform), so keys written by `Int` and `Int64`
/// are interchangeable.
extension Int: OrderedKey {
    /// Appends the `Int64` encoding of this value.
    public func encodeKey(into bytes: inout [UInt8]) { Int64(self).encodeKey(into: &bytes) }

    /// Reads an `Int64` encoding; throws if the value does not fit this platform's `Int`.
    public static func decodeKey(from reader: inout KeyReader) throws(LarchError) -> Int {
        let v = try Int64.decodeKey(from: &reader)
        guard let i = Int(exactly: v) else {
            throw LarchError.invalidKeyEncoding(reason: "the Int key \(v) does not fit this platform's Int")
        }
        return i
    }
}

/// Encodes exactly as `UInt64` (8 bytes on every platform), so keys written by `UInt` and `UInt64`
/// are interchangeable.
extension UInt: OrderedKey {
    /// Appends the `UInt64` encoding of this value.
    public func encodeKey(into bytes: inout [UInt8]) { UInt64(self).encodeKey(into: &bytes) }

    /// Reads a `UInt64` encoding; throws if the value does not fit this platform's `UInt`.
    public static func decodeKey(from reader: inout KeyReader) throws(LarchError) -> UInt {
        let v = try UInt64.decodeKey(from: &reader)
        guard let u = UInt(exactly: v) else {
            throw LarchError.invalidKeyEncoding(reason: "the UInt key \(v) does not fit this platform's UInt")
        }
        return u
    }
}

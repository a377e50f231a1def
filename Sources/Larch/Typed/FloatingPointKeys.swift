/// 8 bytes: the IEEE 754 bits, all inverted for negative numbers and with the sign bit set for
/// positive ones, so that keys order as the numbers do (`-infinity` first).
///
/// Two values need a rule, and follow Swift's `==` and `Hashable`:
/// - `-0.0` encodes as `+0.0` (they are `==`), so it decodes as `+0.0`.
/// - Every NaN encodes as the one canonical `Double.nan`, which sorts after `+infinity`; its sign
///   and payload are not kept.
///
/// Decoding rejects the encodings of `-0.0` and of other NaNs, which `encodeKey` never writes, so
/// each key stands for one value. A `Date` key can be stored as its `timeIntervalSinceReferenceDate`.
extension Double: OrderedKey {
    /// Appends the 8-byte order-preserving encoding (see the type's note on -0.0 and NaN).
    public func encodeKey(into bytes: inout [UInt8]) {
        let v: Double = isNaN ? .nan : (self == 0 ? 0 : self)
        let bits = v.bitPattern
        (bits >> 63 == 1 ? ~bits : bits | 1 << 63).encodeKey(into: &bytes)
    }

    /// Reads 8 bytes written by `encodeKey(into:)`.
    public static func decodeKey(from reader: inout KeyReader) throws(LarchError) -> Double {
        let at = reader.position
        let e = try UInt64.decodeKey(from: &reader)
        let bits = e >> 63 == 1 ? e & ~(1 << 63) : ~e
        let v = Double(bitPattern: bits)
        guard bits != (-0.0 as Double).bitPattern, !v.isNaN || bits == Double.nan.bitPattern else {
            throw LarchError.invalidKeyEncoding(
                reason: "the 8 bytes at offset \(at) encode -0.0 or a non-canonical NaN, which a Double key never holds")
        }
        return v
    }
}

/// 4 bytes, encoded like `Double`: -0.0 as +0.0, every NaN as the canonical `Float.nan` (after
/// `+infinity`).
extension Float: OrderedKey {
    /// Appends the 4-byte order-preserving encoding (see `Double` on -0.0 and NaN).
    public func encodeKey(into bytes: inout [UInt8]) {
        let v: Float = isNaN ? .nan : (self == 0 ? 0 : self)
        let bits = v.bitPattern
        (bits >> 31 == 1 ? ~bits : bits | 1 << 31).encodeKey(into: &bytes)
    }

    /// Reads 4 bytes written by `encodeKey(into:)`.
    public static func decodeKey(from reader: inout KeyReader) throws(LarchError) -> Float {
        let at = reader.position
        let e = try UInt32.decodeKey(from: &reader)
        let bits = e >> 31 == 1 ? e & ~(1 << 31) : ~e
        let v = Float(bitPattern: bits)
        guard bits != (-0.0 as Float).bitPattern, !v.isNaN || bits == Float.nan.bitPattern else {
            throw LarchError.invalidKeyEncoding(
                reason: "the 4 bytes at offset \(at) encode -0.0 or a non-canonical NaN, which a Float key never holds")
        }
        return v
    }
}

/// A value that encodes to key bytes whose order is the value's order.
///
/// For any two values `a` and `b` of a conforming type, `a.encodedKey` sorts before `b.encodedKey`
/// (unsigned bytewise, a proper prefix first — the order of keys in a database) exactly when `a`
/// comes before `b` in the type's key order, and the encodings are equal exactly when the values
/// are. Decoding an encoding gives the value back.
///
/// Every encoding is *prefix-free*: no encoding is a proper prefix of another of the same type.
/// That is what lets encodings be concatenated into composite keys (`KeyTuple2`, `KeyTuple3`,
/// `KeyTuple4`) that order element by element. A custom conformance must keep both properties,
/// for example by encoding its fields one after another with their own `encodeKey(into:)`.
///
/// ```swift
/// let key = KeyTuple2(Int64(42), "alice")
/// try txn.put(value, forKey: key.encodedKey)
/// for (k, _) in try txn.entries(in: db, KeyTuple2<Int64, String>.prefix(42)).collect() {
///     let decoded = try KeyTuple2<Int64, String>(encodedKey: k)
/// }
/// ```
public protocol OrderedKey: Sendable {
    /// Appends this value's order-preserving encoding to `bytes`.
    func encodeKey(into bytes: inout [UInt8])

    /// Reads one value's encoding from `reader`, leaving the reader just after it. Throws
    /// `LarchError.invalidKeyEncoding` when the bytes are not an encoding of this type.
    static func decodeKey(from reader: inout KeyReader) throws(LarchError) -> Self
}

extension OrderedKey {
    /// This value's order-preserving encoding, ready to use as a database key.
    public var encodedKey: [UInt8] {
        var bytes: [UInt8] = []
        encodeKey(into: &bytes)
        return bytes
    }

    /// Decodes a value from a whole key. Throws `LarchError.invalidKeyEncoding` when the bytes are not
    /// exactly one encoding of this type (malformed, cut short, or followed by more bytes).
    public init(encodedKey bytes: some Collection<UInt8>) throws(LarchError) {
        var reader = KeyReader(bytes)
        let value = try Self.decodeKey(from: &reader)
        guard reader.isAtEnd else {
            throw LarchError.invalidKeyEncoding(
                reason: "\(reader.remaining) bytes follow the encoded \(Self.self) at offset \(reader.position)")
        }
        self = value
    }
}

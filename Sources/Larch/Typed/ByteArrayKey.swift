/// The bytes, every 0x00 written as 0x00 0xFF, then 0x00 0x00 as the end: byte strings order
/// lexicographically (a proper prefix first) and compose inside composite keys.
extension Array: OrderedKey where Element == UInt8 {
    /// Appends the escaped bytes and the end marker.
    public func encodeKey(into bytes: inout [UInt8]) { appendEscapedKeyBytes(self, to: &bytes) }

    /// Reads an escaped byte sequence; throws if it is malformed.
    public static func decodeKey(from reader: inout KeyReader) throws(LarchError) -> [UInt8] {
        try reader.readEscaped()
    }
}

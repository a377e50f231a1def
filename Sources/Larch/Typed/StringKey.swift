/// The UTF-8 bytes, every 0x00 written as 0x00 0xFF, then 0x00 0x00 as the end (so strings with
/// embedded NULs sort correctly and strings compose inside composite keys).
///
/// Keys order by **Unicode scalar values** (UTF-8 byte order is scalar order), and two strings are
/// the same key only when their scalars are the same. Swift's `String` `<` and `==` compare by
/// canonical equivalence instead, so they can differ for strings that are not normalized: "é" as
/// one scalar (U+00E9) and as "e" + U+0301 are `==` in Swift but two different keys here.
/// Normalize strings before using them as keys when that matters.
extension String: OrderedKey {
    /// Appends the escaped UTF-8 bytes and the end marker.
    public func encodeKey(into bytes: inout [UInt8]) { appendEscapedKeyBytes(utf8, to: &bytes) }

    /// Reads an escaped string; throws if it is malformed or not valid UTF-8.
    public static func decodeKey(from reader: inout KeyReader) throws(LarchError) -> String {
        let at = reader.position
        let raw = try reader.readEscaped()
        guard let s = String(validating: raw, as: UTF8.self) else {
            throw LarchError.invalidKeyEncoding(reason: "the string starting at offset \(at) is not valid UTF-8")
        }
        return s
    }
}

/// One byte: 0x00 for `false`, 0x01 for `true`, so `false` sorts first.
extension Bool: OrderedKey {
    /// Appends 0x00 or 0x01.
    public func encodeKey(into bytes: inout [UInt8]) { bytes.append(self ? 1 : 0) }

    /// Reads 0x00 or 0x01; any other byte throws.
    public static func decodeKey(from reader: inout KeyReader) throws(LarchError) -> Bool {
        let at = reader.position
        switch try reader.readByte() {
        case 0: return false
        case 1: return true
        case let b:
            throw LarchError.invalidKeyEncoding(reason: "byte \(hexByte(b)) at offset \(at) is not a Bool key (0x00 or 0x01)")
        }
    }
}

/// The byte encodings the CLI reads and writes: lowercase hex (mdb_dump's "bytevalue" format) and
/// mdb_dump's "print" format (printable ASCII as is, a backslash doubled, every other byte as a
/// backslash and two hex digits).
package enum ByteEncoding {
    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// Lowercase hex, two digits per byte.
    package static func hex(_ bytes: some Collection<UInt8>, into out: inout [UInt8]) {
        out.reserveCapacity(out.count + 2 * bytes.count)
        for b in bytes {
            out.append(hexDigits[Int(b >> 4)])
            out.append(hexDigits[Int(b & 0xf)])
        }
    }

    package static func hex(_ bytes: some Collection<UInt8>) -> String {
        var out: [UInt8] = []
        hex(bytes, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// The print encoding. A backslash is written `\\`, or `\5c` with `backslashAsHex`: dumps do that,
    /// because LMDB 0.9's `mdb_load` decodes a line in place and drops the byte of a `\\` that
    /// follows another escape on the same line (`01 41 5c 42` came back as `01 41 31 42`).
    package static func printable(_ bytes: some Collection<UInt8>, into out: inout [UInt8], backslashAsHex: Bool = false) {
        out.reserveCapacity(out.count + bytes.count)
        for b in bytes {
            if b == UInt8(ascii: "\\") && !backslashAsHex {
                out.append(b)
                out.append(b)
            } else if b >= 0x20 && b < 0x7f && b != UInt8(ascii: "\\") {
                out.append(b)
            } else {
                out.append(UInt8(ascii: "\\"))
                out.append(hexDigits[Int(b >> 4)])
                out.append(hexDigits[Int(b & 0xf)])
            }
        }
    }

    package static func printable(_ bytes: some Collection<UInt8>) -> String {
        var out: [UInt8] = []
        printable(bytes, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Bytes from the input, for a message: in double quotes, in the print encoding (so that no byte
    /// reaches the terminal as it is), cut after `limit` bytes with the whole length given.
    package static func quoted(_ bytes: some Collection<UInt8>, limit: Int = 64) -> String {
        guard bytes.count > limit else { return "\"" + printable(bytes) + "\"" }
        return "\"" + printable(bytes.prefix(limit)) + "...\" (\(Formatting.grouped(bytes.count)) bytes)"
    }

    package static func quoted(_ text: String, limit: Int = 64) -> String { quoted(Array(text.utf8), limit: limit) }

    /// Why a text could not be decoded.
    package struct DecodeError: Error, CustomStringConvertible {
        package var description: String
    }

    @inline(__always)
    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// Decodes hex digits (either case).
    package static func decodeHex(_ text: some Collection<UInt8>) throws(DecodeError) -> [UInt8] {
        guard text.count % 2 == 0 else { throw DecodeError(description: "odd number of hex digits (\(text.count))") }
        var out: [UInt8] = []
        out.reserveCapacity(text.count / 2)
        var high: UInt8? = nil
        var position = 0
        for c in text {
            guard let n = nibble(c) else {
                throw DecodeError(description: "'\(printable([c]))' at position \(position + 1) is not a hex digit")
            }
            if let h = high { out.append(h << 4 | n); high = nil } else { high = n }
            position += 1
        }
        return out
    }

    package static func decodeHex(_ text: String) throws(DecodeError) -> [UInt8] { try decodeHex(Array(text.utf8)) }

    /// Decodes the print encoding. Accepts `\\` and `\5c` for a backslash, as mdb_load does.
    package static func decodePrintable(_ text: some Collection<UInt8>) throws(DecodeError) -> [UInt8] {
        let t = Array(text)
        var out: [UInt8] = []
        out.reserveCapacity(t.count)
        var i = 0
        while i < t.count {
            let c = t[i]
            guard c == UInt8(ascii: "\\") else { out.append(c); i += 1; continue }
            if i + 1 < t.count && t[i + 1] == UInt8(ascii: "\\") { out.append(c); i += 2; continue }
            guard i + 2 < t.count, let h = nibble(t[i + 1]), let l = nibble(t[i + 2]) else {
                throw DecodeError(description: "a backslash at position \(i + 1) is not followed by two hex digits or another backslash")
            }
            out.append(h << 4 | l)
            i += 3
        }
        return out
    }
}

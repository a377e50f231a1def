/// Reads a change stream from an input, buffered, keeping the checksum of every byte read.
/// Lengths are checked before anything is read, and data is taken as it arrives, so a damaged
/// length never makes it allocate more than the input holds.
struct ChangeStreamReader {
    private let input: (UnsafeMutableRawBufferPointer) throws -> Int
    private var buffer: [UInt8]
    private var start = 0
    private var end = 0
    private var atEnd = false
    private(set) var crc: UInt32 = 0
    private(set) var bytes: UInt64 = 0

    init(input: @escaping (UnsafeMutableRawBufferPointer) throws -> Int) {
        self.input = input
        buffer = [UInt8](repeating: 0, count: 1 << 20)
    }

    /// Refills the buffer when it is empty; false at the end of the input.
    private mutating func fill() throws -> Bool {
        if start < end { return true }
        guard !atEnd else { return false }
        let n = try buffer.withUnsafeMutableBytes { try input($0) }
        guard n >= 0, n <= buffer.count else { throw LarchError.invalidChangeStream(reason: "the input returned \(n) bytes for a buffer of \(buffer.count)") }
        start = 0
        end = n
        if n == 0 { atEnd = true; return false }
        return true
    }

    /// Exactly `count` bytes; throws when the stream ends first (`what` names them).
    mutating func read(_ count: Int, _ what: String) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(min(count, 1 << 20))
        while out.count < count {
            guard try fill() else {
                throw LarchError.invalidChangeStream(reason: "it ends inside \(what), after \(bytes) bytes (truncated?)")
            }
            let n = min(count - out.count, end - start)
            buffer.withUnsafeBytes { b in
                let chunk = UnsafeRawBufferPointer(rebasing: b[start..<(start + n)])
                crc = CRC32C.checksum(continuing: crc, chunk.baseAddress!, count: n)
                out.append(contentsOf: chunk)
            }
            start += n
            bytes += UInt64(n)
        }
        return out
    }

    mutating func u8(_ what: String) throws -> UInt8 { try read(1, what)[0] }

    mutating func integer<T: FixedWidthInteger>(_ type: T.Type, _ what: String) throws -> T {
        let b = try read(MemoryLayout<T>.size, what)
        return b.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(as: T.self)) }
    }

    /// Whether any byte is left.
    mutating func hasMore() throws -> Bool { try fill() }
}

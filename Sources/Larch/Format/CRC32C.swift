import CLarchSupport

/// CRC32C (Castagnoli), the checksum stored beside every page pointer and in each meta page.
enum CRC32C {
    /// The checksum of `count` bytes at `bytes`.
    @inline(__always)
    static func checksum(_ bytes: UnsafeRawPointer, count: Int) -> UInt32 {
        larch_crc32c(0, bytes, count)
    }

    /// The checksum of the bytes before these followed by `count` bytes at `bytes`, where `crc` is
    /// the checksum of the bytes before.
    @inline(__always)
    static func checksum(continuing crc: UInt32, _ bytes: UnsafeRawPointer, count: Int) -> UInt32 {
        larch_crc32c(crc, bytes, count)
    }

    /// Copies `count` bytes from `source` to `destination` (not overlapping) and returns the
    /// checksum of the bytes before (`crc`) followed by them, reading the source once where it can.
    @inline(__always)
    static func copy(continuing crc: UInt32, to destination: UnsafeMutableRawPointer, from source: UnsafeRawPointer, count: Int) -> UInt32 {
        larch_crc32c_copy(crc, destination, source, count)
    }

    /// The checksum of a buffer.
    static func checksum(_ buffer: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = buffer.baseAddress else { return 0 }
        return larch_crc32c(0, base, buffer.count)
    }

    /// Whether the SSE4.2 / ARMv8 CRC instructions are in use on this machine.
    static var isHardwareAccelerated: Bool { larch_crc32c_is_hardware() != 0 }
}

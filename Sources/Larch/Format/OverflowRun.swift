/// The bytes of an overflow run: a page header (kind, run length, first page number), the value,
/// and zeros to the end of its last page (FORMAT.md §15).
enum OverflowRun {
    /// Writes a run of `pages` pages numbered from `first` holding `value` into `buffer`, and
    /// returns its CRC32C, taken as the buffer is filled so that the value is read once.
    static func write(_ value: UnsafeRawBufferPointer, into buffer: UnsafeMutableRawPointer, pages: Int, first: PageNumber,
                      pageSize: Int) -> UInt32 {
        let total = pages * pageSize
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: PageLayout.headerSize)
        buffer.storeBytes(of: PageKind.overflow.rawValue, toByteOffset: PageLayout.kindOffset, as: UInt8.self)
        buffer.setU32(UInt32(pages), at: PageLayout.runPagesOffset)
        buffer.setU64(first.rawValue, at: PageLayout.pageNumberOffset)
        var crc = CRC32C.checksum(UnsafeRawPointer(buffer), count: OverflowLayout.headerSize)
        if value.count > 0 {
            crc = CRC32C.copy(continuing: crc, to: buffer + OverflowLayout.headerSize, from: value.baseAddress!, count: value.count)
        }
        let used = OverflowLayout.headerSize + value.count
        (buffer + used).initializeMemory(as: UInt8.self, repeating: 0, count: total - used)
        return CRC32C.checksum(continuing: crc, UnsafeRawPointer(buffer + used), count: total - used)
    }

    /// Whether the run at `base` has an overflow header naming `first` and `pages` pages.
    static func hasHeader(_ base: UnsafeRawPointer, first: PageNumber, pages: Int) -> Bool {
        base.load(fromByteOffset: PageLayout.kindOffset, as: UInt8.self) == PageKind.overflow.rawValue
            && base.u64(at: PageLayout.pageNumberOffset) == first.rawValue
            && Int(base.u32(at: PageLayout.runPagesOffset)) == pages
    }

    /// The `length` value bytes of the run at `base`.
    static func value(_ base: UnsafeRawPointer, length: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + OverflowLayout.headerSize, count: length)
    }
}

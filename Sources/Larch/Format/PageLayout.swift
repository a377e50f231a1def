/// The kind of a page, stored in byte 0 of its header.
enum PageKind: UInt8, Sendable {
    /// Page 0 or 1: a meta page (see `MetaPage`).
    case meta = 1
    /// An interior node of a B+ tree: sorted (key, child page, child checksum) cells.
    case branch = 2
    /// A bottom node of a B+ tree: sorted (key, value) cells; large values point to overflow runs.
    case leaf = 3
    /// The first page of a contiguous run holding one large value.
    case overflow = 4
}

/// The fixed layout of tree pages: a 16-byte header, a slot array growing up, cell content growing
/// down from the end of the page.
///
/// ```
/// offset  size  field
///      0     1  kind (PageKind)
///      1     1  flags (reserved, 0)
///      2     2  count: number of cells (branch/leaf); 0 for overflow
///      4     4  contentStart: offset of the lowest cell byte (branch/leaf);
///               for overflow: number of pages in the run
///      8     8  pageNumber: the page's own number (catches misdirected writes)
///     16   2×n  slot array: u16 offset of each cell, in key order
///      …        free space
/// contentStart  cells, packed without gaps up to the end of the page
/// ```
///
/// Invariant of every branch and leaf page: `16 + 2 × count ≤ contentStart ≤ pageSize`, and the
/// cells are packed: their sizes add up to `pageSize − contentStart`.
enum PageLayout {
    static let headerSize = 16
    static let slotSize = 2

    static let kindOffset = 0
    static let flagsOffset = 1
    static let countOffset = 2
    static let contentStartOffset = 4
    static let runPagesOffset = 4
    static let pageNumberOffset = 8

    /// Page sizes a file may use: powers of two from 4 KiB to 64 KiB.
    static let minPageSize = 4096
    static let maxPageSize = 65536
    /// Every valid page size, smallest first.
    static let validPageSizes = [4096, 8192, 16384, 32768, 65536]
    static func isValidPageSize(_ size: Int) -> Bool {
        size >= minPageSize && size <= maxPageSize && size & (size - 1) == 0
    }
}

/// A leaf cell: one key and its value, or a reference to the overflow run holding the value.
///
/// ```
/// offset  size  field
///      0     2  flags: bit 0 = value is in an overflow run; bit 1 = the value is the 56-byte
///               `TreeRoot` of the key's duplicate tree (sorted-duplicates databases, FORMAT.md §20)
///      2     2  keyLength
///      4     4  valueLength (the full value length, inline or not)
///      8     k  key bytes
///    8+k     v  inline: the value bytes
///    8+k    20  overflow: u64 first page of the run, u32 CRC32C of the whole run, u64 the
///               transaction that wrote the run (its birth)
/// ```
enum LeafCell {
    static let headerSize = 8
    static let overflowReferenceSize = 20
    /// Offsets within an overflow reference (after the key).
    static let referenceChecksumOffset = 8
    static let referenceBirthOffset = 12
    static let flagOverflow: UInt16 = 1
    /// The inline value is the `TreeRoot` of a duplicate tree (FORMAT.md §20).
    static let flagDuplicateTree: UInt16 = 2

    @inline(__always)
    static func size(keyLength: Int, valueLength: Int, overflow: Bool) -> Int {
        headerSize + keyLength + (overflow ? overflowReferenceSize : valueLength)
    }
}

/// A branch cell: a separator key and the child page holding keys `≥` it (and `<` the next
/// cell's key). The first cell's key is empty and stands for "everything below the second key".
///
/// ```
/// offset  size  field
///      0     8  child page number
///      8     4  CRC32C of the child page, as written
///     12     2  keyLength
///     14     2  reserved, 0
///     16     8  birth: the transaction that wrote the child page
///     24     k  key bytes
/// ```
enum BranchCell {
    static let headerSize = 24
    static let birthOffset = 16
    @inline(__always)
    static func size(keyLength: Int) -> Int { headerSize + keyLength }

    /// The key length of the branch cell at `p`.
    @inline(__always)
    static func keyLength(at p: UnsafeRawPointer) -> Int { Int(p.u16(at: 12)) }

    /// The child page and recorded checksum of the branch cell at `p`.
    @inline(__always)
    static func child(at p: UnsafeRawPointer) -> (page: PageNumber, checksum: UInt32) { (PageNumber(p.u64(at: 0)), p.u32(at: 8)) }

    /// The whole child pointer of the branch cell at `p`: page, checksum and birth.
    @inline(__always)
    static func pointer(at p: UnsafeRawPointer) -> ChildPointer {
        ChildPointer(page: PageNumber(p.u64(at: 0)), checksum: p.u32(at: 8), birth: TransactionID(p.u64(at: birthOffset)))
    }

    /// The key bytes of the branch cell at `p`.
    @inline(__always)
    static func key(at p: UnsafeRawPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: p + headerSize, count: keyLength(at: p))
    }
}

/// The header at the start of an overflow run; the value bytes follow it and run on through the
/// following pages of the run. Unused bytes at the end of the last page are zero.
enum OverflowLayout {
    static let headerSize = PageLayout.headerSize

    /// Pages needed for a value of `valueLength` bytes.
    @inline(__always)
    static func pageCount(valueLength: Int, pageSize: Int) -> Int {
        (headerSize + valueLength + pageSize - 1) / pageSize
    }
}

/// Size limits that follow from the page size.
struct PageLimits: Sendable {
    let pageSize: Int

    /// Bytes usable by slots and cells.
    var usable: Int { pageSize - PageLayout.headerSize }

    /// The largest key: a quarter page (1,024 bytes at 4 KiB pages, 16,384 at 64 KiB).
    var maxKeySize: Int { pageSize / 4 }

    /// The largest leaf cell (plus slot) kept inline. Larger values go to overflow runs.
    /// Half the usable space, so any two cells fit in one page and a split always succeeds.
    var maxInlineCell: Int { usable / 2 }

    /// The largest value: about 4 GiB (the value length is a 32-bit field).
    static let maxValueSize = Int(UInt32.max) - PageLayout.headerSize

    /// Whether a value of `valueLength` stays inline with a key of `keyLength` bytes.
    @inline(__always)
    func isInline(keyLength: Int, valueLength: Int) -> Bool {
        LeafCell.size(keyLength: keyLength, valueLength: valueLength, overflow: false) + PageLayout.slotSize
            <= maxInlineCell
    }

    /// A page below this many used bytes is rebalanced after a delete (a quarter of the page).
    var underfullThreshold: Int { usable / 4 }
}

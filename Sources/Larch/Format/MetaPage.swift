/// The content of a meta page (pages 0 and 1). The current state of the file is the valid meta
/// with the higher transaction id whose commit is whole (CRASH-SAFETY.md): a commit writes the slot
/// that does not hold the last durable meta, and syncs once.
///
/// ```
/// offset  size  field
///      0     8  magic "LARCHDB\0"
///      8     4  format version (4)
///     12     4  page size in bytes
///     16     8  transaction id of the newest commit this meta describes
///     24     8  page count: pages 0 ..< pageCount are in use or free; the file holds at least these
///     32    56  main tree: the default (unnamed) database         (TreeRoot)
///     88    56  catalog tree: named databases, name → TreeRoot      (TreeRoot)
///    144    56  free tree: (txn id, first page) → free page extents (TreeRoot)
///    200    56  snapshots tree: named snapshots and the pages only they reach (TreeRoot)
///    256     8  durable base: a transaction whose state was durable before this meta was written;
///               every page born after it was written by the commits this meta completes
///    264     4  n: entries in the meta's free list (at most `maxFreeListEntries`, 191)
///    268     4  CRC32C of bytes 0 ..< 268, then of bytes 272 ..< 272 + 20n
///    272   20n  the meta's free list (`FreeListEntry`): the newest free extents, so that a small
///               commit changes no free-tree page
///      …     …  zero to the end of the page
/// ```
struct MetaPage: Equatable, Sendable {
    static let magic: [UInt8] = Array("LARCHDB\0".utf8)
    static let formatVersion: UInt32 = 4
    static let freeListCountOffset = 264
    static let checksumOffset = 268
    static let freeListOffset = 272
    /// The most entries the meta's free list holds, whatever the page size (it fits the smallest page).
    static let maxFreeListEntries = (PageLayout.minPageSize - freeListOffset) / FreeListEntry.encodedSize
    /// The most bytes a meta occupies: what must be read to decode one.
    static let maxEncodedSize = freeListOffset + maxFreeListEntries * FreeListEntry.encodedSize

    var pageSize: Int
    var txnID: TransactionID
    var pageCount: UInt64
    var main: TreeRoot
    var catalog: TreeRoot
    var free: TreeRoot
    /// Named snapshots, and the dead extents: pages only snapshots reach (`SnapshotKey`).
    var snapshots: TreeRoot = .empty
    /// Pages born after this transaction are the ones the open-time check verifies.
    var durableBase: TransactionID
    /// Free extents kept in the meta rather than in the free tree, sorted by transaction, then
    /// page (FORMAT.md §4.1). At most `maxFreeListEntries`.
    var freeList: [FreeListEntry] = []

    /// Why a meta page could not be used.
    enum DecodeFailure: Error, Equatable, CustomStringConvertible {
        case badMagic
        case unsupportedVersion(UInt32)
        case badPageSize(UInt32)
        case checksumMismatch(expected: UInt32, found: UInt32)
        case truncated(requiredBytes: Int, fileSize: Int)
        /// Page 1 records another page size than page 0 (FORMAT.md §13: it is then invalid).
        case pageSizeMismatch(found: Int, expected: Int)
        /// The durable base is not older than the meta's own transaction (or the counts are impossible).
        case badDurableBase(UInt64)
        /// The meta's free list is malformed (too many entries, an extent outside the pages in use,
        /// a transaction newer than the meta's).
        case badFreeList(String)
        /// A tree descriptor, the transaction id or the page count cannot be (FORMAT.md §4).
        case implausible(String)

        var description: String {
            switch self {
            case .badMagic: return "no Larch magic number"
            case .unsupportedVersion(let v): return "format version \(v) (this build reads version \(MetaPage.formatVersion))"
            case .badPageSize(let s): return "invalid page size \(s)"
            case .checksumMismatch(let e, let f): return "checksum mismatch: stored \(hex32(e)), computed \(hex32(f))"
            case .badDurableBase(let b): return "durable base \(b) is not older than the meta's transaction"
            case .badFreeList(let why): return "its free list is malformed: \(why)"
            case .implausible(let why): return "it records \(why)"
            case .truncated(let required, let size): return "it needs \(required) bytes but the file has only \(size)"
            case .pageSizeMismatch(let found, let expected): return "page size \(found), but page 0 records \(expected)"
            }
        }
    }

    init(pageSize: Int, txnID: TransactionID, pageCount: UInt64, main: TreeRoot, catalog: TreeRoot, free: TreeRoot,
         durableBase: TransactionID) {
        self.durableBase = durableBase
        self.pageSize = pageSize
        self.txnID = txnID
        self.pageCount = pageCount
        self.main = main
        self.catalog = catalog
        self.free = free
    }

    /// The first two pages of a new, empty database: the metas of transactions 0 and 1.
    static func initialPages(pageSize: Int) -> [UInt8] {
        var pages = [UInt8](repeating: 0, count: 2 * pageSize)
        pages.withUnsafeMutableBytes { b in
            for slot in 0..<2 {
                MetaPage(pageSize: pageSize, txnID: TransactionID(UInt64(slot)), pageCount: 2, main: .empty, catalog: .empty, free: .empty,
                         durableBase: TransactionID(UInt64(slot)))
                    .encode(to: b.baseAddress! + slot * pageSize)
            }
        }
        return pages
    }

    /// Decodes the meta at the start of `bytes` (at least `maxEncodedSize` of them).
    static func decode(_ bytes: [UInt8]) -> Result<MetaPage, DecodeFailure> {
        precondition(bytes.count >= maxEncodedSize)
        return bytes.withUnsafeBytes { decode($0.baseAddress!) }
    }

    /// Writes this meta as the page at `page` (`pageSize` bytes): the meta, then zeros.
    func encodePage(at page: UnsafeMutableRawPointer, pageSize: Int) {
        page.initializeMemory(as: UInt8.self, repeating: 0, count: pageSize)
        encode(to: page)
    }

    /// The checksum a meta at `p` should carry: bytes `0 ..< 268`, then its `n` free-list entries
    /// (`n` read from the meta, at most `maxFreeListEntries`).
    static func computedChecksum(_ p: UnsafeRawPointer) -> UInt32 {
        let n = min(Int(p.u32(at: freeListCountOffset)), maxFreeListEntries)
        let head = CRC32C.checksum(p, count: checksumOffset)
        return CRC32C.checksum(continuing: head, p + freeListOffset, count: n * FreeListEntry.encodedSize)
    }

    /// Stores the checksum of the meta at `p` (after its fields were changed in place).
    static func seal(_ p: UnsafeMutableRawPointer) {
        p.setU32(computedChecksum(UnsafeRawPointer(p)), at: checksumOffset)
    }

    /// Decodes and validates the meta at `p` (at least `maxEncodedSize` readable bytes).
    static func decode(_ p: UnsafeRawPointer) -> Result<MetaPage, DecodeFailure> {
        for i in 0..<8 where p.load(fromByteOffset: i, as: UInt8.self) != magic[i] {
            return .failure(.badMagic)
        }
        // The version is checked before the checksum: a newer format may place its checksum elsewhere.
        let version = p.u32(at: 8)
        guard version == formatVersion else { return .failure(.unsupportedVersion(version)) }
        let entries = Int(p.u32(at: freeListCountOffset))
        let stored = p.u32(at: checksumOffset)
        let computed = computedChecksum(p)
        guard stored == computed else { return .failure(.checksumMismatch(expected: stored, found: computed)) }
        guard entries <= maxFreeListEntries else { return .failure(.badFreeList("\(entries) entries, at most \(maxFreeListEntries) fit")) }
        let size = p.u32(at: 12)
        guard PageLayout.isValidPageSize(Int(size)) else { return .failure(.badPageSize(size)) }
        var meta = MetaPage(
            pageSize: Int(size), txnID: TransactionID(p.u64(at: 16)), pageCount: p.u64(at: 24),
            main: TreeRoot(decoding: p + 32), catalog: TreeRoot(decoding: p + 88), free: TreeRoot(decoding: p + 144),
            durableBase: TransactionID(p.u64(at: 256)))
        meta.snapshots = TreeRoot(decoding: p + 200)
        guard meta.durableBase <= meta.txnID else { return .failure(.badDurableBase(meta.durableBase.rawValue)) }
        // Counted up from 1 by one per commit: 2⁶² is out of reach, and leaves room for `next`.
        guard meta.txnID.rawValue < 1 << 62 else { return .failure(.implausible("transaction id \(meta.txnID.rawValue)")) }
        // The file's byte size must be an Int (offsets and the map are computed from it).
        guard meta.pageCount <= UInt64(Int.max) / UInt64(meta.pageSize) else {
            return .failure(.implausible("a page count of \(meta.pageCount)"))
        }
        for (name, tree) in [("main tree", meta.main), ("catalog", meta.catalog), ("free tree", meta.free), ("snapshots tree", meta.snapshots)] {
            if let why = tree.shapeProblem(pageCount: meta.pageCount) { return .failure(.implausible("as its \(name) \(why)")) }
        }
        meta.freeList.reserveCapacity(entries)
        for i in 0..<entries {
            let e = FreeListEntry(decoding: p + freeListOffset + i * FreeListEntry.encodedSize)
            let first = e.extent.first.rawValue
            guard e.txn <= meta.txnID.rawValue, e.txn != 1, e.extent.count > 0, first >= 2, first <= meta.pageCount,
                  UInt64(e.extent.count) <= meta.pageCount - first else {
                return .failure(.badFreeList("entry \(i) (transaction \(e.txn), pages \(first)+\(e.extent.count)) is impossible in a meta of transaction \(meta.txnID.rawValue) with \(meta.pageCount) pages"))
            }
            if let last = meta.freeList.last, (last.txn, last.extent.first.rawValue) >= (e.txn, first) {
                return .failure(.badFreeList("entries \(i - 1) and \(i) are out of order"))
            }
            meta.freeList.append(e)
        }
        return .success(meta)
    }

    /// Writes the meta, with its free list and checksum, at `p`; the rest of the page is left as it is (zero).
    func encode(to p: UnsafeMutableRawPointer) {
        for i in 0..<8 { p.storeBytes(of: Self.magic[i], toByteOffset: i, as: UInt8.self) }
        p.setU32(Self.formatVersion, at: 8)
        p.setU32(UInt32(pageSize), at: 12)
        p.setU64(txnID.rawValue, at: 16)
        p.setU64(pageCount, at: 24)
        main.encode(to: p + 32)
        catalog.encode(to: p + 88)
        free.encode(to: p + 144)
        snapshots.encode(to: p + 200)
        p.setU64(durableBase.rawValue, at: 256)
        precondition(freeList.count <= Self.maxFreeListEntries, "a meta's free list of \(freeList.count) entries")
        p.setU32(UInt32(freeList.count), at: Self.freeListCountOffset)
        for (i, e) in freeList.enumerated() { e.encode(to: p + Self.freeListOffset + i * FreeListEntry.encodedSize) }
        Self.seal(p)
    }
}

func hex32(_ v: UInt32) -> String {
    let s = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 8 - s.count)) + s
}

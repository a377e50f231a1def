/// The on-disk descriptor of one B+ tree: where its root is, the root page's checksum, and its shape.
/// Stored in the meta page (main, catalog and free trees) and as the value of each catalog record
/// (named databases).
///
/// ```
/// offset  size  field
///      0     8  root page number (0: the tree is empty)
///      8     4  CRC32C of the root page
///     12     2  depth: levels from root to leaves (0 when empty, 1 when the root is a leaf)
///     14     2  flags: bit 0 = sorted duplicates (a named database of `DuplicateList`s and
///               duplicate trees, FORMAT.md §20); other bits reserved, 0
///     16     8  branch pages
///     24     8  leaf pages
///     32     8  overflow pages
///     40     8  entries
///     48     8  root birth: the transaction that wrote the root page (0 when empty)
/// ```
struct TreeRoot: Equatable, Sendable {
    static let encodedSize = 56

    var root: PageNumber = .none
    var rootChecksum: UInt32 = 0
    var depth: Int = 0
    var branchPages: UInt64 = 0
    var leafPages: UInt64 = 0
    var overflowPages: UInt64 = 0
    var entries: UInt64 = 0
    /// Bit 0 (`flagSortedDuplicates`): the tree is a database with sorted duplicates.
    var flags: UInt16 = 0
    /// The transaction that wrote the root page.
    var rootBirth = TransactionID(0)

    static let empty = TreeRoot()

    var isEmpty: Bool { root == .none }

    /// The deepest tree a descriptor may claim: far more than any file holds (a tree of depth 64
    /// with two keys per branch has 2⁶³ leaves), and a bound for every walk that recurses per level.
    static let maxDepth = 64

    /// Why this descriptor, read from a file of `pageCount` pages, cannot describe a tree; nil
    /// when its shape is plausible. Walks recurse once per level and `descend` loops `depth - 1`
    /// times: a forged depth (0 with a root, or 65,535) must be refused before any of them runs.
    func shapeProblem(pageCount: UInt64) -> String? {
        if isEmpty { return depth == 0 ? nil : "an empty tree of depth \(depth)" }
        guard depth >= 1 && depth <= Self.maxDepth else { return "a tree of implausible depth \(depth)" }
        guard root.rawValue >= 2 && root.rawValue < pageCount else {
            return "a root page \(root.rawValue) outside the file's pages 2 ..< \(pageCount)"
        }
        return nil
    }

    /// `flags` bit 0: the tree holds sorted duplicates (FORMAT.md §20).
    static let flagSortedDuplicates: UInt16 = 1
    /// The flag bits this version knows.
    static let knownFlags: UInt16 = flagSortedDuplicates

    /// Whether the tree is a database with sorted duplicates.
    var hasSortedDuplicates: Bool { flags & Self.flagSortedDuplicates != 0 }

    /// An empty tree with the given flags (a cleared database keeps its kind).
    static func empty(flags: UInt16) -> TreeRoot {
        var r = TreeRoot()
        r.flags = flags
        return r
    }

    init() {}

    init(decoding p: UnsafeRawPointer) {
        root = PageNumber(p.u64(at: 0))
        rootChecksum = p.u32(at: 8)
        depth = Int(p.u16(at: 12))
        flags = p.u16(at: 14)
        branchPages = p.u64(at: 16)
        leafPages = p.u64(at: 24)
        overflowPages = p.u64(at: 32)
        entries = p.u64(at: 40)
        rootBirth = TransactionID(p.u64(at: 48))
    }

    func encode(to p: UnsafeMutableRawPointer) {
        p.setU64(root.rawValue, at: 0)
        p.setU32(rootChecksum, at: 8)
        p.setU16(UInt16(depth), at: 12)
        p.setU16(flags, at: 14)
        p.setU64(branchPages, at: 16)
        p.setU64(leafPages, at: 24)
        p.setU64(overflowPages, at: 32)
        p.setU64(entries, at: 40)
        p.setU64(rootBirth.rawValue, at: 48)
    }

    /// The pointer to the root page.
    var rootPointer: ChildPointer { ChildPointer(page: root, checksum: rootChecksum, birth: rootBirth) }

    /// The encoded bytes, for storing as a catalog value.
    var encoded: [UInt8] {
        [UInt8](unsafeUninitializedCapacity: Self.encodedSize) { buf, n in
            encode(to: UnsafeMutableRawPointer(buf.baseAddress!))
            n = Self.encodedSize
        }
    }
}

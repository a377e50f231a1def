/// The snapshots tree (meta offset 200; FORMAT.md §11.4) holds three kinds of record, told apart by
/// the first byte of the key:
///
/// ```
/// key                                                  value
/// 00                                                   summary: u64 newest snapshot's transaction, u64 snapshot count
/// 01 name (1 ... 255 bytes of UTF-8)                   SnapshotRecord (152 bytes)
/// 02 birth (be64) freedBy (be64) first page (be64)     u32 page count: a dead extent
/// ```
///
/// A **dead extent** lists pages that a commit (`freedBy`) stopped using while a snapshot still
/// reached them: their `birth` is at most the newest snapshot's transaction. They are neither in
/// use by the current state nor free; dropping the snapshots that reach them frees them.
enum SnapshotKey {
    static let summary: [UInt8] = [0x00]
    static let recordPrefix: UInt8 = 0x01
    static let deadPrefix: UInt8 = 0x02
    static let deadKeySize = 25
    static let maxNameBytes = 255

    static func record(_ name: [UInt8]) -> [UInt8] { [recordPrefix] + name }

    static func dead(birth: TransactionID, freedBy: TransactionID, first: PageNumber) -> [UInt8] {
        var k = [UInt8](repeating: 0, count: deadKeySize)
        k[0] = deadPrefix
        k.withUnsafeMutableBytes { b in
            b.storeBytes(of: birth.rawValue.bigEndian, toByteOffset: 1, as: UInt64.self)
            b.storeBytes(of: freedBy.rawValue.bigEndian, toByteOffset: 9, as: UInt64.self)
            b.storeBytes(of: first.rawValue.bigEndian, toByteOffset: 17, as: UInt64.self)
        }
        return k
    }

    /// The fields of a dead-extent key (`deadKeySize` bytes, starting with `deadPrefix`).
    static func decodeDead(_ key: UnsafeRawBufferPointer) -> (birth: TransactionID, freedBy: TransactionID, first: PageNumber) {
        (TransactionID(UInt64(bigEndian: key.loadUnaligned(fromByteOffset: 1, as: UInt64.self))),
         TransactionID(UInt64(bigEndian: key.loadUnaligned(fromByteOffset: 9, as: UInt64.self))),
         PageNumber(UInt64(bigEndian: key.loadUnaligned(fromByteOffset: 17, as: UInt64.self))))
    }

    static func encodeSummary(newest: TransactionID, count: UInt64) -> [UInt8] {
        var v = [UInt8](repeating: 0, count: 16)
        v.withUnsafeMutableBytes { b in
            b.baseAddress!.setU64(newest.rawValue, at: 0)
            b.baseAddress!.setU64(count, at: 8)
        }
        return v
    }

    static func decodeSummary(_ value: UnsafeRawBufferPointer) -> (newest: TransactionID, count: UInt64)? {
        guard value.count == 16 else { return nil }
        return (TransactionID(value.baseAddress!.u64(at: 0)), value.baseAddress!.u64(at: 8))
    }
}

/// A named snapshot: the state of commit `txn`, kept readable — its pages are never reused —
/// until the snapshot is dropped.
///
/// ```
/// offset  size  field
///      0     8  txn: the commit whose state the snapshot keeps
///      8     8  created: nanoseconds since 1970 (UTC)
///     16    16  id: random, unique to this snapshot (identifies it across copies and replicas)
///     32     8  page count of that state
///     40    56  main tree (TreeRoot)
///     96    56  catalog tree (TreeRoot)
/// ```
struct SnapshotRecord: Equatable, Sendable {
    static let encodedSize = 152

    var txn: TransactionID
    var createdNanoseconds: UInt64
    var id: [UInt8]
    var pageCount: UInt64
    var main: TreeRoot
    var catalog: TreeRoot

    init(txn: TransactionID, createdNanoseconds: UInt64, id: [UInt8], pageCount: UInt64, main: TreeRoot, catalog: TreeRoot) {
        precondition(id.count == 16)
        self.txn = txn
        self.createdNanoseconds = createdNanoseconds
        self.id = id
        self.pageCount = pageCount
        self.main = main
        self.catalog = catalog
    }

    /// Decodes a record value; nil when it has the wrong size, or a tree descriptor of a shape no
    /// tree has (`TreeRoot.shapeProblem`).
    init?(decoding value: UnsafeRawBufferPointer) {
        guard value.count == Self.encodedSize, let p = value.baseAddress else { return nil }
        txn = TransactionID(p.u64(at: 0))
        createdNanoseconds = p.u64(at: 8)
        id = Array(UnsafeRawBufferPointer(start: p + 16, count: 16))
        pageCount = p.u64(at: 32)
        main = TreeRoot(decoding: p + 40)
        catalog = TreeRoot(decoding: p + 96)
        guard main.shapeProblem(pageCount: pageCount) == nil, catalog.shapeProblem(pageCount: pageCount) == nil else { return nil }
    }

    var encoded: [UInt8] {
        var v = [UInt8](repeating: 0, count: Self.encodedSize)
        v.withUnsafeMutableBytes { b in
            let p = b.baseAddress!
            p.setU64(txn.rawValue, at: 0)
            p.setU64(createdNanoseconds, at: 8)
            for i in 0..<16 { p.storeBytes(of: id[i], toByteOffset: 16 + i, as: UInt8.self) }
            p.setU64(pageCount, at: 32)
            main.encode(to: p + 40)
            catalog.encode(to: p + 96)
        }
        return v
    }

    /// The meta of the snapshot's state, for reading it: its trees and page count, no free space.
    func meta(pageSize: Int) -> MetaPage {
        MetaPage(pageSize: pageSize, txnID: txn, pageCount: pageCount, main: main, catalog: catalog, free: .empty, durableBase: txn)
    }
}

/// The change stream of `Environment.send` and `Environment.receive` (docs/REPLICATION.md): what
/// changed from snapshot A to snapshot B (everything in B when there is no A), as logical
/// records, so that a replica with another page size or layout can apply it.
///
/// ```
/// header
///      0     8  magic "LARCHSND"
///      8     4  stream version (1)
///     12     4  flags: bit 0 set when incremental (from a base snapshot)
///     16    16  base snapshot id (zero when not incremental)
///     32     8  base snapshot's transaction on the sender (0 when not incremental)
///     40    16  target snapshot id
///     56     8  target snapshot's transaction on the sender
///     64     8  target snapshot's creation time (nanoseconds since 1970)
///     72     2  target name length n (1 ... 255), then n bytes of UTF-8
/// records, each a kind byte and its fields (integers little-endian):
///   01 select   u8 0: the main database | u8 1, u16 length, name: a named database
///   02 put      u32 key length, key, u32 value length, value   (in the selected database)
///   03 delete   u32 key length, key
///   04 create   u16 length, name: a named database, created empty
///   05 drop     u16 length, name: a named database, dropped
///   06 create-duplicates  u16 length, name: a named database with sorted duplicates, created empty
///   07 put-duplicates     u32 key length, key, u32 count n, then n × (u16 length, value): the
///                         key's values in the selected sorted-duplicates database, replacing
///                         all it had (ascending, unique, each 1 ... P/4 bytes)
///   ff end      u64 records before this one, u32 CRC32C of every byte of the stream before it
/// ```
enum ChangeStreamFormat {
    static let magic: [UInt8] = Array("LARCHSND".utf8)
    static let version: UInt32 = 1
    static let incrementalFlag: UInt32 = 1
    static let fixedHeaderSize = 74

    enum Kind: UInt8 {
        case select = 0x01, put = 0x02, delete = 0x03, create = 0x04, drop = 0x05
        case createDuplicates = 0x06, putDuplicates = 0x07
        case end = 0xFF
    }
}

/// The header of a change stream.
struct ChangeStreamHeader: Equatable {
    /// The base snapshot's id and transaction, for an incremental stream.
    var base: (id: [UInt8], txn: UInt64)?
    var targetID: [UInt8]
    var targetTxn: UInt64
    var targetCreatedNanoseconds: UInt64
    var targetName: [UInt8]

    static func == (a: ChangeStreamHeader, b: ChangeStreamHeader) -> Bool {
        a.base?.id == b.base?.id && a.base?.txn == b.base?.txn && a.targetID == b.targetID && a.targetTxn == b.targetTxn
            && a.targetCreatedNanoseconds == b.targetCreatedNanoseconds && a.targetName == b.targetName
    }

    var encoded: [UInt8] {
        var out = ChangeStreamFormat.magic
        out.appendLE(ChangeStreamFormat.version)
        out.appendLE(base == nil ? 0 : ChangeStreamFormat.incrementalFlag)
        out += base?.id ?? [UInt8](repeating: 0, count: 16)
        out.appendLE(base?.txn ?? 0)
        out += targetID
        out.appendLE(targetTxn)
        out.appendLE(targetCreatedNanoseconds)
        out.appendLE(UInt16(targetName.count))
        out += targetName
        return out
    }
}

extension Array where Element == UInt8 {
    mutating func appendLE<T: FixedWidthInteger>(_ v: T) {
        var x = v.littleEndian
        Swift.withUnsafeBytes(of: &x) { append(contentsOf: $0) }
    }
}

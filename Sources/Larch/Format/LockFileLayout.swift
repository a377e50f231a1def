/// The lock file beside a database (`<path>-lock`): the state that processes sharing the file
/// coordinate through, mapped shared by each of them (docs/FORMAT.md, "The lock file").
///
/// ```
/// header (64 bytes)
///   0   8  magic "LARCHLCK"
///   8   4  version (1), little-endian
///  12   4  reader slot count
///  16   4  slot size (64)
///  20   4  reserved, 0
///  24   8  published transaction: the newest commit known whole and durable (atomic, only raised)
///  32   8  boot: the machine's boot the published transaction was established in (0: unknown)
///  40   8  the database file's inode and
///  48   8  device, when it was established (kept across rebuilds only when all three match)
///  56   8  writers of other processes waiting for the writer lock (atomic counter; a process that
///           holds the lock through a run of groups yields it when this is not 0)
/// reader slots (64 bytes each), from offset 64
///   0   8  owner process id; 0: the slot is free (atomic; claimed by compare-and-swap)
///   8   8  owner's start time (process start, in clock ticks since boot on Linux), against pid reuse
///  16   8  snapshot (transaction id) the reader pins; UInt64.max while none yet
///  24   8  when the read transaction began (ns since the epoch)
///  32   8  1 when a writer expired the reader (`Options.maxReaderLag`): its pages may be reused
///  40  24  reserved, 0
/// ```
/// Every field is read and written with atomic 8-byte operations in native byte order: the file
/// never leaves the machine and is rebuilt by the first process that opens it alone.
enum LockFileLayout {
    static let magic: [UInt8] = Array("LARCHLCK".utf8)
    static let version: UInt32 = 1
    static let headerSize = 64
    static let slotSize = 64

    static let versionOffset = 8
    static let slotCountOffset = 12
    static let slotSizeOffset = 16
    static let publishedTxnOffset = 24
    static let bootOffset = 32
    static let inodeOffset = 40
    static let deviceOffset = 48
    static let writersWaitingOffset = 56

    static let ownerOffset = 0
    static let startTimeOffset = 8
    static let snapshotOffset = 16
    static let beganOffset = 24
    static let expiredOffset = 32

    /// The snapshot field of a slot whose reader has not published one yet.
    static let noSnapshot = UInt64.max

    /// The size of a lock file with `slots` reader slots.
    static func size(slots: Int) -> Int { headerSize + slots * slotSize }

    /// The offset of field `field` of slot `slot`.
    static func offset(slot: Int, field: Int) -> Int { headerSize + slot * slotSize + field }

    /// Writes a fresh header for `slots` slots at `base` (the slots must be zero).
    static func initialize(_ base: UnsafeMutableRawPointer, slots: Int) {
        base.initializeMemory(as: UInt8.self, repeating: 0, count: size(slots: slots))
        for (i, b) in magic.enumerated() { base.storeBytes(of: b, toByteOffset: i, as: UInt8.self) }
        base.storeBytes(of: version.littleEndian, toByteOffset: versionOffset, as: UInt32.self)
        base.storeBytes(of: UInt32(slots).littleEndian, toByteOffset: slotCountOffset, as: UInt32.self)
        base.storeBytes(of: UInt32(slotSize).littleEndian, toByteOffset: slotSizeOffset, as: UInt32.self)
    }

    /// The slot count of a valid header at `base` (`size` bytes mapped), or nil.
    static func validSlotCount(_ base: UnsafeRawPointer, size: Int) -> Int? {
        guard size >= headerSize else { return nil }
        for (i, b) in magic.enumerated() where base.load(fromByteOffset: i, as: UInt8.self) != b { return nil }
        guard UInt32(littleEndian: base.loadUnaligned(fromByteOffset: versionOffset, as: UInt32.self)) == version,
              UInt32(littleEndian: base.loadUnaligned(fromByteOffset: slotSizeOffset, as: UInt32.self)) == UInt32(slotSize) else { return nil }
        let slots = Int(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: slotCountOffset, as: UInt32.self)))
        guard slots > 0, self.size(slots: slots) <= size else { return nil }
        return slots
    }
}

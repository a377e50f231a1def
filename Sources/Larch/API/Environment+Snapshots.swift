#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A named snapshot: the state of one commit, kept readable until it is dropped.
public struct SnapshotInfo: Sendable, Equatable, CustomStringConvertible {
    /// Its name.
    public var name: String
    /// The commit whose state it keeps.
    public var transactionID: UInt64
    /// When it was created: nanoseconds since 1970-01-01 UTC.
    public var createdNanoseconds: UInt64
    /// 16 random bytes that identify it, in this file and in its copies and replicas.
    public var id: [UInt8]
    /// Bytes of the pages its state reaches (its databases' tree and overflow pages; ZFS's "referenced").
    public var referencedBytes: UInt64
    /// Bytes of the pages only it holds: what dropping it gives back (ZFS's "used").
    public var uniqueBytes: UInt64

    public var description: String {
        "snapshot \(quotedForMessage(name)): transaction \(transactionID), \(referencedBytes) bytes referenced, \(uniqueBytes) held only by it"
    }
}

extension Environment {
    /// Creates snapshot `name` of the newest commit, in a write transaction of its own: O(1), it
    /// writes one record. The snapshot can be read (`read(snapshot:)`) after any number of
    /// commits and restarts, until `dropSnapshot`; its pages are never reused meanwhile.
    @discardableResult
    public func createSnapshot(_ name: String) throws(LarchError) -> SnapshotInfo {
        var txn = try beginWrite()
        let info = try txn.createSnapshot(name)
        try txn.commit()
        return info
    }

    /// Drops snapshot `name`, in a write transaction of its own, giving back the pages only it held.
    public func dropSnapshot(_ name: String) throws(LarchError) {
        var txn = try beginWrite()
        try txn.dropSnapshot(name)
        try txn.commit()
    }

    /// The named snapshots of the newest commit, by name.
    public func snapshots() throws(LarchError) -> [SnapshotInfo] {
        let txn = try beginRead()
        return try txn.snapshots()
    }

    /// Begins a read transaction of snapshot `name`: every read (gets, cursors, scans, named
    /// databases) sees the state the snapshot keeps. Throws `snapshotNotFound`.
    public func beginRead(snapshot name: String) throws(LarchError) -> ReadTransaction {
        let current = try beginRead()
        let record = try current.core.snapshotRecord(named: name)
        // The reader slot passes to the snapshot's transaction. Kept at the newest commit's id, it
        // protects the snapshot's pages: while the snapshot exists they are never freed, and if it
        // is dropped meanwhile, they are freed by a later commit, which waits for this reader.
        let slot = current.core.readerSlot
        current.core.readerSlot = nil
        let snapshot = Snapshot(meta: record.meta(pageSize: pageSize), mapping: current.core.snapshot.mapping,
                                verifyChecksums: options.verifyChecksums, isNamed: true)
        return ReadTransaction(core: TransactionCore(env: self, snapshot: snapshot, readerSlot: slot))
    }

    /// Runs `body` in a read transaction of snapshot `name` and ends it.
    public func read<R>(snapshot name: String, _ body: (borrowing ReadTransaction) throws -> R) throws -> R {
        let txn = try beginRead(snapshot: name)
        return try body(txn)
    }
}

extension Transaction {
    /// The named snapshots as this transaction sees them, by name.
    public func snapshots() throws(LarchError) -> [SnapshotInfo] {
        try core.checkActive()
        return try core.expiringTyped { () throws(LarchError) in try core.snapshotInfos() }
    }
}

extension Transaction where Mode == ReadWrite {
    /// Creates snapshot `name` of the state this transaction began from (the newest commit when it
    /// began). Call it before changing anything in the transaction (`snapshotNotAllowed`
    /// otherwise). The snapshot exists once the transaction commits.
    @discardableResult
    public mutating func createSnapshot(_ name: String) throws(LarchError) -> SnapshotInfo {
        var id = [UInt8](repeating: 0, count: 16)
        var g = SystemRandomNumberGenerator()
        for i in 0..<16 { id[i] = UInt8.random(in: 0...255, using: &g) }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let nanoseconds = UInt64(max(0, now.tv_sec)) * 1_000_000_000 + UInt64(max(0, now.tv_nsec))
        let nameBytes = Array(name.utf8)
        let record = try core.modifying { w throws(LarchError) in try w.createSnapshot(name: nameBytes, id: id, createdNanoseconds: nanoseconds) }
        // The new snapshot's size from its own trees, not by listing every snapshot.
        let referenced = try core.referencedBytes(of: record)
        return SnapshotInfo(name: name, transactionID: record.txn.rawValue, createdNanoseconds: nanoseconds, id: id,
                            referencedBytes: referenced, uniqueBytes: 0)
    }

    /// Drops snapshot `name`; the pages only it held are freed when the transaction commits.
    /// Throws `snapshotNotFound`.
    public mutating func dropSnapshot(_ name: String) throws(LarchError) {
        let nameBytes = Array(name.utf8)
        try core.modifying { w throws(LarchError) in try w.dropSnapshot(name: nameBytes) }
    }
}

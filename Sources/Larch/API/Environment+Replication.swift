#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What a change stream carried (`Environment.send`, `Environment.receive`).
public struct ChangeStreamSummary: Sendable, Equatable {
    /// The snapshot the stream brings a replica to, and its transaction on the sender.
    public var targetSnapshot: String
    public var targetTransactionID: UInt64
    /// Whether the stream holds only the changes since a base snapshot.
    public var isIncremental: Bool
    /// Records (selects, puts, deletes, databases created and dropped) and bytes of the stream.
    public var records: UInt64
    public var bytes: UInt64
}

extension Environment {
    /// Writes to `output` a change stream that brings a replica from snapshot `base` to snapshot
    /// `snapshot` (docs/REPLICATION.md); without `base`, a stream of everything in `snapshot`, for
    /// an empty replica. The cost follows what changed since `base` (pages written after it, keys
    /// deleted after it), not the size of the database. Both snapshots must exist here, `base`
    /// older than `snapshot`. Throws `LarchError`, or what `output` throws.
    @discardableResult
    public func send(snapshot: String, from base: String? = nil,
                     to output: @escaping (UnsafeRawBufferPointer) throws -> Void) throws -> ChangeStreamSummary {
        let reader = try beginRead()
        let core = reader.core
        let target = try core.snapshotRecord(named: snapshot)
        let from = try base.map { name throws(LarchError) in try core.snapshotRecord(named: name) }
        if let from, from.txn >= target.txn {
            throw LarchError.snapshotNotAllowed(reason: "the base snapshot \(quotedForMessage(base!)) (transaction \(from.txn)) is not older than \(quotedForMessage(snapshot)) (transaction \(target.txn))")
        }
        let pages = core.snapshot.pages
        var writer = ChangeStreamWriter(output: output)
        try writer.header(ChangeStreamHeader(base: from.map { ($0.id, $0.txn.rawValue) }, targetID: target.id, targetTxn: target.txn.rawValue,
                                             targetCreatedNanoseconds: target.createdNanoseconds, targetName: Array(snapshot.utf8)))
        try writer.select(nil)
        try ChangeStreamDiff.write(from: from?.main, to: target.main, base: from?.txn, pages: pages, into: &writer)
        let aNamed = try Self.namedDatabases(from?.catalog, pages: pages)
        let bNamed = try Self.namedDatabases(target.catalog, pages: pages)
        for name in Set(aNamed.keys).union(bNamed.keys).sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            switch (aNamed[name], bNamed[name]) {
            case (nil, let b?):
                try writer.database(b.hasSortedDuplicates ? .createDuplicates : .create, name)
                try writer.select(name)
                try ChangeStreamDiff.write(from: nil, to: b, base: nil, pages: pages, into: &writer)
            case (_?, nil):
                try writer.database(.drop, name)
            case (let a?, let b?) where a.hasSortedDuplicates != b.hasSortedDuplicates:
                // Dropped and created again as the other kind.
                try writer.database(.drop, name)
                try writer.database(b.hasSortedDuplicates ? .createDuplicates : .create, name)
                try writer.select(name)
                try ChangeStreamDiff.write(from: nil, to: b, base: nil, pages: pages, into: &writer)
            case (let a?, let b?):
                if a == b { continue }   // the same root page, never rewritten: no change
                try writer.select(name)
                try ChangeStreamDiff.write(from: a, to: b, base: from?.txn, pages: pages, into: &writer)
            case (nil, nil):
                continue
            }
        }
        try writer.end()
        try core.checkNotExpired()
        return ChangeStreamSummary(targetSnapshot: snapshot, targetTransactionID: target.txn.rawValue, isIncremental: from != nil,
                                   records: writer.records, bytes: writer.bytes)
    }

    /// The named databases of a catalog: name → descriptor.
    private static func namedDatabases(_ catalog: TreeRoot?, pages: MappedPages) throws(LarchError) -> [[UInt8]: TreeRoot] {
        guard let catalog else { return [:] }
        var out: [[UInt8]: TreeRoot] = [:]
        var failure: LarchError?
        try pages.forEachEntry(root: catalog, from: [], below: nil) { e throws(LarchError) in
            let v = try pages.valueBytes(e)
            guard v.count == TreeRoot.encodedSize else {
                failure = .corruptPage(page: catalog.root.rawValue, reason: "catalog record of \(v.count) bytes")
                return false
            }
            let root = TreeRoot(decoding: v.baseAddress!)
            if let why = root.shapeProblem(pageCount: .max) {
                failure = .corruptPage(page: catalog.root.rawValue, reason: "catalog record describes \(why)")
                return false
            }
            out[Array(e.key)] = root
            return true
        }
        if let failure { throw failure }
        return out
    }

    /// Applies a change stream read from `input` (which fills the buffer it is given and returns
    /// the byte count, 0 at the end) as one write transaction: all of it or, on any error, nothing.
    /// The stream's checksum is verified before the commit. An incremental stream applies only
    /// when this file holds its base snapshot and has not changed since that snapshot; a full
    /// stream only to an empty file. The commit records the stream's target snapshot (same name,
    /// same id), the base of the next incremental stream. Throws `LarchError`, or what `input` throws.
    @discardableResult
    public func receive(from input: @escaping (UnsafeMutableRawBufferPointer) throws -> Int) throws -> ChangeStreamSummary {
        var stream = ChangeStreamReader(input: input)
        var txn = try beginWrite()
        // Header.
        let magic = try stream.read(8, "the header")
        guard magic == ChangeStreamFormat.magic else {
            throw LarchError.invalidChangeStream(reason: "it does not start with a Larch change stream's magic (LARCHSND)")
        }
        let version = try stream.integer(UInt32.self, "the header")
        guard version == ChangeStreamFormat.version else {
            throw LarchError.invalidChangeStream(reason: "stream version \(version); this build reads version \(ChangeStreamFormat.version)")
        }
        let flags = try stream.integer(UInt32.self, "the header")
        guard flags & ~ChangeStreamFormat.incrementalFlag == 0 else { throw LarchError.invalidChangeStream(reason: "unknown header flags \(flags)") }
        let baseID = try stream.read(16, "the header")
        let baseTxn = try stream.integer(UInt64.self, "the header")
        let targetID = try stream.read(16, "the header")
        let targetTxn = try stream.integer(UInt64.self, "the header")
        let created = try stream.integer(UInt64.self, "the header")
        let nameLength = Int(try stream.integer(UInt16.self, "the header"))
        guard (1...SnapshotKey.maxNameBytes).contains(nameLength) else {
            throw LarchError.invalidChangeStream(reason: "target snapshot name of \(nameLength) bytes")
        }
        let targetName = try stream.read(nameLength, "the header")
        guard let targetNameString = String(validating: targetName, as: UTF8.self) else {
            throw LarchError.invalidChangeStream(reason: "the target snapshot's name is not UTF-8")
        }
        let incremental = flags & ChangeStreamFormat.incrementalFlag != 0
        if let here = try txn.snapshots().first(where: { $0.id == targetID }) {
            throw LarchError.changeStreamBaseMismatch(reason: "this file holds the stream's snapshot already (as \(quotedForMessage(here.name))): the stream was received before")
        }
        try Self.checkBase(of: txn, incremental: incremental, baseID: baseID, baseTxn: baseTxn)
        if try txn.snapshots().contains(where: { $0.name.utf8.elementsEqual(targetNameString.utf8) }) {
            throw LarchError.snapshotExists(name: targetNameString)
        }
        // Records.
        let limits = PageLimits(pageSize: pageSize)
        var db: Database? = .main
        var records: UInt64 = 0
        func name(_ what: String) throws -> String {
            let n = Int(try stream.integer(UInt16.self, what))
            let bytes = try stream.read(n, what)
            guard let s = String(validating: bytes, as: UTF8.self), !s.isEmpty else {
                throw LarchError.invalidChangeStream(reason: "\(what) is not a valid UTF-8 database name")
            }
            return s
        }
        func bytes(_ limit: Int, _ what: String) throws -> [UInt8] {
            let n = Int(try stream.integer(UInt32.self, what))
            guard n <= limit else { throw LarchError.invalidChangeStream(reason: "\(what) of \(n) bytes, more than the \(limit) allowed") }
            return try stream.read(n, what)
        }
        while true {
            guard let kind = ChangeStreamFormat.Kind(rawValue: try stream.u8("a record")) else {
                throw LarchError.invalidChangeStream(reason: "unknown record kind after \(records) records")
            }
            if kind == .end { break }
            records += 1
            switch kind {
            case .select:
                switch try stream.u8("a select record") {
                case 0: db = .main
                case 1:
                    let n = try name("a select record")
                    do { db = try txn.openDatabase(n, create: false, duplicates: try txn.databaseKind(n)) } catch { throw LarchError.invalidChangeStream(reason: "record \(records) selects database \(quotedForMessage(n)), which does not exist") }
                default: throw LarchError.invalidChangeStream(reason: "record \(records): malformed select")
                }
            case .put:
                let key = try bytes(limits.maxKeySize, "a key")
                let value = try bytes(PageLimits.maxValueSize, "a value")
                guard let d = db else { throw LarchError.invalidChangeStream(reason: "record \(records): a put before any select") }
                try txn.put(value, forKey: key, in: d)
            case .delete:
                let key = try bytes(limits.maxKeySize, "a key")
                guard let d = db else { throw LarchError.invalidChangeStream(reason: "record \(records): a delete before any select") }
                try txn.delete(key, in: d)
            case .create:
                _ = try txn.openDatabase(try name("a create record"), create: true)
            case .createDuplicates:
                _ = try txn.openDatabase(try name("a create record"), create: true, duplicates: .sorted)
            case .putDuplicates:
                let key = try bytes(limits.maxKeySize, "a key")
                let count = Int(try stream.integer(UInt32.self, "a put-duplicates record"))
                var values: [[UInt8]] = []
                for _ in 0..<count {
                    let n = Int(try stream.integer(UInt16.self, "a duplicate value"))
                    guard n >= 1, n <= limits.maxKeySize else {
                        throw LarchError.invalidChangeStream(reason: "record \(records): a duplicate value of \(n) bytes (1 ... \(limits.maxKeySize) allowed)")
                    }
                    let v = try stream.read(n, "a duplicate value")
                    if let last = values.last, !last.lexicographicallyPrecedes(v) {
                        throw LarchError.invalidChangeStream(reason: "record \(records): duplicate values out of order or repeated")
                    }
                    values.append(v)
                }
                guard let d = db, try txn.databaseKind(d.name ?? "") == .sorted else {
                    throw LarchError.invalidChangeStream(reason: "record \(records): duplicate values for a database without sorted duplicates (or before any select)")
                }
                try txn.replaceAllValues(values, forKey: key, in: d)
            case .drop:
                let n = try name("a drop record")
                do { try txn.dropDatabase(try txn.openDatabase(n, create: false, duplicates: try txn.databaseKind(n))) } catch { throw LarchError.invalidChangeStream(reason: "record \(records) drops database \(quotedForMessage(n)), which does not exist") }
                db = nil
            case .end:
                break
            }
        }
        let counted = try stream.integer(UInt64.self, "the end record")
        let computed = stream.crc
        let stored = try stream.integer(UInt32.self, "the end record")
        guard counted == records else {
            throw LarchError.invalidChangeStream(reason: "the end record counts \(counted) records, the stream holds \(records)")
        }
        guard stored == computed else {
            throw LarchError.invalidChangeStream(reason: "checksum mismatch: stored \(hex32(stored)), computed \(hex32(computed)) (the stream was damaged)")
        }
        guard try !stream.hasMore() else { throw LarchError.invalidChangeStream(reason: "bytes follow the end record") }
        try txn.core.modifying { w throws(LarchError) in w.snapshotOfResult = (targetName, targetID, created) }
        try txn.commit()
        return ChangeStreamSummary(targetSnapshot: targetNameString, targetTransactionID: targetTxn, isIncremental: incremental,
                                   records: records, bytes: stream.bytes)
    }

    /// Refuses a stream whose base is not this file's current state.
    private static func checkBase(of txn: borrowing WriteTransaction, incremental: Bool, baseID: [UInt8], baseTxn: UInt64) throws(LarchError) {
        let core = txn.core
        let main = core.treeRoot(TreeIndex.main)
        let catalog = core.treeRoot(TreeIndex.catalog)
        guard incremental else {
            guard main.isEmpty, catalog.isEmpty else {
                throw .changeStreamBaseMismatch(reason: "a full stream applies to an empty file only, and this one holds data (send an incremental stream with --from, or receive into a new file)")
            }
            return
        }
        let infos = try core.snapshotInfos()
        guard let base = infos.first(where: { $0.id == baseID }) else {
            throw .changeStreamBaseMismatch(reason: "its base snapshot (transaction \(baseTxn) on the sender, id \(baseID.map { String($0, radix: 16) }.joined())) is not here; receive the streams in order, or start again from a full stream")
        }
        let record = try core.snapshotRecord(named: base.name)
        guard record.main == main, record.catalog == catalog else {
            throw .changeStreamBaseMismatch(reason: "this file changed since its snapshot \(quotedForMessage(base.name)), the stream's base; a replica must not be written to except by receive")
        }
    }
}

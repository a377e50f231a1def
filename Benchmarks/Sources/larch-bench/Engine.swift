/// The operations every engine implements, each with its own best native API. Every method is a
/// whole transaction, so that the workloads' loops are the same code for all engines and the
/// per-operation loops live inside the engines, calling their C or Swift API directly.

/// What a read pass found.
struct ReadResult: Sendable {
    var found = 0
    var digest: UInt64 = 0

    static func + (a: ReadResult, b: ReadResult) -> ReadResult {
        ReadResult(found: a.found + b.found, digest: a.digest &+ b.digest)
    }
}

enum EngineKind: String, CaseIterable, Sendable {
    case larch, lmdb, sqlite, rocksdb

    var displayName: String {
        switch self {
        case .larch: return "Larch"
        case .lmdb: return "LMDB"
        case .sqlite: return "SQLite"
        case .rocksdb: return "RocksDB"
        }
    }

    /// Whether the engine has an async write API (workload 12's tasks driver).
    var hasAsyncWriters: Bool { self == .larch }

    /// Whether the engine runs workload `w`; the others are skipped for it, with a note in the report.
    /// RocksDB is here for the durable commits only (workloads 3 and 12).
    func supports(_ w: Workload) -> Bool {
        switch self {
        case .larch, .lmdb, .sqlite: return true
        case .rocksdb: return w == .durable || w == .writers || w == .typed || w == .dupsort   // typed, dupsort: engines do not apply
        }
    }

    /// Opens a new, empty database in the empty directory `dir`.
    func open(dir: String, durable: Bool, keys: KeySet) throws -> any Engine {
        switch self {
        case .larch: return try LarchEngine(dir: dir, durable: durable, keys: keys)
        case .lmdb: return try LMDBEngine(dir: dir, durable: durable, keys: keys)
        case .sqlite: return try SQLiteEngine(dir: dir, durable: durable, keys: keys)
        case .rocksdb: return try RocksDBEngine(dir: dir, durable: durable, keys: keys)
        }
    }
}

protocol Engine: AnyObject, Sendable {
    /// One write transaction that puts `keys[i]` for each index (value `keys.value(i, round:size:)`).
    /// `append`: the indices ascend and every key sorts after the database's last key.
    func putBatch(_ indices: ArraySlice<Int>, round: Int, valueSize: Int, append: Bool) throws

    /// One write transaction that deletes `keys[i]` for each index; returns how many were present.
    func deleteBatch(_ indices: ArraySlice<Int>) throws -> Int

    /// One read transaction that reads the value of `keys[i]` for each index (zero-copy where the
    /// engine allows) and folds it into the digest; `full` reads every word of the value.
    func get(_ indices: ArraySlice<Int>, full: Bool) throws -> ReadResult

    /// One read transaction that visits every entry in key order.
    func scan() throws -> ReadResult

    /// A read handle for another thread (SQLite: its own connection).
    func makeReader() throws -> any EngineReader

    /// A handle for one writer thread of workload 12 (SQLite: its own connection), on an engine
    /// opened with `durable: true`.
    func makeDurableWriter() throws -> any DurableWriter

    /// Bytes written as the engine itself accounts them (Larch: `CommitStats.bytesWritten`), or
    /// nil when it does not; then the process's write(2) byte count is used.
    var ownBytesWritten: Int? { get }

    /// The files whose sizes make up the database.
    var dataFiles: [String] { get }

    func close() throws
}

protocol EngineReader: AnyObject, Sendable {
    /// One read transaction of `count` point reads of random keys.
    func readRandom(count: Int, rng: inout SplitMix64) throws -> ReadResult
    /// Begins a read transaction, reads one key, and keeps the transaction (and so its snapshot)
    /// open until `release()`.
    func hold(key: UnsafeBufferPointer<UInt8>) throws
    func release() throws
    func close()
}

/// One writer of workload 12: each `put` is a whole durable transaction of one put, committed
/// (and synced, as the engine's durable mode does it) before it returns. Used by one thread only.
protocol DurableWriter: AnyObject, Sendable {
    func put(key: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>) throws
    func close()
}

/// A `DurableWriter` whose engine has an async commit, for workload 12's tasks driver.
protocol AsyncDurableWriter: DurableWriter {
    func putAsync(key: [UInt8], value: [UInt8]) async throws
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CRocksDB
import Synchronization

/// Throws RocksDB's error message, if the call left one in `err` (and frees it).
func rocksCheck(_ err: UnsafeMutablePointer<CChar>?, _ what: String) throws {
    guard let err else { return }
    let message = String(cString: err)
    rocksdb_free(err)
    throw BenchError("RocksDB \(what): \(message)")
}

/// The library's version, as it writes it into the OPTIONS file of a database it opened (the C
/// API has no version call); "RocksDB" until a database has been opened.
let rocksVersion = Mutex<String?>(nil)

func rocksDBVersion() -> String { rocksVersion.withLock { $0 } ?? "RocksDB" }

@inline(__always)
func rocksBytes(_ b: UnsafeBufferPointer<UInt8>) -> UnsafePointer<CChar>? {
    UnsafeRawPointer(b.baseAddress)?.assumingMemoryBound(to: CChar.self)
}

/// RocksDB through Debian's librocksdb and its C API, with its default options (one column
/// family, a 64 MiB memtable, the write-ahead log on). Only the durable workloads: 3 (one put per
/// `rocksdb_put` with a synced write) and 12 (writer threads calling `rocksdb_put` at once, which
/// RocksDB's write thread groups so that one leader appends and syncs the log for all of them).
/// `putBatch` (unsynced: the preload) and `scan` (the checks) are here too; the rest throws.
final class RocksDBEngine: Engine, @unchecked Sendable {
    let db: OpaquePointer
    let dir: String
    let keys: KeySet
    let options: OpaquePointer
    let writeOptions: OpaquePointer
    let readOptions: OpaquePointer
    private var closed = false

    init(dir: String, durable: Bool, keys: KeySet) throws {
        self.dir = dir
        self.keys = keys
        options = rocksdb_options_create()
        rocksdb_options_set_create_if_missing(options, 1)
        var err: UnsafeMutablePointer<CChar>?
        let opened = rocksdb_open(options, dir, &err)
        do {
            try rocksCheck(err, "open \(dir)")
        } catch {
            rocksdb_options_destroy(options)
            throw error
        }
        db = opened!
        writeOptions = rocksdb_writeoptions_create()
        rocksdb_writeoptions_set_sync(writeOptions, durable ? 1 : 0)
        readOptions = rocksdb_readoptions_create()
        Self.noteVersion(dir: dir)
    }

    /// Reads `rocksdb_version=` from the OPTIONS file RocksDB wrote into `dir`.
    private static func noteVersion(dir: String) {
        guard rocksVersion.withLock({ $0 }) == nil, let d = opendir(dir) else { return }
        defer { closedir(d) }
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            guard name.hasPrefix("OPTIONS-") else { continue }
            if let line = readLines(dir + "/" + name).first(where: { $0.trimmingPrefixSpaces().hasPrefix("rocksdb_version=") }) {
                let v = line.trimmingPrefixSpaces().dropFirst("rocksdb_version=".count)
                rocksVersion.withLock { $0 = "RocksDB " + v }
                return
            }
        }
    }

    func putBatch(_ indices: ArraySlice<Int>, round: Int, valueSize: Int, append: Bool) throws {
        var err: UnsafeMutablePointer<CChar>?
        if indices.count == 1, let i = indices.first {
            let k = keys.key(i), v = keys.value(i, round: round, size: valueSize)
            rocksdb_put(db, writeOptions, rocksBytes(k), k.count, rocksBytes(v), v.count, &err)
            return try rocksCheck(err, "put")
        }
        let batch = rocksdb_writebatch_create()
        defer { rocksdb_writebatch_destroy(batch) }
        for i in indices {
            let k = keys.key(i), v = keys.value(i, round: round, size: valueSize)
            rocksdb_writebatch_put(batch, rocksBytes(k), k.count, rocksBytes(v), v.count)
        }
        rocksdb_write(db, writeOptions, batch, &err)
        try rocksCheck(err, "write")
    }

    /// Writes the memtable out to a table file and waits for it (after the preload, so that the
    /// timed phases start from a database on disk with a short log).
    func flush() throws {
        let fo = rocksdb_flushoptions_create()
        defer { rocksdb_flushoptions_destroy(fo) }
        rocksdb_flushoptions_set_wait(fo, 1)
        var err: UnsafeMutablePointer<CChar>?
        rocksdb_flush(db, fo, &err)
        try rocksCheck(err, "flush")
    }

    func deleteBatch(_ indices: ArraySlice<Int>) throws -> Int {
        throw BenchError("the RocksDB engine implements only the durable workloads")
    }

    func get(_ indices: ArraySlice<Int>, full: Bool) throws -> ReadResult {
        throw BenchError("the RocksDB engine implements only the durable workloads")
    }

    func scan() throws -> ReadResult {
        let it = rocksdb_create_iterator(db, readOptions)
        defer { rocksdb_iter_destroy(it) }
        var r = ReadResult()
        rocksdb_iter_seek_to_first(it)
        while rocksdb_iter_valid(it) != 0 {
            var klen = 0, vlen = 0
            let k = rocksdb_iter_key(it, &klen), v = rocksdb_iter_value(it, &vlen)
            r.found += 1
            if let k { r.digest &+= keyDigest(k, klen) }
            if let v { r.digest &+= digest(v, vlen, full: false) }
            rocksdb_iter_next(it)
        }
        var err: UnsafeMutablePointer<CChar>?
        rocksdb_iter_get_error(it, &err)
        try rocksCheck(err, "iterate")
        return r
    }

    func makeReader() throws -> any EngineReader {
        throw BenchError("the RocksDB engine implements only the durable workloads")
    }

    func makeDurableWriter() throws -> any DurableWriter { RocksDBDurableWriter(db: db, writeOptions: writeOptions) }

    var ownBytesWritten: Int? { nil }

    /// Every file in the directory: table files, logs, MANIFEST, OPTIONS and the info LOG.
    var dataFiles: [String] {
        guard let d = opendir(dir) else { return [] }
        defer { closedir(d) }
        var out: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name != "." && name != ".." { out.append(dir + "/" + name) }
        }
        return out
    }

    func close() throws {
        guard !closed else { return }
        closed = true
        rocksdb_close(db)
        rocksdb_readoptions_destroy(readOptions)
        rocksdb_writeoptions_destroy(writeOptions)
        rocksdb_options_destroy(options)
    }
}

/// Workload 12's writer: `rocksdb_put` with a synced write on the shared database handle.
final class RocksDBDurableWriter: DurableWriter, @unchecked Sendable {
    let db: OpaquePointer
    let writeOptions: OpaquePointer
    init(db: OpaquePointer, writeOptions: OpaquePointer) { self.db = db; self.writeOptions = writeOptions }

    func put(key: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>) throws {
        var err: UnsafeMutablePointer<CChar>?
        rocksdb_put(db, writeOptions, rocksBytes(key), key.count, rocksBytes(value), value.count, &err)
        try rocksCheck(err, "put")
    }

    func close() {}
}

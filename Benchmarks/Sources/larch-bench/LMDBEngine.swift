import CLMDB

func lmdbCheck(_ rc: Int32, _ what: String) throws {
    guard rc == 0 else { throw BenchError("LMDB \(what): \(String(cString: mdb_strerror(rc))) (\(rc))") }
}

func lmdbVersion() -> String { String(cString: mdb_version(nil, nil, nil)) }

@inline(__always)
func mdbVal(_ b: UnsafeBufferPointer<UInt8>) -> MDB_val {
    MDB_val(mv_size: b.count, mv_data: UnsafeMutableRawPointer(mutating: b.baseAddress))
}

/// LMDB through liblmdb's C API: `mdb_put` (with `MDB_APPEND` for the sequential fill), `mdb_get`
/// (zero-copy), cursors for the scan. Batched workloads open the environment with
/// `MDB_NOSYNC | MDB_NOMETASYNC`; the durable one with LMDB's default, fully synced commits.
final class LMDBEngine: Engine, @unchecked Sendable {
    let env: OpaquePointer
    var dbi = MDB_dbi()
    let dir: String
    let keys: KeySet

    init(dir: String, durable: Bool, keys: KeySet) throws {
        self.dir = dir
        self.keys = keys
        var e: OpaquePointer?
        try lmdbCheck(mdb_env_create(&e), "env_create")
        env = e!
        do {
            try lmdbCheck(mdb_env_set_mapsize(env, 1 << 38), "set_mapsize")   // 256 GiB of address space
            try lmdbCheck(mdb_env_set_maxreaders(env, 126), "set_maxreaders")
            let flags = durable ? 0 : UInt32(MDB_NOSYNC) | UInt32(MDB_NOMETASYNC)
            try lmdbCheck(mdb_env_open(env, dir, flags, 0o644), "env_open")
            var txn: OpaquePointer?
            try lmdbCheck(mdb_txn_begin(env, nil, 0, &txn), "txn_begin")
            try lmdbCheck(mdb_dbi_open(txn, nil, 0, &dbi), "dbi_open")
            try lmdbCheck(mdb_txn_commit(txn), "txn_commit")
        } catch {
            mdb_env_close(env)
            throw error
        }
    }

    private func beginWrite() throws -> OpaquePointer {
        var txn: OpaquePointer?
        try lmdbCheck(mdb_txn_begin(env, nil, 0, &txn), "txn_begin")
        return txn!
    }

    func putBatch(_ indices: ArraySlice<Int>, round: Int, valueSize: Int, append: Bool) throws {
        let txn = try beginWrite()
        let flags: UInt32 = append ? UInt32(MDB_APPEND) : 0
        for i in indices {
            var k = mdbVal(keys.key(i))
            var v = mdbVal(keys.value(i, round: round, size: valueSize))
            let rc = mdb_put(txn, dbi, &k, &v, flags)
            if rc != 0 { mdb_txn_abort(txn); try lmdbCheck(rc, "put") }
        }
        try lmdbCheck(mdb_txn_commit(txn), "txn_commit")
    }

    func deleteBatch(_ indices: ArraySlice<Int>) throws -> Int {
        let txn = try beginWrite()
        var n = 0
        for i in indices {
            var k = mdbVal(keys.key(i))
            let rc = mdb_del(txn, dbi, &k, nil)
            if rc == 0 { n += 1 } else if rc != MDB_NOTFOUND { mdb_txn_abort(txn); try lmdbCheck(rc, "del") }
        }
        try lmdbCheck(mdb_txn_commit(txn), "txn_commit")
        return n
    }

    func get(_ indices: ArraySlice<Int>, full: Bool) throws -> ReadResult {
        let txn = try Self.beginRead(env)
        defer { mdb_txn_abort(txn) }
        var r = ReadResult()
        for i in indices {
            var k = mdbVal(keys.key(i))
            var v = MDB_val()
            let rc = mdb_get(txn, dbi, &k, &v)
            if rc == 0 {
                r.found += 1
                r.digest &+= digest(v.mv_data, v.mv_size, full: full)
            } else if rc != MDB_NOTFOUND { try lmdbCheck(rc, "get") }
        }
        return r
    }

    static func beginRead(_ env: OpaquePointer) throws -> OpaquePointer {
        var txn: OpaquePointer?
        try lmdbCheck(mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &txn), "txn_begin(rdonly)")
        return txn!
    }

    func scan() throws -> ReadResult {
        let txn = try Self.beginRead(env)
        defer { mdb_txn_abort(txn) }
        var cursor: OpaquePointer?
        try lmdbCheck(mdb_cursor_open(txn, dbi, &cursor), "cursor_open")
        defer { mdb_cursor_close(cursor) }
        var r = ReadResult()
        var k = MDB_val(), v = MDB_val()
        var rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST)
        while rc == 0 {
            r.found += 1
            r.digest &+= keyDigest(k.mv_data, k.mv_size)
            r.digest &+= digest(v.mv_data, v.mv_size, full: false)
            rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)
        }
        if rc != MDB_NOTFOUND { try lmdbCheck(rc, "cursor_get") }
        return r
    }

    func makeReader() throws -> any EngineReader { LMDBReader(env: env, dbi: dbi, keys: keys) }

    func makeDurableWriter() throws -> any DurableWriter { LMDBDurableWriter(env: env, dbi: dbi) }

    var ownBytesWritten: Int? { nil }
    var dataFiles: [String] { [dir + "/data.mdb"] }

    func close() throws { mdb_env_close(env) }
}

final class LMDBReader: EngineReader, @unchecked Sendable {
    let env: OpaquePointer
    let dbi: MDB_dbi
    let keys: KeySet
    init(env: OpaquePointer, dbi: MDB_dbi, keys: KeySet) { self.env = env; self.dbi = dbi; self.keys = keys }

    func readRandom(count: Int, rng: inout SplitMix64) throws -> ReadResult {
        let txn = try LMDBEngine.beginRead(env)
        defer { mdb_txn_abort(txn) }
        var r = ReadResult()
        for _ in 0..<count {
            var k = mdbVal(keys.key(rng.below(keys.count)))
            var v = MDB_val()
            let rc = mdb_get(txn, dbi, &k, &v)
            if rc == 0 {
                r.found += 1
                r.digest &+= digest(v.mv_data, v.mv_size, full: false)
            } else if rc != MDB_NOTFOUND { try lmdbCheck(rc, "get") }
        }
        return r
    }

    private var held: OpaquePointer?

    func hold(key: UnsafeBufferPointer<UInt8>) throws {
        let txn = try LMDBEngine.beginRead(env)
        var k = mdbVal(key)
        var v = MDB_val()
        let rc = mdb_get(txn, dbi, &k, &v)
        if rc != 0 && rc != MDB_NOTFOUND { mdb_txn_abort(txn); try lmdbCheck(rc, "get") }
        held = txn
    }

    func release() throws {
        if let held { mdb_txn_abort(held) }
        held = nil
    }

    func close() { if let held { mdb_txn_abort(held) } }
}

/// Workload 12's writer: its own write transaction per put on the shared environment (opened
/// with LMDB's default, fully synced commits); `mdb_txn_begin` waits on LMDB's writer mutex.
final class LMDBDurableWriter: DurableWriter, @unchecked Sendable {
    let env: OpaquePointer
    let dbi: MDB_dbi
    init(env: OpaquePointer, dbi: MDB_dbi) { self.env = env; self.dbi = dbi }

    func put(key: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>) throws {
        var txn: OpaquePointer?
        try lmdbCheck(mdb_txn_begin(env, nil, 0, &txn), "txn_begin")
        var k = mdbVal(key), v = mdbVal(value)
        let rc = mdb_put(txn, dbi, &k, &v, 0)
        if rc != 0 { mdb_txn_abort(txn); try lmdbCheck(rc, "put") }
        try lmdbCheck(mdb_txn_commit(txn), "txn_commit")
    }

    func close() {}
}

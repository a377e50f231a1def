// Workload `dupsort` (issue 14): sorted duplicates, Larch's `duplicates: .sorted` databases against
// LMDB's `MDB_DUPSORT` in the same run. N values (16 random bytes each) go under 100 keys — a
// secondary index's shape: few keys, many values each — in random order, in write transactions of
// 10,000 without syncing; then every (key, value) pair is scanned in order, zero-copy (Larch:
// `forEachDuplicate`; LMDB: a cursor's `MDB_NEXT`), and each key's values are counted.
import CLMDB
import Larch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct DupsortResults {
    var values = 0
    var keys = 0
    var reps = 0
    /// Seconds of each repetition, per engine: the inserts, then the scan.
    var insert: [EngineKind: [Double]] = [:]
    var scan: [EngineKind: [Double]] = [:]
    /// CPU seconds of the process during the inserts: steadier than wall time on a busy machine.
    var insertCPU: [EngineKind: [Double]] = [:]
    var fileSize: [EngineKind: [Double]] = [:]

    func report() -> String {
        var out = ""
        func line(_ s: String = "") { out += s + "\n" }
        let n = Double(values)
        line("### dupsort: \(grouped(values)) values under \(keys) keys, median of \(reps) repetition\(reps == 1 ? "" : "s")")
        line()
        line("- inserts: 16-byte random values under 100 keys (`key0000` ... `key0099`), pairs in random order, write transactions of 10,000, no sync " +
             "(Larch `putDuplicate` into a `duplicates: .sorted` database, `.noSync`; LMDB `mdb_put` into an `MDB_DUPSORT` database, `MDB_NOSYNC|MDB_NOMETASYNC`)")
        line("- scan: every (key, value) pair in order in one read transaction, zero-copy (Larch `forEachDuplicate`; LMDB `MDB_NEXT`), bytes summed")
        line("- the machine's 2 cores are shared with other builds: the figures are noisy; inserts per CPU-second of the process are steadier than per second")
        line()
        line("| engine | inserts/s | vs LMDB | inserts/CPU-s | vs LMDB (CPU) | pairs scanned/s | vs LMDB | file size |")
        line("|---|--:|--:|--:|--:|--:|--:|--:|")
        let lmdbInsert = median(insert[.lmdb] ?? []), lmdbScan = median(scan[.lmdb] ?? []), lmdbCPU = median(insertCPU[.lmdb] ?? [])
        for e in [EngineKind.larch, .lmdb] {
            guard let i = insert[e], let s = scan[e] else { continue }
            let ti = median(i), ts = median(s), tc = median(insertCPU[e] ?? [])
            line("| \(e.displayName) | \(compact(n / ti)) | \(fixed(lmdbInsert / ti, 2))× | \(compact(n / tc)) | \(fixed(lmdbCPU / tc, 2))× | " +
                 "\(compact(n / ts)) | \(fixed(lmdbScan / ts, 2))× | \(bytesString(median(fileSize[e] ?? [0]))) |")
        }
        return out
    }
}

enum DupsortWorkload {
    static let keyCount = 100

    static func run(_ c: Config, ctx: Context) throws -> DupsortResults {
        var r = DupsortResults()
        r.values = c.keys
        r.keys = keyCount
        r.reps = c.reps
        var rng = SplitMix64(seed: c.seed ^ 0x4455_5053)
        let keys: [[UInt8]] = (0..<keyCount).map { Array(String(format: "key%04d", $0).utf8) }
        var pairs: [(key: Int, value: [UInt8])] = []
        pairs.reserveCapacity(c.keys)
        for _ in 0..<c.keys {
            var v = [UInt8](repeating: 0, count: 16)
            let a = rng.next(), b = rng.next()
            for j in 0..<8 { v[j] = UInt8(truncatingIfNeeded: a >> (8 * j)); v[8 + j] = UInt8(truncatingIfNeeded: b >> (8 * j)) }
            pairs.append((Int(rng.next() % UInt64(keyCount)), v))
        }
        for rep in 0..<c.reps {
            let order = (rep % 2 == 0 ? [EngineKind.larch, .lmdb] : [.lmdb, .larch]).filter(c.engines.contains)
            for e in order {
                let dir = try makeTempDir(in: ctx.baseDir, prefix: "larch-bench-dupsort")
                defer { removeDir(dir) }
                flushFileSystems()
                let (i, s, size, cpu) = e == .larch ? try larch(dir: dir, keys: keys, pairs: pairs) : try lmdb(dir: dir, keys: keys, pairs: pairs)
                r.insert[e, default: []].append(i)
                r.insertCPU[e, default: []].append(cpu)
                r.scan[e, default: []].append(s)
                r.fileSize[e, default: []].append(Double(size))
                log("  rep \(rep + 1) \(e.rawValue): \(compact(Double(pairs.count) / i)) inserts/s, \(compact(Double(pairs.count) / s)) pairs scanned/s")
            }
        }
        return r
    }

    static func larch(dir: String, keys: [[UInt8]], pairs: [(key: Int, value: [UInt8])]) throws -> (Double, Double, Int, Double) {
        let env = try Environment(path: dir + "/bench.larch", options: Options(durability: .noSync))
        try env.write { txn in _ = try txn.openDatabase("index", create: true, duplicates: .sorted) }
        let c0 = processCPUTime()
        let t0 = now()
        for batch in stride(from: 0, to: pairs.count, by: 10_000) {
            var txn = try env.beginWrite()
            let db = try txn.openDatabase("index", create: false, duplicates: .sorted)
            for p in pairs[batch..<min(batch + 10_000, pairs.count)] { try txn.putDuplicate(p.value, forKey: keys[p.key], in: db) }
            try txn.commit()
        }
        let t1 = now()
        let c1 = processCPUTime()
        var seen = 0, sum = 0
        try env.read { txn in
            let db = try txn.openDatabase("index", duplicates: .sorted)
            try txn.forEachDuplicate(in: db) { _, v in
                seen += 1
                sum &+= v.withUnsafeBytes { Int($0[0]) }
                return true
            }
        }
        let t2 = now()
        guard seen == pairs.count else { throw BenchError("dupsort (Larch): scanned \(seen) of \(pairs.count) pairs") }
        let size = try env.stats().fileSizeBytes
        if sum == -1 { log("") }
        return (t1 - t0, t2 - t1, size, c1 - c0)
    }

    static func lmdb(dir: String, keys: [[UInt8]], pairs: [(key: Int, value: [UInt8])]) throws -> (Double, Double, Int, Double) {
        var e: OpaquePointer?
        try lmdbCheck(mdb_env_create(&e), "env_create")
        let env = e!
        defer { mdb_env_close(env) }
        try lmdbCheck(mdb_env_set_mapsize(env, 1 << 38), "set_mapsize")
        try lmdbCheck(mdb_env_set_maxdbs(env, 4), "set_maxdbs")
        try lmdbCheck(mdb_env_open(env, dir, UInt32(MDB_NOSYNC) | UInt32(MDB_NOMETASYNC), 0o644), "env_open")
        var dbi = MDB_dbi()
        var txn: OpaquePointer?
        try lmdbCheck(mdb_txn_begin(env, nil, 0, &txn), "txn_begin")
        try lmdbCheck(mdb_dbi_open(txn, "index", UInt32(MDB_CREATE) | UInt32(MDB_DUPSORT), &dbi), "dbi_open")
        try lmdbCheck(mdb_txn_commit(txn), "txn_commit")
        let c0 = processCPUTime()
        let t0 = now()
        for batch in stride(from: 0, to: pairs.count, by: 10_000) {
            try lmdbCheck(mdb_txn_begin(env, nil, 0, &txn), "txn_begin")
            for p in pairs[batch..<min(batch + 10_000, pairs.count)] {
                let rc = keys[p.key].withUnsafeBufferPointer { kb in
                    p.value.withUnsafeBufferPointer { vb in
                        var k = mdbVal(kb), v = mdbVal(vb)
                        return mdb_put(txn, dbi, &k, &v, 0)
                    }
                }
                if rc != 0 { mdb_txn_abort(txn); try lmdbCheck(rc, "put") }
            }
            try lmdbCheck(mdb_txn_commit(txn), "txn_commit")
        }
        let t1 = now()
        let c1 = processCPUTime()
        try lmdbCheck(mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &txn), "txn_begin")
        var cursor: OpaquePointer?
        try lmdbCheck(mdb_cursor_open(txn, dbi, &cursor), "cursor_open")
        var k = MDB_val(), v = MDB_val()
        var seen = 0, sum = 0
        var rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST)
        while rc == 0 {
            seen += 1
            sum &+= Int(v.mv_data.load(as: UInt8.self))
            rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)
        }
        mdb_cursor_close(cursor)
        mdb_txn_abort(txn)
        let t2 = now()
        if rc != MDB_NOTFOUND { try lmdbCheck(rc, "cursor_get") }
        guard seen == pairs.count else { throw BenchError("dupsort (LMDB): scanned \(seen) of \(pairs.count) pairs") }
        var st = stat()
        let size = stat(dir + "/data.mdb", &st) == 0 ? Int(st.st_size) : 0
        if sum == -1 { log("") }
        return (t1 - t0, t2 - t1, size, c1 - c0)
    }
}

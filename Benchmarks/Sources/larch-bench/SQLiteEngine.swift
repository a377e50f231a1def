import CSQLite

func sqliteVersion() -> String { String(cString: sqlite3_libversion()) }

/// One SQLite connection with the statements the workloads use, all prepared once.
final class SQLiteConnection: @unchecked Sendable {
    let db: OpaquePointer
    let path: String
    private var statements: [OpaquePointer] = []

    /// The cache every connection gets: 256 MiB, so SQLite, like the two memory-mapped engines,
    /// is not held back by its default 2 MiB page cache.
    static let cachePragma = "PRAGMA cache_size=-262144"

    init(path: String) throws {
        self.path = path
        var d: OpaquePointer?
        let rc = sqlite3_open_v2(path, &d, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil)
        guard rc == SQLITE_OK, let d else {
            let msg = d.map { String(cString: sqlite3_errmsg($0)) } ?? "code \(rc)"
            if let d { sqlite3_close_v2(d) }
            throw BenchError("SQLite open \(path): \(msg)")
        }
        db = d
        sqlite3_busy_timeout(db, 10_000)
    }

    func check(_ rc: Int32, _ what: String) throws {
        guard rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW else {
            throw BenchError("SQLite \(what): \(String(cString: sqlite3_errmsg(db))) (\(rc))")
        }
    }

    func exec(_ sql: String) throws {
        var err: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(db, sql, nil, nil, &err)
        if rc != SQLITE_OK {
            let msg = err.map { String(cString: $0) } ?? "code \(rc)"
            sqlite3_free(err)
            throw BenchError("SQLite \(sql): \(msg)")
        }
    }

    func prepare(_ sql: String) throws -> OpaquePointer {
        var s: OpaquePointer?
        try check(sqlite3_prepare_v3(db, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &s, nil), "prepare \(sql)")
        statements.append(s!)
        return s!
    }

    /// Runs a statement that returns no rows, then resets it.
    @inline(__always)
    func run(_ s: OpaquePointer) throws {
        let rc = sqlite3_step(s)
        sqlite3_reset(s)
        if rc != SQLITE_DONE { try check(rc, "step") }
    }

    func close() {
        for s in statements { sqlite3_finalize(s) }
        statements = []
        sqlite3_close_v2(db)
    }
}

@inline(__always)
func bind(_ s: OpaquePointer, _ index: Int32, _ b: UnsafeBufferPointer<UInt8>) {
    // SQLITE_STATIC (a nil destructor): the bytes outlive the step that uses them.
    sqlite3_bind_blob(s, index, b.baseAddress, Int32(b.count), nil)
}

/// SQLite through its C API: one `WITHOUT ROWID` table `kv(k BLOB PRIMARY KEY, v BLOB)`, WAL
/// journal, prepared statements, explicit `BEGIN`/`COMMIT` per batch. Batched workloads run with
/// `synchronous=OFF`, the durable one with `synchronous=FULL`.
final class SQLiteEngine: Engine, @unchecked Sendable {
    let conn: SQLiteConnection
    let keys: KeySet
    let path: String
    let begin, commit, upsert, select, delete, scanAll: OpaquePointer

    init(dir: String, durable: Bool, keys: KeySet) throws {
        path = dir + "/bench.sqlite"
        self.keys = keys
        conn = try SQLiteConnection(path: path)
        do {
            try conn.exec("PRAGMA page_size=4096")
            try conn.exec("PRAGMA journal_mode=WAL")
            try conn.exec("PRAGMA synchronous=\(durable ? "FULL" : "OFF")")
            try conn.exec(SQLiteConnection.cachePragma)
            try conn.exec("CREATE TABLE IF NOT EXISTS kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID")
            begin = try conn.prepare("BEGIN")
            commit = try conn.prepare("COMMIT")
            upsert = try conn.prepare("INSERT INTO kv(k, v) VALUES(?1, ?2) ON CONFLICT(k) DO UPDATE SET v = excluded.v")
            select = try conn.prepare("SELECT v FROM kv WHERE k = ?1")
            delete = try conn.prepare("DELETE FROM kv WHERE k = ?1")
            scanAll = try conn.prepare("SELECT k, v FROM kv ORDER BY k")
        } catch {
            conn.close()
            throw error
        }
    }

    private func transaction(_ body: () throws -> Void) throws {
        try conn.run(begin)
        do {
            try body()
        } catch {
            try? conn.exec("ROLLBACK")
            throw error
        }
        try conn.run(commit)
    }

    func putBatch(_ indices: ArraySlice<Int>, round: Int, valueSize: Int, append: Bool) throws {
        try transaction {
            for i in indices {
                bind(upsert, 1, keys.key(i))
                bind(upsert, 2, keys.value(i, round: round, size: valueSize))
                try conn.run(upsert)
            }
        }
    }

    func deleteBatch(_ indices: ArraySlice<Int>) throws -> Int {
        var n = 0
        try transaction {
            for i in indices {
                bind(delete, 1, keys.key(i))
                try conn.run(delete)
                n += Int(sqlite3_changes(conn.db))
            }
        }
        return n
    }

    func get(_ indices: ArraySlice<Int>, full: Bool) throws -> ReadResult {
        var r = ReadResult()
        try transaction {
            for i in indices { try Self.read(conn, select, keys.key(i), full: full, into: &r) }
        }
        return r
    }

    @inline(__always)
    static func read(_ conn: SQLiteConnection, _ select: OpaquePointer, _ key: UnsafeBufferPointer<UInt8>,
                     full: Bool, into r: inout ReadResult) throws {
        bind(select, 1, key)
        let rc = sqlite3_step(select)
        if rc == SQLITE_ROW {
            let n = Int(sqlite3_column_bytes(select, 0))
            if let p = sqlite3_column_blob(select, 0) { r.digest &+= digest(p, n, full: full) }
            r.found += 1
        }
        sqlite3_reset(select)
        if rc != SQLITE_ROW && rc != SQLITE_DONE { try conn.check(rc, "select") }
    }

    func scan() throws -> ReadResult {
        var r = ReadResult()
        try transaction {
            var rc = sqlite3_step(scanAll)
            while rc == SQLITE_ROW {
                r.found += 1
                if let k = sqlite3_column_blob(scanAll, 0) { r.digest &+= keyDigest(k, Int(sqlite3_column_bytes(scanAll, 0))) }
                if let v = sqlite3_column_blob(scanAll, 1) { r.digest &+= digest(v, Int(sqlite3_column_bytes(scanAll, 1)), full: false) }
                rc = sqlite3_step(scanAll)
            }
            sqlite3_reset(scanAll)
            try conn.check(rc, "scan")
        }
        return r
    }

    func makeReader() throws -> any EngineReader { try SQLiteReader(path: path, keys: keys) }

    func makeDurableWriter() throws -> any DurableWriter { try SQLiteDurableWriter(path: path) }

    var ownBytesWritten: Int? { nil }
    var dataFiles: [String] { [path, path + "-wal"] }

    func close() throws { conn.close() }
}

/// A reader thread's own connection (WAL lets it read while the writer commits).
final class SQLiteReader: EngineReader, @unchecked Sendable {
    let conn: SQLiteConnection
    let keys: KeySet
    let begin, commit, select: OpaquePointer

    init(path: String, keys: KeySet) throws {
        self.keys = keys
        conn = try SQLiteConnection(path: path)
        try conn.exec(SQLiteConnection.cachePragma)
        begin = try conn.prepare("BEGIN")
        commit = try conn.prepare("COMMIT")
        select = try conn.prepare("SELECT v FROM kv WHERE k = ?1")
    }

    func readRandom(count: Int, rng: inout SplitMix64) throws -> ReadResult {
        var r = ReadResult()
        try conn.run(begin)
        for _ in 0..<count { try SQLiteEngine.read(conn, select, keys.key(rng.below(keys.count)), full: false, into: &r) }
        try conn.run(commit)
        return r
    }

    private var holding = false

    func hold(key: UnsafeBufferPointer<UInt8>) throws {
        var r = ReadResult()
        try conn.run(begin)
        holding = true
        try SQLiteEngine.read(conn, select, key, full: false, into: &r)
    }

    func release() throws {
        if holding { try conn.run(commit) }
        holding = false
    }

    func close() { conn.close() }
}

/// Workload 12's writer: a connection of its own (`synchronous=FULL`, WAL), a `BEGIN IMMEDIATE`
/// transaction per put, so that a writer takes the write lock at the start and waits for it in
/// SQLite's busy handler (60 s) instead of failing with SQLITE_BUSY at commit.
final class SQLiteDurableWriter: DurableWriter, @unchecked Sendable {
    let conn: SQLiteConnection
    let begin, commit, upsert: OpaquePointer

    init(path: String) throws {
        conn = try SQLiteConnection(path: path)
        do {
            sqlite3_busy_timeout(conn.db, 60_000)
            try conn.exec("PRAGMA synchronous=FULL")
            try conn.exec(SQLiteConnection.cachePragma)
            begin = try conn.prepare("BEGIN IMMEDIATE")
            commit = try conn.prepare("COMMIT")
            upsert = try conn.prepare("INSERT INTO kv(k, v) VALUES(?1, ?2) ON CONFLICT(k) DO UPDATE SET v = excluded.v")
        } catch {
            conn.close()
            throw error
        }
    }

    func put(key: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>) throws {
        try conn.run(begin)
        do {
            bind(upsert, 1, key)
            bind(upsert, 2, value)
            try conn.run(upsert)
            try conn.run(commit)
        } catch {
            try? conn.exec("ROLLBACK")
            throw error
        }
    }

    func close() { conn.close() }
}

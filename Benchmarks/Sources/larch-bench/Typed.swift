// Workload `typed` (issue 15): N Codable records put and got through Larch's typed API
// (`txn.database(_:of:_:)`, `txn.put(_:for:in:)`, `txn[key, in:]`), the same records as raw bytes
// on Larch (keys and values encoded before the clock starts), and GRDB's Codable records on SQLite,
// in one run. Typed ÷ raw is the cost of encoding and decoding; Larch typed ÷ GRDB compares the two
// typed APIs on the same data.
import GRDB
import Larch

/// The record: a few fields of the usual kinds.
struct BenchUser: Codable, Equatable, Sendable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "user"
    var id: Int64
    var name: String
    var email: String
    var age: Int32
    var score: Double
    var active: Bool

    init(_ i: Int64) {
        id = i
        name = "User \(i)"
        email = "user\(i)@example.com"
        age = Int32(18 + i % 70)
        score = Double(i % 1000) / 7
        active = i % 3 != 0
    }
}

enum TypedVariant: String, CaseIterable {
    case larchTyped = "Larch typed", larchRaw = "Larch raw bytes", grdb = "GRDB Codable records"
}

struct TypedResults {
    var keys = 0
    var reps = 0
    /// Seconds of each repetition, per variant: the puts, then the gets.
    var put: [TypedVariant: [Double]] = [:]
    var get: [TypedVariant: [Double]] = [:]
    var encodedBytes = 0

    func report() -> String {
        var out = ""
        func line(_ s: String = "") { out += s + "\n" }
        let n = Double(keys)
        line("### typed: \(grouped(keys)) Codable records, median of \(reps) repetition\(reps == 1 ? "" : "s")")
        line()
        line("- record: `struct BenchUser: Codable { id: Int64, name: String, email: String, age: Int32, score: Double, active: Bool }`, " +
             "about \(encodedBytes / max(keys, 1)) bytes in Larch's binary encoding, keyed by its `Int64` id")
        line("- puts: ids in random order, write transactions of 10,000, no sync (Larch `.noSync`; GRDB `DatabasePool` (WAL), `synchronous=OFF`, `insert`); " +
             "gets: every id in random order in one read transaction")
        line("- Larch typed: `txn.put(user, for: id, in: users)` and `txn[id, in: users]`; Larch raw bytes: the same keys and values, encoded before the clock starts, " +
             "through `txn.put(_:forKey:)` and `txn.get(_:)` (a `[UInt8]` copy); GRDB \(grdbVersion): `user.insert(db)` and `BenchUser.fetchOne(db, key: id)`, SQLite \(sqliteVersion())")
        line()
        line("Ratios are of times (medians): typed ÷ raw is the cost of encoding (puts) and decoding (gets); below 1× against GRDB, Larch is faster.")
        line()
        line("| variant | puts/s | gets/s | put time ÷ Larch raw | get time ÷ Larch raw | put time ÷ GRDB | get time ÷ GRDB |")
        line("|---|--:|--:|--:|--:|--:|--:|")
        let rawPut = median(put[.larchRaw] ?? []), rawGet = median(get[.larchRaw] ?? [])
        let gPut = median(put[.grdb] ?? []), gGet = median(get[.grdb] ?? [])
        for v in TypedVariant.allCases {
            guard let ps = put[v], let gs = get[v] else { continue }
            let p = median(ps), g = median(gs)
            line("| \(v.rawValue) | \(compact(n / p)) | \(compact(n / g)) | \(fixed(p / rawPut, 2))× | \(fixed(g / rawGet, 2))× | " +
                 "\(fixed(p / gPut, 2))× | \(fixed(g / gGet, 2))× |")
        }
        return out
    }
}

/// GRDB has no version constant: the version Benchmarks/Package.resolved pins (`from: "7.0.0"`).
let grdbVersion = "7.10.0"

enum TypedWorkload {
    static func run(_ c: Config, ctx: Context) throws -> TypedResults {
        let n = c.keys
        var r = TypedResults()
        r.keys = n
        r.reps = c.reps
        var rng = SplitMix64(seed: c.seed)
        func shuffled(_ xs: [Int64]) -> [Int64] {
            var xs = xs
            for i in stride(from: xs.count - 1, to: 0, by: -1) { xs.swapAt(i, rng.below(i + 1)) }
            return xs
        }
        let order = shuffled((0..<n).map(Int64.init))
        let readOrder = shuffled(order)
        let users = order.map { BenchUser($0) }
        let encoder = LarchBinaryEncoder()
        let rawKeys = order.map { $0.encodedKey }
        let rawValues = try users.map { try encoder.encode($0) }
        let rawReadKeys = readOrder.map { $0.encodedKey }
        r.encodedBytes = rawValues.reduce(0) { $0 + $1.count }

        for rep in 0..<c.reps {
            for v in TypedVariant.allCases {
                let dir = try makeTempDir(in: ctx.baseDir, prefix: "larch-bench-typed")
                defer { removeDir(dir) }
                flushFileSystems()
                let (p, g) = switch v {
                case .larchTyped: try larchTyped(dir: dir, users: users, readOrder: readOrder)
                case .larchRaw: try larchRaw(dir: dir, keys: rawKeys, values: rawValues, readKeys: rawReadKeys)
                case .grdb: try grdb(dir: dir, users: users, readOrder: readOrder)
                }
                r.put[v, default: []].append(p)
                r.get[v, default: []].append(g)
                log("  rep \(rep + 1) \(v.rawValue): \(compact(Double(n) / p)) puts/s, \(compact(Double(n) / g)) gets/s")
            }
        }
        return r
    }

    static func larchTyped(dir: String, users: [BenchUser], readOrder: [Int64]) throws -> (Double, Double) {
        let env = try Environment(path: dir + "/bench.larch", options: Options(durability: .noSync))
        let t0 = now()
        for batch in stride(from: 0, to: users.count, by: 10_000) {
            var txn = try env.beginWrite()
            let db = try txn.database("users", of: Int64.self, BenchUser.self)
            for u in users[batch..<min(batch + 10_000, users.count)] { try txn.put(u, for: u.id, in: db) }
            try txn.commit()
        }
        let t1 = now()
        let txn = try env.beginRead()
        let db = try txn.database("users", of: Int64.self, BenchUser.self)
        var found = 0
        for id in readOrder { if let u = try txn[id, in: db], u.id == id { found += 1 } }
        let t2 = now()
        guard found == readOrder.count else { throw BenchError("typed: found \(found) of \(readOrder.count)") }
        return (t1 - t0, t2 - t1)
    }

    static func larchRaw(dir: String, keys: [[UInt8]], values: [[UInt8]], readKeys: [[UInt8]]) throws -> (Double, Double) {
        let env = try Environment(path: dir + "/bench.larch", options: Options(durability: .noSync))
        let t0 = now()
        for batch in stride(from: 0, to: keys.count, by: 10_000) {
            var txn = try env.beginWrite()
            let db = try txn.openDatabase("users", create: true)
            for i in batch..<min(batch + 10_000, keys.count) { try txn.put(values[i], forKey: keys[i], in: db) }
            try txn.commit()
        }
        let t1 = now()
        let txn = try env.beginRead()
        let db = try txn.openDatabase("users")
        var found = 0
        for k in readKeys { if let v = try txn.get(k, in: db), !v.isEmpty { found += 1 } }
        let t2 = now()
        guard found == readKeys.count else { throw BenchError("raw: found \(found) of \(readKeys.count)") }
        return (t1 - t0, t2 - t1)
    }

    static func grdb(dir: String, users: [BenchUser], readOrder: [Int64]) throws -> (Double, Double) {
        var config = Configuration()
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = OFF") }
        let pool = try DatabasePool(path: dir + "/bench.sqlite", configuration: config)
        try pool.write { db in
            try db.create(table: "user") { t in
                t.primaryKey("id", .integer)
                t.column("name", .text).notNull()
                t.column("email", .text).notNull()
                t.column("age", .integer).notNull()
                t.column("score", .double).notNull()
                t.column("active", .boolean).notNull()
            }
        }
        let t0 = now()
        for batch in stride(from: 0, to: users.count, by: 10_000) {
            try pool.write { db in
                for u in users[batch..<min(batch + 10_000, users.count)] { try u.insert(db) }
            }
        }
        let t1 = now()
        let found = try pool.read { db in
            var found = 0
            for id in readOrder { if let u = try BenchUser.fetchOne(db, key: id), u.id == id { found += 1 } }
            return found
        }
        let t2 = now()
        try pool.close()
        guard found == readOrder.count else { throw BenchError("GRDB: found \(found) of \(readOrder.count)") }
        return (t1 - t0, t2 - t1)
    }
}

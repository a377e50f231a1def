import Foundation
import Testing
@testable import Larch

/// Randomized model-based test of sorted-duplicates databases: random puts (single and in bulk),
/// pair and key deletes, cursor moves, seeks, counts and plain-API calls in random write
/// transactions, on keys with a few values and keys with thousands (so that keys cross between
/// inline lists and duplicate trees both ways), each result compared with an in-memory model
/// after every step, and the structural checker run after every commit.
///
/// Reproduce a failure with the seed printed in its message:
/// `LARCH_SEED=<seed> swift test --filter DuplicateModelTests`. Run longer with `LARCH_TEST_SCALE=<n>`.
@Suite("Sorted duplicates: model-based randomized test")
struct DuplicateModelTests {
    static let defaultSeed: UInt64 = 0x4455_5053_4F52_5401

    @Test("Random dupsort transactions", arguments: [4096, 8192])
    func model(pageSize: Int) throws {
        var run = DupModelRun(seed: TestEnvironment.seed(default: Self.defaultSeed) ^ UInt64(pageSize), pageSize: pageSize,
                              transactions: 70 * TestEnvironment.scale)
        try run.run()
    }
}

/// The expected content of one sorted-duplicates database: each key's values, sorted.
struct DupModel {
    var map: [[UInt8]: [[UInt8]]] = [:]

    var sortedKeys: [[UInt8]] { map.keys.sorted(by: keyPrecedes) }
    var total: Int { map.values.reduce(0) { $0 + $1.count } }

    func values(_ k: [UInt8]) -> [[UInt8]] { map[k] ?? [] }

    private static func lowerBound(_ a: [[UInt8]], _ v: [UInt8]) -> Int {
        var lo = 0, hi = a.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if compareKeys(a[mid], v) < 0 { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    mutating func insert(_ k: [UInt8], _ v: [UInt8]) -> Bool {
        var a = map[k] ?? []
        let i = Self.lowerBound(a, v)
        if i < a.count && a[i] == v { return false }
        a.insert(v, at: i)
        map[k] = a
        return true
    }

    mutating func remove(_ k: [UInt8], _ v: [UInt8]) -> Bool {
        guard var a = map[k] else { return false }
        let i = Self.lowerBound(a, v)
        guard i < a.count && a[i] == v else { return false }
        a.remove(at: i)
        map[k] = a.isEmpty ? nil : a
        return true
    }

    mutating func removeKey(_ k: [UInt8]) -> Int { map.removeValue(forKey: k)?.count ?? 0 }

    /// First value `≥ v` (`> v` when strict) of key `k`.
    func value(of k: [UInt8], atLeast v: [UInt8], strict: Bool) -> [UInt8]? {
        let a = values(k)
        var i = Self.lowerBound(a, v)
        if strict, i < a.count, a[i] == v { i += 1 }
        return i < a.count ? a[i] : nil
    }

    /// Last value `< v` of key `k`.
    func value(of k: [UInt8], below v: [UInt8]) -> [UInt8]? {
        let a = values(k)
        let i = Self.lowerBound(a, v)
        return i > 0 ? a[i - 1] : nil
    }

    func key(after k: [UInt8]) -> [UInt8]? { sortedKeys.first { compareKeys($0, k) > 0 } }
    func key(before k: [UInt8]) -> [UInt8]? { sortedKeys.last { compareKeys($0, k) < 0 } }
    func key(atLeast k: [UInt8]) -> [UInt8]? { sortedKeys.first { compareKeys($0, k) >= 0 } }
}

/// Where the model says a `DuplicateCursor` is, and its moves (the cursor's documented semantics).
struct DupCursorModel {
    var pos: (key: [UInt8], value: [UInt8])?

    private mutating func land(_ k: [UInt8]?, first: Bool, _ m: DupModel) -> Bool {
        guard let k, let v = first ? m.values(k).first : m.values(k).last else { pos = nil; return false }
        pos = (k, v)
        return true
    }

    private mutating func step(_ v: [UInt8]?, key: [UInt8]) -> Bool {
        guard let v else { return false }
        pos = (key, v)
        return true
    }

    mutating func first(_ m: DupModel) -> Bool { land(m.sortedKeys.first, first: true, m) }
    mutating func last(_ m: DupModel) -> Bool { land(m.sortedKeys.last, first: false, m) }

    mutating func next(_ m: DupModel) -> Bool {
        guard let p = pos else { return first(m) }
        if let v = m.value(of: p.key, atLeast: p.value, strict: true) { pos = (p.key, v); return true }
        guard let k = m.key(after: p.key) else { return false }
        return land(k, first: true, m)
    }

    mutating func previous(_ m: DupModel) -> Bool {
        guard let p = pos else { return last(m) }
        if let v = m.value(of: p.key, below: p.value) { pos = (p.key, v); return true }
        guard let k = m.key(before: p.key) else { return false }
        return land(k, first: false, m)
    }

    mutating func nextDuplicate(_ m: DupModel) -> Bool {
        guard let p = pos else { return first(m) }
        return step(m.value(of: p.key, atLeast: p.value, strict: true), key: p.key)
    }

    mutating func previousDuplicate(_ m: DupModel) -> Bool {
        guard let p = pos else { return last(m) }
        return step(m.value(of: p.key, below: p.value), key: p.key)
    }

    mutating func nextKey(_ m: DupModel) -> Bool {
        guard let p = pos else { return first(m) }
        guard let k = m.key(after: p.key) else { return false }
        return land(k, first: true, m)
    }

    mutating func previousKey(_ m: DupModel) -> Bool {
        guard let p = pos else { return last(m) }
        guard let k = m.key(before: p.key) else { return false }
        return land(k, first: false, m)
    }

    mutating func firstDuplicate(_ m: DupModel) -> Bool {
        guard let p = pos else { return false }
        return step(m.values(p.key).first, key: p.key)
    }

    mutating func lastDuplicate(_ m: DupModel) -> Bool {
        guard let p = pos else { return false }
        return step(m.values(p.key).last, key: p.key)
    }

    mutating func seek(key k: [UInt8], _ m: DupModel) -> Bool { land(m.map[k] == nil ? nil : k, first: true, m) }
    mutating func seek(atLeastKey k: [UInt8], _ m: DupModel) -> Bool { land(m.key(atLeast: k), first: true, m) }

    mutating func seek(key k: [UInt8], value v: [UInt8], exact: Bool, _ m: DupModel) -> Bool {
        guard let found = m.value(of: k, atLeast: v, strict: false), !exact || found == v else { pos = nil; return false }
        pos = (k, found)
        return true
    }

    func count(_ m: DupModel) -> Int { pos.map { m.values($0.key).count } ?? 0 }
}

private struct StopDupRun: Error {}

struct DupModelRun {
    let seed: UInt64
    let pageSize: Int
    let transactions: Int
    private var rng: SeededGenerator
    private var committed = DupModel()
    private var trace: [String] = []
    private var txnNumber = 0
    private var step = 0
    private let keys: [[UInt8]]
    private let heavy: [[UInt8]]
    private let maxValue: Int
    private var conversions = (toTree: 0, toInline: 0)

    init(seed: UInt64, pageSize: Int, transactions: Int) {
        self.seed = seed
        self.pageSize = pageSize
        self.transactions = transactions
        rng = SeededGenerator(seed: seed)
        maxValue = pageSize / 4
        var k = (0..<10).map { bytes("k\($0)") }
        k.append([UInt8](repeating: 0x6B, count: 150) + [1])
        k.append([UInt8](repeating: 0x6B, count: 150) + [2])
        k.append([0xFF, 0x00])
        heavy = [bytes("h0"), bytes("h1"), bytes("h2")]
        keys = k + heavy
    }

    private func context() -> String {
        "seed=\(seed) (rerun: LARCH_SEED=\(seed ^ UInt64(pageSize)) swift test --filter DuplicateModelTests) pageSize=\(pageSize) txn #\(txnNumber) step #\(step)\nlast operations:\n  "
            + trace.suffix(25).joined(separator: "\n  ")
    }

    private mutating func log(_ s: String) {
        if trace.count >= 200 { trace.removeFirst(100) }
        trace.append("[t\(txnNumber) s\(step)] " + s)
    }

    private func require(_ ok: Bool, _ message: @autoclosure () -> String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        if !ok {
            Issue.record(Comment(rawValue: "\(message())\n\(context())"), sourceLocation: sourceLocation)
            throw StopDupRun()
        }
    }

    private mutating func randomValue() -> [UInt8] {
        if rng.chance(0.04) {
            // A large value: up to the limit (a quarter page).
            let n = 100 + Int(rng.next() % UInt64(maxValue - 99))
            return bytes("L") + rng.bytes(n - 1)
        }
        return bytes(String(format: "%05d", Int(rng.next() % 3000))) + (rng.chance(0.3) ? rng.bytes(Int(rng.next() % 6)) : [])
    }

    private mutating func pick<T>(_ a: [T]) -> T { a[Int(rng.next() % UInt64(a.count))] }

    mutating func run() throws {
        let dir = try TemporaryDirectory("larch-dupmodel-\(pageSize)")
        defer { dir.remove() }
        var options = Options(pageSize: pageSize, durability: .noSync)
        options.strictChecks = .full
        var env = try Environment(path: dir.file(), options: options)
        try env.write { txn in _ = try txn.openDatabase("dups", create: true, duplicates: .sorted) }
        do {
            for _ in 0..<transactions {
                txnNumber += 1
                try runTransaction(env)
                if rng.chance(0.05) {
                    log("reopen")
                    env.close()
                    env = try Environment(path: dir.file(), options: options)
                    try compareCommitted(env)
                }
            }
        } catch is StopDupRun {
            return
        }
        print("DupModelRun seed=\(seed) pageSize=\(pageSize): \(txnNumber) transactions, \(step) steps, \(committed.total) pairs at the end, \(conversions.toTree) conversions to a duplicate tree, \(conversions.toInline) back inline")
        try require(conversions.toTree > 0 && conversions.toInline > 0, "the run never crossed between inline lists and duplicate trees both ways")
    }

    /// Whether `key` holds its values in a duplicate tree now (read from the leaf cell).
    private func isTree(_ txn: borrowing WriteTransaction, _ db: Database, _ key: [UInt8]) throws -> Bool? {
        let t = try txn.core.tree(db)
        return try key.withUnsafeBytes { k in try txn.core.lookup(tree: t, key: k)?.isDuplicateTree }
    }

    private mutating func runTransaction(_ env: Environment) throws {
        var model = committed
        var txn = try env.beginWrite()
        let db = try txn.openDatabase("dups", create: false, duplicates: .sorted)
        let cursor = try txn.duplicateCursor(db)
        var cm = DupCursorModel()
        let ops = 1 + Int(rng.next() % 30)
        for _ in 0..<ops {
            step += 1
            let key = pick(keys)
            let wasTree = try keys.map { try isTree(txn, db, $0) }
            let r = rng.next() % 100
            switch r {
            case 0..<28:
                let v = rng.chance(0.3) && !model.values(key).isEmpty ? pick(model.values(key)) : randomValue()
                let strict = rng.chance(0.2)
                log("putDuplicate \(hexDescription(key)) \(hexDescription(v)) allowExisting \(!strict)")
                let expected = model.insert(key, v)
                do {
                    let added = try txn.putDuplicate(v, forKey: key, in: db, allowExisting: !strict)
                    try require(added == expected, "putDuplicate returned \(added), model \(expected)")
                } catch let e as LarchError {
                    try require(strict && !expected && e == .duplicateExists, "putDuplicate threw \(e)")
                }
            case 28..<33:
                let k = pick(heavy)
                let n = 200 + Int(rng.next() % 2300)
                log("bulk put \(n) values under \(hexDescription(k))")
                for _ in 0..<n {
                    let v = randomValue()
                    let expected = model.insert(k, v)
                    try require(try txn.putDuplicate(v, forKey: k, in: db) == expected, "bulk putDuplicate disagrees")
                }
                try compareKey(txn, db, k, model)
            case 33..<38:
                let k = pick(heavy)
                let fraction = 0.5 + Double(rng.next() % 50) / 100
                log("bulk delete \(Int(fraction * 100))% of \(hexDescription(k))'s \(model.values(k).count) values")
                for v in model.values(k) where rng.chance(fraction) {
                    _ = model.remove(k, v)
                    try require(try txn.deleteDuplicate(v, forKey: k, in: db), "bulk deleteDuplicate of a present pair returned false")
                }
                try compareKey(txn, db, k, model)
            case 38..<52:
                let v = rng.chance(0.7) && !model.values(key).isEmpty ? pick(model.values(key)) : randomValue()
                log("deleteDuplicate \(hexDescription(key)) \(hexDescription(v))")
                let expected = model.remove(key, v)
                try require(try txn.deleteDuplicate(v, forKey: key, in: db) == expected, "deleteDuplicate disagrees (model \(expected))")
            case 52..<55:
                log("deleteAllValues \(hexDescription(key))")
                let expected = model.removeKey(key)
                try require(try txn.deleteAllValues(forKey: key, in: db) == expected, "deleteAllValues disagrees (model \(expected))")
            case 55..<57:
                log("plain delete \(hexDescription(key))")
                let expected = model.removeKey(key) > 0
                try require(try txn.delete(key, in: db) == expected, "plain delete disagrees")
            case 57..<59:
                let v = randomValue()
                log("plain put \(hexDescription(key)) \(hexDescription(v))")
                _ = model.insert(key, v)
                try txn.put(v, forKey: key, in: db)
            case 59..<60 where rng.chance(0.3):
                log("clear")
                model = DupModel()
                try txn.clear(db)
            case 60..<82:
                try cursorStep(cursor, &cm, model, key)
            default:
                log("reads \(hexDescription(key))")
                try require(try txn.get(key, in: db) == model.values(key).first, "get (first value) disagrees")
                let v = randomValue()
                try require(try txn.contains(v, forKey: key, in: db) == model.values(key).contains(v), "contains disagrees")
            }
            // The key the step touched: count, first and last always; every value when few.
            try compareKey(txn, db, key, model, full: model.values(key).count <= 300 || rng.chance(0.1))
            for (i, k) in keys.enumerated() {
                guard let before = wasTree[i], let after = try isTree(txn, db, k) else { continue }
                if !before && after { conversions.toTree += 1 }
                if before && !after { conversions.toInline += 1 }
            }
            let entries = try txn.stats(db).entries
            try require(entries == UInt64(model.total), "stats entries \(entries), model \(model.total)")
        }
        if rng.chance(0.15) {
            log("abort")
            txn.abort()
        } else {
            log("commit")
            try txn.commit()
            committed = model
        }
        try compareCommitted(env)
    }

    private mutating func cursorStep(_ c: DuplicateCursor<ReadWrite>, _ cm: inout DupCursorModel, _ m: DupModel, _ key: [UInt8]) throws {
        let which = rng.next() % 14
        let got: Bool
        let expected: Bool
        var name = ""
        switch which {
        case 0: name = "first"; got = try c.first(); expected = cm.first(m)
        case 1: name = "last"; got = try c.last(); expected = cm.last(m)
        case 2, 3: name = "next"; got = try c.next(); expected = cm.next(m)
        case 4: name = "previous"; got = try c.previous(); expected = cm.previous(m)
        case 5: name = "nextDuplicate"; got = try c.nextDuplicate(); expected = cm.nextDuplicate(m)
        case 6: name = "previousDuplicate"; got = try c.previousDuplicate(); expected = cm.previousDuplicate(m)
        case 7: name = "nextKey"; got = try c.nextKey(); expected = cm.nextKey(m)
        case 8: name = "previousKey"; got = try c.previousKey(); expected = cm.previousKey(m)
        case 9: name = "firstDuplicate/lastDuplicate"
            if rng.chance(0.5) { got = try c.firstDuplicate(); expected = cm.firstDuplicate(m) } else { got = try c.lastDuplicate(); expected = cm.lastDuplicate(m) }
        case 10: name = "seek(toKey:) \(hexDescription(key))"; got = try c.seek(toKey: key); expected = cm.seek(key: key, m)
        case 11:
            let k = rng.chance(0.5) ? key : bytes("k") + rng.bytes(1)
            name = "seek(atLeastKey:) \(hexDescription(k))"; got = try c.seek(atLeastKey: k); expected = cm.seek(atLeastKey: k, m)
        case 12:
            let v = rng.chance(0.6) && !m.values(key).isEmpty ? pick(m.values(key)) : randomValue()
            name = "seek(toKey:value:) \(hexDescription(key)) \(hexDescription(v))"
            got = try c.seek(toKey: key, value: v); expected = cm.seek(key: key, value: v, exact: true, m)
        default:
            let v = randomValue()
            name = "seek(toKey:valueAtLeast:) \(hexDescription(key)) \(hexDescription(v))"
            got = try c.seek(toKey: key, valueAtLeast: v); expected = cm.seek(key: key, value: v, exact: false, m)
        }
        log("cursor \(name) → \(got)")
        try require(got == expected, "cursor \(name) returned \(got), model \(expected)")
        let (k, v, n) = (try c.key, try c.value, try c.count)
        try require(k == cm.pos?.key && v == cm.pos?.value,
                    "cursor \(name) is on \(k.map { hexDescription($0) } ?? "nil")/\(v.map { hexDescription($0) } ?? "nil"), model \(cm.pos.map { hexDescription($0.key) + "/" + hexDescription($0.value) } ?? "nil")")
        try require(n == cm.count(m), "cursor count \(n), model \(cm.count(m))")
    }

    private func compareKey(_ txn: borrowing Transaction<some TransactionMode>, _ db: Database, _ key: [UInt8], _ m: DupModel, full: Bool = true) throws {
        let expected = m.values(key)
        let count = try txn.count(forKey: key, in: db)
        try require(count == expected.count, "count of \(hexDescription(key)): \(count), model \(expected.count)")
        try require(try txn.firstValue(forKey: key, in: db) == expected.first, "first value of \(hexDescription(key)) disagrees")
        try require(try txn.lastValue(forKey: key, in: db) == expected.last, "last value of \(hexDescription(key)) disagrees")
        if full { try require(try txn.values(forKey: key, in: db) == expected, "values of \(hexDescription(key)) disagree") }
    }

    /// The committed state: checker clean, every pair in order, the counts.
    private func compareCommitted(_ env: Environment) throws {
        let report = try env.check()
        try require(report.isClean, "checker: \(report)")
        try env.read { txn in
            let db = try txn.openDatabase("dups", duplicates: .sorted)
            var pairs: [([UInt8], [UInt8])] = []
            try txn.forEachDuplicate(in: db) { k, v in
                pairs.append((k.withUnsafeBytes { Array($0) }, v.withUnsafeBytes { Array($0) }))
                return true
            }
            let expected = committed.sortedKeys.flatMap { k in committed.values(k).map { (k, $0) } }
            try require(pairs.count == expected.count && zip(pairs, expected).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 },
                        "committed contents differ: \(pairs.count) pairs, model \(expected.count)")
            try require(try txn.stats(db).entries == UInt64(expected.count), "committed stats entries disagree")
        }
    }
}

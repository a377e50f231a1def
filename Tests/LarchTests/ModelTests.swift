import Foundation
import Testing
@testable import Larch

/// Randomized model-based tests: random write transactions against several databases, every
/// result compared with an in-memory reference, and the structural checker run after every commit.
///
/// Reproduce a failure with the seed printed in its message: `LARCH_SEED=<seed> swift test --filter ModelTests`.
/// Run longer with `LARCH_TEST_SCALE=<n>`.
@Suite("Model-based randomized tests")
struct ModelTests {
    static let defaultSeed: UInt64 = 0x4C41_5243_4800_0001

    @Test("Random transactions, 4 KiB pages")
    func model4K() {
        ModelRun(seed: TestEnvironment.seed(default: Self.defaultSeed), pageSize: 4096,
                 transactions: 650 * TestEnvironment.scale).run()
    }

    @Test("Random transactions, 8 KiB pages")
    func model8K() {
        ModelRun(seed: TestEnvironment.seed(default: Self.defaultSeed), pageSize: 8192,
                 transactions: 220 * TestEnvironment.scale).run()
    }

    @Test("Random transactions, 64 KiB pages")
    func model64K() {
        ModelRun(seed: TestEnvironment.seed(default: Self.defaultSeed), pageSize: 65536,
                 transactions: 80 * TestEnvironment.scale).run()
    }
}

// MARK: - The reference model

/// A sorted map from byte keys to byte values: the expected content of one database. Parallel
/// sorted arrays searched with `memcmp` (hashing long keys is slow in debug builds).
struct SortedMap {
    private(set) var keys: [[UInt8]] = []
    private var values: [[UInt8]] = []

    var count: Int { keys.count }
    var isEmpty: Bool { keys.isEmpty }

    subscript(key: [UInt8]) -> [UInt8]? {
        let i = lowerBound(key)
        return i < keys.count && compareKeys(keys[i], key) == 0 ? values[i] : nil
    }

    /// Index of the first key `≥ key`.
    func lowerBound(_ key: [UInt8]) -> Int {
        var lo = 0, hi = keys.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if compareKeys(keys[mid], key) < 0 { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// Index of the first key `> key`.
    func upperBound(_ key: [UInt8]) -> Int {
        var lo = 0, hi = keys.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if compareKeys(keys[mid], key) <= 0 { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    mutating func set(_ value: [UInt8], for key: [UInt8]) {
        let i = lowerBound(key)
        if i < keys.count && compareKeys(keys[i], key) == 0 {
            values[i] = value
        } else {
            keys.insert(key, at: i)
            values.insert(value, at: i)
        }
    }

    @discardableResult
    mutating func remove(_ key: [UInt8]) -> Bool {
        let i = lowerBound(key)
        guard i < keys.count && compareKeys(keys[i], key) == 0 else { return false }
        keys.remove(at: i)
        values.remove(at: i)
        return true
    }

    mutating func removeAll() {
        keys = []
        values = []
    }

    /// The value at index `i` of `keys`.
    func value(at i: Int) -> [UInt8] { values[i] }

    /// The first key `≥ key`.
    func atLeast(_ key: [UInt8]) -> [UInt8]? {
        let i = lowerBound(key)
        return i < keys.count ? keys[i] : nil
    }

    /// The first key `> key`.
    func after(_ key: [UInt8]) -> [UInt8]? {
        let i = upperBound(key)
        return i < keys.count ? keys[i] : nil
    }

    /// The last key `< key`.
    func before(_ key: [UInt8]) -> [UInt8]? {
        let i = lowerBound(key)
        return i > 0 ? keys[i - 1] : nil
    }

    /// The keys within `range`, in order (computed from the bounds, independently of the engine).
    func keys(in range: KeyRange) -> ArraySlice<[UInt8]> {
        let lo: Int
        switch range.lower {
        case .unbounded: lo = 0
        case .included(let b): lo = lowerBound(b)
        case .excluded(let b): lo = upperBound(b)
        }
        let hi: Int
        switch range.upper {
        case .unbounded: hi = keys.count
        case .included(let b): hi = upperBound(b)
        case .excluded(let b): hi = lowerBound(b)
        }
        return lo < hi ? keys[lo..<hi] : []
    }
}

/// The expected content of the whole file: the main database and the named ones.
struct Model {
    var main = SortedMap()
    var named: [String: SortedMap] = [:]

    subscript(db: String?) -> SortedMap { db.map { named[$0]! } ?? main }

    /// Mutates one database in place.
    @discardableResult
    mutating func update<R>(_ db: String?, _ body: (inout SortedMap) -> R) -> R {
        if let n = db { return body(&named[n]!) }
        return body(&main)
    }

    /// Named databases in byte order of their names, as `databaseNames()` lists them.
    var sortedNames: [String] {
        named.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }

    var totalEntries: Int { named.values.reduce(main.count) { $0 + $1.count } }
}

// MARK: - The randomized run

/// Thrown after an issue was recorded, to end the run at the first discrepancy.
private struct StopRun: Error {}

/// A cursor kept open across the operations of one write transaction, and where the model says it is.
private struct Roam {
    let db: String?
    let cursor: Cursor<ReadWrite>
    /// The key the cursor is on (or was on, if since deleted); nil when its position is not tracked.
    var at: [UInt8]?
}

private func hex(_ b: some Collection<UInt8>) -> String {
    let digits: [Character] = Array("0123456789abcdef")
    var s = "\(b.count)B:"
    func append(_ part: some Sequence<UInt8>) {
        for x in part {
            s.append(digits[Int(x >> 4)])
            s.append(digits[Int(x & 15)])
        }
    }
    if b.count <= 16 {
        append(b)
    } else {
        // Long keys often share long prefixes: show both ends.
        append(b.prefix(6))
        s += "…"
        append(b.suffix(6))
    }
    return s
}

private func dbLabel(_ name: String?) -> String { name.map { "db \"\($0.prefix(12))\"" } ?? "main" }

final class ModelRun {
    let seed: UInt64
    let pageSize: Int
    let transactions: Int
    let limits: PageLimits
    let maxKey: Int
    let maxValue: Int
    /// Database names the run creates and drops (one non-ASCII, one long).
    let names = ["alpha", "beta", "gamma", "δέλτα", "e", String(repeating: "n", count: 200)]
    /// Most entries kept per database before deletes dominate.
    let softLimit: Int

    private var rng: SeededGenerator
    private var dir: TemporaryDirectory?
    private var env: Environment?
    private var handles: [String: Database] = [:]
    private var committed = Model()
    private var txnNumber = 0
    private var opNumber = 0
    private var trace: [String] = []
    /// A shared long prefix, so that long keys differ only near their ends (long separators, deep trees).
    private let longPrefix: [UInt8]
    private var tally = (commits: 0, aborts: 0, reopens: 0)
    /// Nested transactions: the current depth, the deepest reached, and how each ended.
    private var nesting = (depth: 0, deepest: 0, commits: 0, aborts: 0, failures: 0)
    /// `Options.maxDirtyBytes` for every open (nil: the default). A few pages: transactions spill
    /// constantly, and every abort is checked to leave the pages the file uses byte-identical.
    let maxDirtyBytes: Int?
    /// Pages spilled by committed explicit transactions, and aborts whose file was compared.
    private(set) var spilledPages = 0
    private(set) var abortsCompared = 0

    init(seed: UInt64, pageSize: Int, transactions: Int, maxDirtyBytes: Int? = nil) {
        self.maxDirtyBytes = maxDirtyBytes
        self.seed = seed
        self.pageSize = pageSize
        self.transactions = transactions
        limits = PageLimits(pageSize: pageSize)
        maxKey = pageSize / 4
        maxValue = max(20_000, 3 * pageSize)
        softLimit = pageSize >= 65536 ? 250 : 400
        var g = SeededGenerator(seed: seed ^ UInt64(pageSize))
        longPrefix = g.bytes(pageSize / 4)
        rng = g
    }

    // MARK: Reporting

    private func context() -> String {
        "seed=\(seed) (rerun: LARCH_SEED=\(seed) swift test --filter ModelTests) pageSize=\(pageSize) txn #\(txnNumber) op #\(opNumber)\nlast operations:\n  "
            + trace.suffix(30).joined(separator: "\n  ")
    }

    private func log(_ s: String) {
        if trace.count >= 200 { trace.removeFirst(100) }
        trace.append("[t\(txnNumber) o\(opNumber)] " + s)
    }

    private func fail(_ message: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> Never {
        Issue.record(Comment(rawValue: "\(message)\n\(context())"), sourceLocation: sourceLocation)
        throw StopRun()
    }

    private func require(_ condition: Bool, _ message: @autoclosure () -> String,
                         sourceLocation: SourceLocation = #_sourceLocation) throws {
        if !condition { try fail(message(), sourceLocation: sourceLocation) }
    }

    private func expectError(_ expected: LarchError, _ what: @autoclosure () -> String,
                             sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) throws {
        do {
            try body()
        } catch let e as LarchError {
            try require(e == expected, "\(what()): expected error \(expected), got \(e)", sourceLocation: sourceLocation)
            return
        }
        try fail("\(what()): expected error \(expected), but it succeeded", sourceLocation: sourceLocation)
    }

    // MARK: Driver

    func run() {
        let start = Date()
        do {
            dir = try TemporaryDirectory("larch-model-\(pageSize)")
            env = try open(first: true)
            for _ in 0..<transactions {
                try runTransaction()
                if rng.chance(0.04) { try reopen() }
            }
            try reopen()
        } catch is StopRun {
        } catch {
            Issue.record(Comment(rawValue: "unexpected error: \(error)\n\(context())"))
        }
        env = nil
        dir?.remove()
        let seconds = Date().timeIntervalSince(start)
        print("ModelRun seed=\(seed) pageSize=\(pageSize): \(txnNumber) transactions (\(tally.commits) committed, \(tally.aborts) aborted), \(opNumber) operations, \(tally.reopens) reopens, \(committed.totalEntries) entries at the end, nested transactions \(nesting.commits) committed / \(nesting.aborts) thrown / \(nesting.failures) failed, depth up to \(nesting.deepest)\(maxDirtyBytes == nil ? "" : ", \(spilledPages) pages spilled in explicit commits, \(abortsCompared) aborts compared byte for byte"), \(String(format: "%.1f", seconds)) s")
    }

    private func open(first: Bool) throws -> Environment {
        let durability: Durability = rng.chance(0.8) ? .noSync : (rng.chance(0.5) ? .noMetaSync : .full)
        // An existing file keeps its own page size whatever the options say.
        let requested = first ? pageSize : [4096, 8192, 65536][Int(rng.next() % 3)]
        let verify = rng.chance(0.5)
        log("open pageSize option \(requested), \(durability), verifyChecksums \(verify)")
        var options = Options(pageSize: requested, durability: durability, verifyChecksums: verify)
        options.strictChecks = .full   // every commit checks the state it is about to publish
        if let maxDirtyBytes { options.maxDirtyBytes = maxDirtyBytes }
        let e = try Environment(path: dir!.file(), options: options)
        let s = try e.stats()
        try require(s.pageSize == pageSize, "reopened file reports page size \(s.pageSize), created with \(pageSize)")
        return e
    }

    private func reopen() throws {
        tally.reopens += 1
        log("reopen")
        do {
            let old = env!
            old.close()
            try expectError(.environmentClosed, "beginRead after close()") { _ = try old.beginRead() }
            try expectError(.environmentClosed, "beginWrite after close()") { _ = try old.beginWrite() }
        }
        env = nil
        handles = [:]
        if rng.chance(0.2) {
            // A read-only open in between: same content, no writers.
            log("open read-only")
            let ro = try Environment(path: dir!.file(), options: Options(readOnly: true, createIfMissing: false))
            try expectError(.readOnlyEnvironment, "beginWrite on a read-only environment") { _ = try ro.beginWrite() }
            let r = try ro.beginRead()
            try compareAll(r, committed, label: "read-only environment", gets: false)
            r.abort()
            let report = try assertClean(ro, Comment(rawValue: "read-only environment\n\(context())"))
            if !report.isClean { throw StopRun() }
            handles = [:] // those belonged to the read-only environment
        }
        env = try open(first: false)
        try checkCommitted(label: "after reopen")
    }

    private func handle(_ name: String?, _ txn: borrowing Transaction<some TransactionMode>) throws -> Database {
        guard let name else { return .main }
        if let h = handles[name] { return h }
        let h = try txn.openDatabase(name)
        handles[name] = h
        return h
    }

    /// Structural check plus a full comparison of the committed state through a new read transaction.
    private func checkCommitted(label: String) throws {
        let env = env!
        let report = try assertClean(env, Comment(rawValue: "\(label)\n\(context())"))
        if !report.isClean { throw StopRun() }
        let s = try env.stats()
        try require(s.databaseCount == committed.named.count, "\(label): stats().databaseCount \(s.databaseCount), model has \(committed.named.count)")
        try require(s.main.entries == UInt64(committed.main.count), "\(label): stats().main.entries \(s.main.entries), model has \(committed.main.count)")
        try require(s.pageCount == report.pageCount && s.freePages == report.freePages,
                    "\(label): stats() says \(s.pageCount) pages / \(s.freePages) free, the checker \(report.pageCount) / \(report.freePages)")
        let r = try env.beginRead()
        try compareAll(r, committed, label: label, gets: true)
    }

    private func opCount() -> Int {
        let r = rng.next() % 100
        if r < 60 { return Int(rng.next() % 11) }
        if r < 90 { return 11 + Int(rng.next() % 50) }
        return 61 + Int(rng.next() % 190)
    }

    /// The random operations of one write transaction, applied to `w` too.
    private func transactionBody(_ txn: inout WriteTransaction, _ w: inout Model) throws {
        var roam: Roam? = nil
        let n = opCount()
        log("\(n) ops")
        for _ in 0..<n {
            opNumber += 1
            try randomOperation(&txn, &w, &roam)
        }
        if rng.chance(0.08) { try compareAll(txn, w, label: "inside the write transaction", gets: true) }
    }

    private struct AbortRequested: Error {}

    private func runTransaction() throws {
        txnNumber += 1
        let env = env!
        let readerModel = committed
        var reader: ReadTransaction? = rng.chance(0.12) ? try env.beginRead() : nil
        if reader != nil { log("begin reader on snapshot") }
        let commit = rng.chance(0.75)
        // With a tiny dirty budget, an abort must leave every page the file uses as it was (spills
        // write only pages the transaction allocated) and the file's size (growth given back).
        let before: (bytes: [UInt8], used: Set<UInt64>)? = !commit && maxDirtyBytes != nil ? try fileImage() : nil
        if rng.chance(0.2) {
            // Environment.write: commits when the body returns, aborts when it throws.
            log("begin env.write { } (\(commit ? "returns" : "throws"))")
            var w = committed
            do {
                try env.write { txn in
                    try transactionBody(&txn, &w)
                    if !commit { throw AbortRequested() }
                }
                committed = w
                tally.commits += 1
            } catch is AbortRequested {
                tally.aborts += 1
            }
        } else {
            try explicitTransaction(env, commit: commit)
        }
        if let r = reader.take() {
            try compareAll(r, readerModel, label: "read transaction begun before the write", gets: false)
            r.abort()
        }
        if rng.chance(0.05) {
            log("sync")
            try env.sync()
        }
        if commit {
            try checkCommitted(label: "after commit")
        } else {
            let r = try env.beginRead()
            try compareAll(r, committed, label: "after abort", gets: rng.chance(0.3))
            if let before { try compareAfterAbort(before) }
        }
    }

    /// The file's bytes and the pages its current state (and snapshots) use.
    private func fileImage() throws -> (bytes: [UInt8], used: Set<UInt64>) {
        let r = try env!.beginRead()
        let used = try r.pagesInUse()
        r.abort()
        return (Array(try Data(contentsOf: URL(fileURLWithPath: dir!.file()))), used)
    }

    private func compareAfterAbort(_ before: (bytes: [UInt8], used: Set<UInt64>)) throws {
        let after = Array(try Data(contentsOf: URL(fileURLWithPath: dir!.file())))
        try require(after.count == before.bytes.count, "after abort: the file is \(after.count) bytes, \(before.bytes.count) before the transaction (spill growth not given back?)")
        let pages = after.count / pageSize
        for p in 0..<pages where p < 2 || before.used.contains(UInt64(p)) {
            let same = after.withUnsafeBytes { a in before.bytes.withUnsafeBytes { b in
                memcmp(a.baseAddress! + p * pageSize, b.baseAddress! + p * pageSize, pageSize) == 0 } }
            try require(same, "after abort: page \(p), which the committed state uses, changed")
        }
        abortsCompared += 1
    }

    private func explicitTransaction(_ env: Environment, commit: Bool) throws {
        var txn = try env.beginWrite()
        log("begin write")
        var w = committed
        try transactionBody(&txn, &w)
        if commit {
            log("commit")
            spilledPages += try txn.commit().pagesSpilled   // a use of `txn` after this does not compile (MisuseCompileTests)
            committed = w
            tally.commits += 1
        } else if rng.chance(0.7) {
            log("abort")
            txn.abort()
            tally.aborts += 1
        } else {
            log("release without abort")
            _ = consume txn
            tally.aborts += 1
        }
    }

    // MARK: Comparison

    private func compareAll(_ txn: borrowing Transaction<some TransactionMode>, _ model: Model, label: String, gets: Bool) throws {
        let names = try txn.databaseNames()
        let expected = model.sortedNames
        try require(names == expected, "\(label): databaseNames() = \(names), the model has \(expected)")
        for name in [nil] + expected {
            try compareDatabase(txn, name, model[name], label: "\(label), \(dbLabel(name))", gets: gets)
        }
        for name in self.names where model.named[name] == nil {
            try expectError(.databaseNotFound(name: name), "\(label): openDatabase of dropped/never-created \(name)") {
                _ = try txn.openDatabase(name)
            }
        }
    }

    private func compareDatabase(_ txn: borrowing Transaction<some TransactionMode>, _ name: String?, _ m: SortedMap, label: String, gets: Bool) throws {
        let db = try handle(name, txn)
        let reverse = rng.chance(0.2)
        var seq = try txn.entries(in: db, reverse: reverse)
        let expectedKeys = reverse ? Array(m.keys.reversed()) : m.keys
        var i = 0
        while let (k, v) = try seq.next() {
            guard i < expectedKeys.count else {
                try fail("\(label): entries(reverse: \(reverse)) yields an extra entry \(hex(k)) after the model's \(m.count)")
            }
            let ek = expectedKeys[i]
            try require(equalBytes(k, ek), "\(label): entries(reverse: \(reverse)) entry \(i) has key \(hex(k)), expected \(hex(ek))")
            let ev = m.value(at: reverse ? m.count - 1 - i : i)
            try require(equalBytes(v, ev), "\(label): entries entry \(i) key \(hex(k)) has value \(hex(v)), expected \(hex(ev))")
            i += 1
        }
        try require(i == m.count, "\(label): entries(reverse: \(reverse)) yielded \(i) entries, the model has \(m.count); first missing key \(i < expectedKeys.count ? hex(expectedKeys[i]) : "-")")
        if rng.chance(0.3) { try forEachCheck(txn, db, m, label: label) }
        let s = try txn.stats(db)
        try require(s.entries == UInt64(m.count), "\(label): stats().entries = \(s.entries), the model has \(m.count)")
        try require((s.depth == 0) == m.isEmpty, "\(label): stats().depth = \(s.depth) with \(m.count) entries")
        if gets {
            for (i, k) in m.keys.enumerated() {
                let got = try txn.get(k, in: db)
                try require(equalBytes(got, m.value(at: i)), "\(label): get(\(hex(k))) = \(got.map { hex($0) } ?? "nil"), expected \(hex(m.value(at: i)))")
            }
        }
    }

    // MARK: Random data

    private func keyLength() -> Int {
        let r = rng.next() % 100
        switch r {
        case 0..<45: return 1 + Int(rng.next() % 8)
        case 45..<70: return 9 + Int(rng.next() % 32)
        case 70..<84: return 41 + Int(rng.next() % 160)
        case 84..<93: return 201 + Int(rng.next() % UInt64(maxKey - 201))
        default: return maxKey
        }
    }

    private static let smallAlphabet: [UInt8] = [0x00, 0x01, 0x61, 0x62, 0xFE, 0xFF]

    /// A random key, often related to an existing one (shared prefixes, neighbours, collisions).
    private func generateKey(_ m: SortedMap) -> [UInt8] {
        let len = keyLength()
        switch rng.next() % 10 {
        case 0, 1, 2:
            let n = rng.chance(0.5) ? min(len, 1 + Int(rng.next() % 3)) : len
            return (0..<n).map { _ in Self.smallAlphabet[Int(rng.next() % 6)] }
        case 3, 4:
            guard let base = randomExistingKey(m) else { return rng.bytes(len) }
            var k = base
            switch rng.next() % 6 {
            case 0: k += rng.bytes(1 + Int(rng.next() % 3))
            case 1: if k.count > 1 { k.removeLast() }
            case 2: k[k.count - 1] &+= 1
            case 3: k[k.count - 1] &-= 1
            case 4: k.append(rng.chance(0.5) ? 0x00 : 0xFF)
            default: k = Array(k.prefix(1 + Int(rng.next() % UInt64(k.count))))
            }
            return Array(k.prefix(maxKey))
        case 5, 6:
            let tail = min(len, 1 + Int(rng.next() % 4))
            return Array(longPrefix.prefix(len - tail)) + rng.bytes(tail)
        default:
            return rng.bytes(len)
        }
    }

    private func randomExistingKey(_ m: SortedMap) -> [UInt8]? {
        m.isEmpty ? nil : m.keys[Int(rng.next() % UInt64(m.count))]
    }

    /// A key not in `m`.
    private func absentKey(_ m: SortedMap) -> [UInt8] {
        for _ in 0..<20 {
            let k = generateKey(m)
            if m[k] == nil { return k }
        }
        while true {
            let k = rng.bytes(maxKey)
            if m[k] == nil { return k }
        }
    }

    /// An existing key most of the time (when there is one), otherwise a generated one.
    private func someKey(_ m: SortedMap, existing p: Double) -> [UInt8] {
        if rng.chance(p), let k = randomExistingKey(m) { return k }
        return generateKey(m)
    }

    private func randomValue(keyLength: Int) -> [UInt8] {
        let r = rng.next() % 100
        let n: Int
        switch r {
        case 0..<35: n = Int(rng.next() % 9)
        case 35..<60: n = 9 + Int(rng.next() % 92)
        case 60..<74: n = 101 + Int(rng.next() % 900)
        case 74..<82:
            // Around the inline/overflow threshold for this key.
            let inlineMax = limits.maxInlineCell - PageLayout.slotSize - LeafCell.headerSize - keyLength
            n = max(0, inlineMax - 2 + Int(rng.next() % 5))
        case 82..<93: n = 1000 + Int(rng.next() % UInt64(pageSize + pageSize / 4))
        default: n = Int(rng.next() % UInt64(maxValue + 1))
        }
        return rng.bytes(n)
    }

    // MARK: Operations

    private enum Op: CaseIterable {
        case put, putNoOverwrite, delete, cursorPut, cursorDelete, range, get, roam
        case createDatabase, dropDatabase, clear, invalid, bulkInsert, bulkDelete, churn, midReader, nested
    }

    private func pickOperation(big: Bool) -> Op {
        let weights: [(Op, Int)] = [
            (.put, big ? 120 : 260), (.putNoOverwrite, 50), (.delete, big ? 300 : 120), (.cursorPut, 50),
            (.cursorDelete, big ? 120 : 60), (.range, 80), (.get, 110), (.roam, 130), (.createDatabase, 18),
            (.dropDatabase, 8), (.clear, 2), (.invalid, 6), (.bulkInsert, big ? 2 : 14), (.bulkDelete, big ? 40 : 12),
            (.churn, pageSize <= 8192 ? 1 : 0), (.midReader, 3), (.nested, nesting.depth < 8 ? 30 : 0),
        ]
        var r = Int(rng.next() % UInt64(weights.reduce(0) { $0 + $1.1 }))
        for (op, w) in weights {
            if r < w { return op }
            r -= w
        }
        return .put
    }

    private func randomOperation(_ txn: inout WriteTransaction, _ w: inout Model, _ roam: inout Roam?) throws {
        let existingNames = w.sortedNames
        let name: String? = existingNames.isEmpty || rng.chance(0.4) ? nil : existingNames[Int(rng.next() % UInt64(existingNames.count))]
        let db = try handle(name, txn)
        // Read the model afresh each time: a copy kept alive across a mutation would make every
        // mutation copy the whole database model.
        func m() -> SortedMap { w[name] }
        let label = dbLabel(name)
        switch pickOperation(big: m().count > softLimit) {
        case .put:
            let k = someKey(m(), existing: 0.35)
            var v = randomValue(keyLength: k.count)
            if let old = m()[k], rng.chance(0.2) { v = rng.bytes(old.count) } // same size: rewritten in place
            log("put \(label) \(hex(k)) value \(v.count)B (\(m()[k] == nil ? "new" : "overwrite"))")
            try txn.put(v, forKey: k, in: db)
            w.update(name) { $0.set(v, for: k) }
            if rng.chance(0.2) {
                let got = try txn.get(k, in: db)
                try require(got == v, "get right after put(\(hex(k))) in \(label) = \(got.map { hex($0) } ?? "nil"), expected \(hex(v))")
            }

        case .putNoOverwrite:
            if let k = randomExistingKey(m()), rng.chance(0.6) {
                let v = randomValue(keyLength: k.count)
                log("put(overwrite: false) existing \(label) \(hex(k))")
                try expectError(.keyExists, "put(overwrite: false) of existing key \(hex(k)) in \(label)") {
                    try txn.put(v, forKey: k, in: db, overwrite: false)
                }
                let got = try txn.get(k, in: db)
                try require(equalBytes(got, m()[k]), "after a rejected put(overwrite: false), get(\(hex(k))) = \(got.map { hex($0) } ?? "nil"), expected the old \(hex(m()[k]!))")
            } else {
                let k = absentKey(m())
                let v = randomValue(keyLength: k.count)
                log("put(overwrite: false) new \(label) \(hex(k)) value \(v.count)B")
                try txn.put(v, forKey: k, in: db, overwrite: false)
                w.update(name) { $0.set(v, for: k) }
            }

        case .delete:
            if let k = randomExistingKey(m()), rng.chance(0.75) {
                log("delete existing \(label) \(hex(k))")
                let r = try txn.delete(k, in: db)
                try require(r, "delete(\(hex(k))) of a present key in \(label) returned false")
                w.update(name) { $0.remove(k) }
            } else {
                let k = absentKey(m())
                log("delete absent \(label) \(hex(k))")
                let r = try txn.delete(k, in: db)
                try require(!r, "delete(\(hex(k))) of an absent key in \(label) returned true")
            }

        case .cursorPut:
            let k = someKey(m(), existing: 0.3)
            let v = randomValue(keyLength: k.count)
            log("cursor.put \(label) \(hex(k)) value \(v.count)B")
            let c = try txn.cursor(db)
            try c.put(v, forKey: k)
            w.update(name) { $0.set(v, for: k) }
            let ck = try c.key
            try require(ck == k, "after cursor.put(\(hex(k))) in \(label) the cursor is on \(ck.map { hex($0) } ?? "nil")")
            let cv = try c.value
            try require(cv == v, "after cursor.put(\(hex(k))) in \(label) the cursor's value is \(cv.map { hex($0) } ?? "nil"), expected \(hex(v))")
            if rng.chance(0.5) {
                let expected = w[name].after(k)
                let moved = try c.next()
                try require(moved == (expected != nil), "next() after cursor.put(\(hex(k))) returned \(moved), expected \(expected != nil)")
                if let e = expected {
                    let got = try c.key
                    try require(got == e, "next() after cursor.put(\(hex(k))) is on \(got.map { hex($0) } ?? "nil"), expected \(hex(e))")
                }
            }

        case .cursorDelete:
            guard let k = randomExistingKey(m()) else { return }
            log("cursor.delete \(label) \(hex(k))")
            let c = try txn.cursor(db)
            let found = try c.seek(to: k)
            try require(found, "seek(to: \(hex(k))) of a present key in \(label) returned false")
            try c.delete()
            w.update(name) { $0.remove(k) }
            let after = w[name]
            switch rng.next() % 3 {
            case 0:
                let expected = after.after(k)
                let moved = try c.next()
                let got = try c.key
                try require(moved == (expected != nil) && got == expected,
                            "after cursor.delete(\(hex(k))) in \(label), next() returned \(moved) on \(got.map { hex($0) } ?? "nil"), expected \(expected.map { hex($0) } ?? "nil")")
            case 1:
                let expected = after.before(k)
                let moved = try c.previous()
                let got = try c.key
                try require(moved == (expected != nil) && got == expected,
                            "after cursor.delete(\(hex(k))) in \(label), previous() returned \(moved) on \(got.map { hex($0) } ?? "nil"), expected \(expected.map { hex($0) } ?? "nil")")
            default:
                let expected = after.atLeast(k)
                let got = try c.key
                try require(got == expected, "after cursor.delete(\(hex(k))) in \(label), key = \(got.map { hex($0) } ?? "nil"), expected the successor \(expected.map { hex($0) } ?? "nil")")
            }

        case .range:
            try rangeScan(txn, db, m(), label: label)

        case .churn:
            try churn(&txn, db, name, &w)

        case .nested:
            try nestedTransaction(&txn, &w, &roam)

        case .midReader:
            // A read transaction begun while the write is under way sees only the last commit.
            log("read transaction in the middle of the write")
            let r = try env!.beginRead()
            try compareAll(r, committed, label: "read transaction begun during a write", gets: false)

        case .get:
            var k = someKey(m(), existing: 0.6)
            if rng.chance(0.15), let e = randomExistingKey(m()) { k = e.count < maxKey ? e + [0] : Array(e.dropLast()) }
            if k.isEmpty { k = [0] }
            log("get \(label) \(hex(k))")
            let got = try txn.get(k, in: db)
            try require(equalBytes(got, m()[k]), "get(\(hex(k))) in \(label) = \(got.map { hex($0) } ?? "nil"), expected \(m()[k].map { hex($0) } ?? "nil")")
            let has = try txn.contains(k, in: db)
            try require(has == (m()[k] != nil), "contains(\(hex(k))) in \(label) = \(has)")
            if rng.chance(0.3) {
                let inPlace = try txn.withValue(forKey: k, in: db) { span in span.withUnsafeBytes { Array($0) } }
                try require(equalBytes(inPlace, m()[k]), "withValue(forKey: \(hex(k))) in \(label) = \(inPlace.map { hex($0) } ?? "nil")")
            }

        case .roam:
            if roam == nil || (roam!.db != name && rng.chance(0.2)) {
                roam = Roam(db: name, cursor: try txn.cursor(db), at: nil)
                log("roaming cursor on \(label)")
            }
            try roamStep(&roam!, w[roam!.db])

        case .createDatabase:
            if let newName = names.first(where: { w.named[$0] == nil }), rng.chance(0.8) {
                if rng.chance(0.2) {
                    try expectError(.databaseNotFound(name: newName), "openDatabase(\(newName), create: false) of a missing database") {
                        _ = try txn.openDatabase(newName, create: false)
                    }
                }
                log("create database \(newName)")
                let h = try txn.openDatabase(newName, create: true)
                handles[newName] = h
                w.named[newName] = SortedMap()
                let s = try txn.stats(h)
                try require(s.entries == 0 && s.depth == 0, "new database \(newName) has \(s.entries) entries, depth \(s.depth)")
            } else if let existing = name {
                log("openDatabase(create: true) of existing \(existing)")
                let h = try txn.openDatabase(existing, create: true)
                let s = try txn.stats(h)
                try require(s.entries == UInt64(m().count), "openDatabase(create: true) of existing \(existing): \(s.entries) entries, the model has \(m().count)")
            }

        case .dropDatabase:
            guard let dropped = name else {
                log("drop main (rejected)")
                try expectError(.invalidDatabaseName(name: "", reason: "the main database cannot be dropped; use clear()"), "dropDatabase(.main)") {
                    try txn.dropDatabase(.main)
                }
                return
            }
            log("drop database \(dropped) (\(m().count) entries)")
            try txn.dropDatabase(db)
            w.named[dropped] = nil
            if roam?.db == dropped { roam = nil }
            try expectError(.databaseNotFound(name: dropped), "openDatabase(\(dropped)) after dropping it") { _ = try txn.openDatabase(dropped) }
            try expectError(.databaseNotFound(name: dropped), "put into \(dropped) after dropping it") { try txn.put([1], forKey: [1], in: db) }
            let listed = try txn.databaseNames()
            try require(!listed.contains(dropped), "databaseNames() still lists dropped \(dropped): \(listed)")

        case .clear:
            log("clear \(label) (\(m().count) entries)")
            try txn.clear(db)
            w.update(name) { $0.removeAll() }
            let s = try txn.stats(db)
            try require(s.entries == 0 && s.depth == 0, "after clear(\(label)): \(s.entries) entries, depth \(s.depth)")

        case .invalid:
            log("invalid keys in \(label)")
            try expectError(.emptyKey, "put with an empty key") { try txn.put([1], forKey: [UInt8](), in: db) }
            try expectError(.keyTooLarge(size: maxKey + 1, limit: maxKey), "put with a \(maxKey + 1)-byte key") {
                try txn.put([1], forKey: [UInt8](repeating: 7, count: maxKey + 1), in: db)
            }
            try expectError(.emptyKey, "get with an empty key") { _ = try txn.get([UInt8](), in: db) }
            let s = try txn.stats(db)
            try require(s.entries == UInt64(m().count), "rejected puts changed \(label): \(s.entries) entries, the model has \(m().count)")

        case .bulkInsert:
            // Ascending keys appended under one prefix: the sequential-insert split path.
            let prefix = Array(someKey(m(), existing: 0.5).prefix(maxKey - 4))
            let n = 20 + Int(rng.next() % 130)
            let valueSize = Int(rng.next() % 64)
            log("bulk insert \(label): \(n) ascending keys under \(hex(prefix)), values \(valueSize)B")
            for i in 0..<n {
                let k = prefix + withUnsafeBytes(of: UInt32(i).bigEndian) { Array($0) }
                let v = rng.bytes(valueSize)
                try txn.put(v, forKey: k, in: db)
                w.update(name) { $0.set(v, for: k) }
            }

        case .bulkDelete:
            guard !m().isEmpty else { return }
            let start = Int(rng.next() % UInt64(m().count))
            let n = min(m().count - start, 10 + Int(rng.next() % 150))
            let run = Array(m().keys[start..<(start + n)])
            if rng.chance(0.5) {
                log("bulk delete \(label): \(n) keys from \(hex(run[0])) with txn.delete")
                for k in run {
                    let r = try txn.delete(k, in: db)
                    try require(r, "bulk delete of present key \(hex(k)) in \(label) returned false")
                    w.update(name) { $0.remove(k) }
                }
            } else {
                log("bulk delete \(label): \(n) keys from \(hex(run[0])) with cursor.delete + next")
                let c = try txn.cursor(db)
                let found = try c.seek(to: run[0])
                try require(found, "seek(to: \(hex(run[0]))) of a present key returned false")
                for (i, k) in run.enumerated() {
                    let ck = try c.key
                    try require(ck == k, "bulk cursor delete in \(label): cursor on \(ck.map { hex($0) } ?? "nil"), expected \(hex(k))")
                    try c.delete()
                    w.update(name) { $0.remove(k) }
                    let expected = w[name].after(k)
                    let moved = try c.next()
                    try require(moved == (expected != nil), "bulk cursor delete in \(label): next() after deleting #\(i) \(hex(k)) returned \(moved), expected \(expected.map { hex($0) } ?? "nil")")
                }
            }
        }
    }

    private struct ChildAbort: Error {}

    /// A nested transaction of `txn` with random operations (and maybe nested transactions of
    /// its own), applied to a copy of the model — the models of the open levels form a stack —
    /// that replaces `w` only when the child commits. It commits, throws, or fails part-way (a
    /// failure injected as an I/O error would mark it), and the parent must then be exactly as
    /// the model says, its roaming cursor included.
    private func nestedTransaction(_ txn: inout WriteTransaction, _ w: inout Model, _ roam: inout Roam?) throws {
        nesting.depth += 1
        nesting.deepest = max(nesting.deepest, nesting.depth)
        defer { nesting.depth -= 1 }
        let depth = nesting.depth
        let outcome = rng.next() % 20   // 0..<13 commit, 13..<17 throw, 17..<20 fail
        let n = rng.chance(0.8) ? Int(rng.next() % 12) : 12 + Int(rng.next() % 40)
        log("nested depth \(depth): \(n) ops, then \(outcome < 13 ? "commit" : outcome < 17 ? "throw" : "failure")")
        var cw = w
        let injected = LarchError.io(operation: "pwrite (injected)", path: "nested depth \(depth)", errno: 5, message: "Input/output error")
        do {
            try txn.nested { child in
                if let r = roam, rng.chance(0.3) {
                    try expectError(.nestedTransactionOpen, "the parent's cursor inside a nested transaction") { _ = try r.cursor.next() }
                }
                var childRoam: Roam? = nil
                // Often straight into a deeper level: random depths.
                if rng.chance(0.3) { opNumber += 1; try nestedTransaction(&child, &cw, &childRoam) }
                for _ in 0..<n {
                    opNumber += 1
                    try randomOperation(&child, &cw, &childRoam)
                }
                if rng.chance(0.15) { try compareAll(child, cw, label: "inside a nested transaction at depth \(depth)", gets: rng.chance(0.3)) }
                if outcome >= 17 {
                    log("nested depth \(depth): failure injected")
                    child.core.writeBox!.state.failure = injected
                    try expectError(injected, "a put in a failed nested transaction") { try child.put([1], forKey: [1]) }
                    if rng.chance(0.5) { return }   // returns normally: nested() must still throw
                    throw injected
                }
                if outcome >= 13 { throw ChildAbort() }
            }
            try require(outcome < 13, "nested transaction at depth \(depth) that should have \(outcome < 17 ? "thrown" : "failed") committed")
            log("nested depth \(depth) committed")
            nesting.commits += 1
            w = cw
        } catch is ChildAbort {
            log("nested depth \(depth) thrown")
            nesting.aborts += 1
        } catch let e as LarchError where e == injected {
            try require(outcome >= 17, "nested transaction at depth \(depth) threw the injected failure but was not failed")
            log("nested depth \(depth) failed")
            nesting.failures += 1
        }
        if let r = roam, let name = r.db, w.named[name] == nil { roam = nil }   // its database was dropped
        if rng.chance(0.3) { try compareAll(txn, w, label: "after a nested transaction at depth \(depth)", gets: rng.chance(0.3)) }
        // The parent goes on: a change at once, so that a failed child's state would show.
        let k = someKey(w.main, existing: 0.3)
        let v = randomValue(keyLength: k.count)
        log("put main \(hex(k)) value \(v.count)B after the nested transaction")
        try txn.put(v, forKey: k)
        w.update(nil) { $0.set(v, for: k) }
    }

    /// Enough near-maximum keys to dirty well over a thousand pages in one transaction (the dirty-page
    /// table must grow), then most of them deleted again in random order, so that pages this
    /// transaction allocated are merged away and freed while still dirty.
    private func churn(_ txn: inout WriteTransaction, _ db: Database, _ name: String?, _ w: inout Model) throws {
        let n = 2600
        log("churn \(dbLabel(name)): \(n) entries with \(maxKey)-byte keys, then 90% deleted")
        var added: [[UInt8]] = []
        added.reserveCapacity(n)
        for _ in 0..<n {
            let k = Array(longPrefix.prefix(maxKey - 8)) + rng.bytes(8)
            let v = rng.bytes(Int(rng.next() % 16))
            try txn.put(v, forKey: k, in: db)
            w.update(name) { $0.set(v, for: k) }
            added.append(k)
        }
        added.shuffle(using: &rng)
        for k in added.prefix(n * 9 / 10) {
            let r = try txn.delete(k, in: db)
            try require(r, "churn: delete(\(hex(k))) of a key put in the same transaction returned false")
            w.update(name) { $0.remove(k) }
        }
    }

    /// A random key range (all bound kinds, ranges of `ByteKey`, prefixes), forward or reverse.
    private func boundKey(_ m: SortedMap) -> [UInt8] {
        if rng.chance(0.03) { return [] }
        return someKey(m, existing: 0.5)
    }

    private func describe(_ b: KeyRange.Bound) -> String {
        switch b {
        case .unbounded: return "unbounded"
        case .included(let k): return "included(\(hex(k)))"
        case .excluded(let k): return "excluded(\(hex(k)))"
        }
    }

    /// A random `KeyRange` (any bound kinds, or a prefix, often ending in 0xFF) and the model's keys in it.
    private func randomKeyRange(_ m: SortedMap) -> (description: String, range: KeyRange, keys: [[UInt8]]) {
        if rng.chance(0.35) {
            var p = Array(someKey(m, existing: 0.8).prefix(Int(rng.next() % 6)))
            if rng.chance(0.3) { p.append(0xFF) }
            if rng.chance(0.1) { p += [0xFF, 0xFF] }
            return ("prefix \(hex(p))", .prefix(p), m.keys.filter { $0.starts(with: p) })
        }
        func bound() -> KeyRange.Bound {
            switch rng.next() % 3 {
            case 0: return .unbounded
            case 1: return .included(boundKey(m))
            default: return .excluded(boundKey(m))
            }
        }
        let r = KeyRange(lower: bound(), upper: bound())
        return ("KeyRange(\(describe(r.lower)), \(describe(r.upper)))", r, Array(m.keys(in: r)))
    }

    /// The zero-copy `forEach` over a random range, to the end or stopped early, against the model.
    /// In read transactions it takes the leaf-at-a-time fast path.
    private func forEachCheck(_ txn: borrowing Transaction<some TransactionMode>, _ db: Database, _ m: SortedMap, label: String) throws {
        let (description, range, forward) = randomKeyRange(m)
        let reverse = rng.chance(0.5)
        let expected = reverse ? Array(forward.reversed()) : forward
        let limit = rng.chance(0.5) ? Int.max : Int(rng.next() % 40)
        var seen: [[UInt8]] = []
        var badValue: [UInt8]? = nil
        try txn.forEach(in: db, range, reverse: reverse) { k, v in
            let key = k.withUnsafeBytes { Array($0) }
            if badValue == nil && !equalBytes(v.withUnsafeBytes { Array($0) }, m[key]) { badValue = key }
            seen.append(key)
            return seen.count < limit
        }
        let want = limit == Int.max ? expected : Array(expected.prefix(max(1, limit)))
        let firstDifference = (0..<min(seen.count, want.count)).first { !equalBytes(seen[$0], want[$0]) }
        try require(firstDifference == nil && seen.count == want.count,
                    "\(label): forEach \(description) (reverse \(reverse), limit \(limit)) visited \(seen.count) keys, expected \(want.count); first difference at \(firstDifference ?? min(seen.count, want.count))")
        try require(badValue == nil, "\(label): forEach \(description) gave a wrong value for \(badValue.map { hex($0) } ?? "")")
    }

    private func rangeScan(_ txn: borrowing Transaction<some TransactionMode>, _ db: Database, _ m: SortedMap, label: String) throws {
        let reverse = rng.chance(0.5)
        var description: String
        var expected: [[UInt8]]
        var entries: Entries
        switch rng.next() % 3 {
        case 0, 1:
            let r = randomKeyRange(m)
            description = r.description
            expected = r.keys
            entries = try txn.entries(in: db, r.range, reverse: reverse)
        default:
            var lo = boundKey(m), hi = boundKey(m)
            if compareKeys(hi, lo) < 0 { swap(&lo, &hi) }
            let a = ByteKey(lo), b = ByteKey(hi)
            switch rng.next() % 5 {
            case 0:
                description = "\(hex(lo))..<\(hex(hi))"
                expected = m.keys.filter { compareKeys($0, lo) >= 0 && compareKeys($0, hi) < 0 }
                entries = try txn.entries(in: db, a..<b, reverse: reverse)
            case 1:
                description = "\(hex(lo))...\(hex(hi))"
                expected = m.keys.filter { compareKeys($0, lo) >= 0 && compareKeys($0, hi) <= 0 }
                entries = try txn.entries(in: db, a...b, reverse: reverse)
            case 2:
                description = "\(hex(lo))..."
                expected = m.keys.filter { compareKeys($0, lo) >= 0 }
                entries = try txn.entries(in: db, a..., reverse: reverse)
            case 3:
                description = "..<\(hex(hi))"
                expected = m.keys.filter { compareKeys($0, hi) < 0 }
                entries = try txn.entries(in: db, ..<b, reverse: reverse)
            default:
                description = "...\(hex(hi))"
                expected = m.keys.filter { compareKeys($0, hi) <= 0 }
                entries = try txn.entries(in: db, ...b, reverse: reverse)
            }
        }
        if reverse { expected.reverse() }
        log("range \(label) \(description) reverse \(reverse): \(expected.count) expected")
        var got: [[UInt8]] = []
        // `next()` throws the first error: a range can never end early unnoticed.
        while let (k, v) = try entries.next() {
            got.append(k)
            try require(equalBytes(m[k], v), "range \(description) (reverse \(reverse)) in \(label): value of \(hex(k)) is \(hex(v)), expected \(m[k].map { hex($0) } ?? "no entry")")
        }
        let firstDifference = (0..<min(got.count, expected.count)).first { !equalBytes(got[$0], expected[$0]) }
        if firstDifference != nil || got.count != expected.count {
            let i = firstDifference ?? min(got.count, expected.count)
            try fail("range \(description) (reverse \(reverse)) in \(label): got \(got.count) keys, expected \(expected.count); first difference at \(i): got \(i < got.count ? hex(got[i]) : "end"), expected \(i < expected.count ? hex(expected[i]) : "end")")
        }
        if rng.chance(0.3) {
            // The zero-copy forEach, stopped after a few entries.
            let limit = Int(rng.next() % 5)
            var seen: [[UInt8]] = []
            try txn.forEach(in: db, entries.range, reverse: reverse) { k, _ in
                seen.append(k.withUnsafeBytes { Array($0) })
                return seen.count < limit
            }
            let want = Array(expected.prefix(max(1, limit)))
            try require(seen == want,
                        "forEach \(description) (reverse \(reverse)) stopping after \(limit) in \(label): got \(seen.map { hex($0) }), expected \(want.map { hex($0) })")
        }
    }

    /// One move of the roaming cursor, checked against the model. The tree may have changed since
    /// its last move: it must then behave as if re-seeking to the key it was on.
    private func roamStep(_ r: inout Roam, _ m: SortedMap) throws {
        let label = dbLabel(r.db)
        let c = r.cursor
        func land(_ what: String, _ moved: Bool, _ expected: [UInt8]?) throws {
            try require(moved == (expected != nil), "roaming cursor in \(label): \(what) returned \(moved), expected \(expected.map { "to land on \(hex($0))" } ?? "false")")
            r.at = expected
            if let e = expected {
                let k = try c.key
                try require(k == e, "roaming cursor in \(label): after \(what) the key is \(k.map { hex($0) } ?? "nil"), expected \(hex(e))")
                if rng.chance(0.3) {
                    let v = try c.value
                    try require(equalBytes(v, m[e]), "roaming cursor in \(label): after \(what) the value is \(v.map { hex($0) } ?? "nil"), expected \(hex(m[e]!))")
                }
            }
        }
        let action = r.at == nil ? rng.next() % 4 : rng.next() % 8
        switch action {
        case 0:
            log("roam first")
            try land("first()", try c.first(), m.keys.first)
        case 1:
            log("roam last")
            try land("last()", try c.last(), m.keys.last)
        case 2:
            let k = someKey(m, existing: 0.5)
            log("roam seek(to: \(hex(k)))")
            let exact = try c.seek(to: k)
            try require(exact == (m[k] != nil), "roaming cursor in \(label): seek(to: \(hex(k))) returned \(exact)")
            try land("seek(to: \(hex(k)))", m.atLeast(k) != nil, m.atLeast(k))
        case 3:
            let k = someKey(m, existing: 0.3)
            log("roam seek(atLeast: \(hex(k)))")
            try land("seek(atLeast: \(hex(k)))", try c.seek(atLeast: k), m.atLeast(k))
        case 4, 5:
            let from = r.at!
            log("roam next from \(hex(from))")
            try land("next() from \(hex(from))", try c.next(), m.after(from))
        case 6:
            let from = r.at!
            log("roam previous from \(hex(from))")
            try land("previous() from \(hex(from))", try c.previous(), m.before(from))
        default:
            // Reading the key re-seeks: on the same key if still present, else on its successor.
            let from = r.at!
            log("roam key at \(hex(from))")
            let k = try c.key
            let expected = m.atLeast(from)
            try require(k == expected, "roaming cursor in \(label): key is \(k.map { hex($0) } ?? "nil"), expected \(expected.map { hex($0) } ?? "nil") (it was on \(hex(from)))")
            r.at = expected
        }
    }
}

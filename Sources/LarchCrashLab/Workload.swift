import Larch

/// One operation of a generated workload.
package enum WorkloadOperation: Sendable {
    case put(database: String?, key: [UInt8], value: [UInt8])
    case delete(database: String?, key: [UInt8])
    case createDatabase(String)
    case dropDatabase(String)
    /// A named snapshot of the state the transaction began from (always a transaction's first operation).
    case createSnapshot(String)
    case dropSnapshot(String)
    /// A named database with sorted duplicates, created if missing (`Model.duplicatesDatabase`).
    case createDuplicates(String)
    /// Adds the pair (key, value) to a database with sorted duplicates.
    case putDuplicate(database: String, key: [UInt8], value: [UInt8])
    /// Removes the pair (key, value) from a database with sorted duplicates.
    case deleteDuplicate(database: String, key: [UInt8], value: [UInt8])
}

/// One generated transaction: its operations, and whether it commits or aborts.
package struct WorkloadTransaction: Sendable {
    package var operations: [WorkloadOperation]
    package var commits: Bool
}

/// The expected contents of the file: every database's entries, and every named snapshot's.
package struct Model: Equatable, Sendable {
    package var databases: [String?: [[UInt8]: [UInt8]]] = [nil: [:]]
    package var snapshots: [String: [String?: [[UInt8]: [UInt8]]]] = [:]

    /// The database with sorted duplicates of workloads made with `duplicates`; the model keeps
    /// each of its pairs as one entry, keyed by `pair(key, value)`, with an empty value.
    package static let duplicatesDatabase = "dups"

    /// The model's key for the pair (key, value) of a database with sorted duplicates: the key's
    /// length (2 bytes, big-endian), the key, the value — one-to-one, and ordered as the pairs are.
    package static func pair(_ key: some Collection<UInt8>, _ value: some Collection<UInt8>) -> [UInt8] {
        [UInt8(truncatingIfNeeded: key.count >> 8), UInt8(truncatingIfNeeded: key.count)] + Array(key) + Array(value)
    }

    package mutating func apply(_ op: WorkloadOperation) {
        switch op {
        case let .createDuplicates(name): if databases[name] == nil { databases[name] = [:] }
        case let .putDuplicate(db, key, value): databases[db, default: [:]][Self.pair(key, value)] = []
        case let .deleteDuplicate(db, key, value): databases[db]?[Self.pair(key, value)] = nil
        case let .put(db, key, value): databases[db, default: [:]][key] = value
        case let .delete(db, key): databases[db]?[key] = nil
        case let .createDatabase(name): if databases[name] == nil { databases[name] = [:] }
        case let .dropDatabase(name): databases[name] = nil
        case let .createSnapshot(name): snapshots[name] = databases
        case let .dropSnapshot(name): snapshots[name] = nil
        }
    }

    /// Reads the whole environment into a model, its named snapshots included.
    package static func read(_ env: Environment) throws -> Model {
        var m = Model(databases: try env.read { try databases(in: $0) })
        for s in try env.snapshots() {
            m.snapshots[s.name] = try env.read(snapshot: s.name) { try databases(in: $0) }
        }
        return m
    }

    package static func databases(in txn: borrowing ReadTransaction) throws -> [String?: [[UInt8]: [UInt8]]] {
        func load(_ db: Database, in txn: borrowing ReadTransaction) throws -> [[UInt8]: [UInt8]] {
            // `collect()` throws on a corrupt page; a plain `for` loop over `entries` would stop early.
            var d: [[UInt8]: [UInt8]] = [:]
            for (k, v) in try txn.entries(in: db).collect() { d[k] = v }
            return d
        }
        func loadPairs(_ db: Database, in txn: borrowing ReadTransaction) throws -> [[UInt8]: [UInt8]] {
            var d: [[UInt8]: [UInt8]] = [:]
            try txn.forEachDuplicate(in: db) { k, v in
                d[pair(k.withUnsafeBytes { Array($0) }, v.withUnsafeBytes { Array($0) })] = []
                return true
            }
            return d
        }
        var out: [String?: [[UInt8]: [UInt8]]] = [nil: try load(.main, in: txn)]
        for name in try txn.databaseNames() {
            if try txn.databaseKind(name) == .sorted {
                out[name] = try loadPairs(try txn.openDatabase(name, duplicates: .sorted), in: txn)
            } else {
                out[name] = try load(try txn.openDatabase(name), in: txn)
            }
        }
        return out
    }
}

/// Generates a deterministic workload one transaction at a time. It exercises everything a commit
/// can do: puts, overwrites, deletes that merge pages, overflow values, named databases created and
/// dropped, page reuse from the free tree, and file growth; with `snapshots`, named snapshots
/// created and dropped. The same seed gives the same transactions.
package struct WorkloadGenerator: Sendable {
    private var g: SplitMix
    private let keySpace: Int
    private var index = 0
    /// The contents after the transactions generated so far that commit.
    package private(set) var committed = Model()
    /// Each database's keys in byte order, mirroring `committed`: choices must not depend on
    /// `Dictionary` order, which differs between processes.
    private var committedKeys: [String?: [[UInt8]]] = [nil: []]
    private let names = ["alpha", "beta", "gamma"]
    private let snapshotNames = ["monday", "tuesday", "wednesday"]
    private let snapshots: Bool
    /// Also change a database with sorted duplicates (`Model.duplicatesDatabase`), some keys with
    /// enough values for a duplicate tree of their own.
    private let duplicates: Bool

    package init(seed: UInt64, keySpace: Int = 400, snapshots: Bool = false, duplicates: Bool = false) {
        g = SplitMix(seed: seed)
        self.keySpace = keySpace
        self.snapshots = snapshots
        self.duplicates = duplicates
    }

    /// A sorted-duplicates operation: the database's creation first, then pair puts (now and then
    /// 200 under one key at once, as a duplicate tree) and deletes of present pairs.
    private mutating func duplicateOperations(_ keys: [String?: [[UInt8]]]) -> [WorkloadOperation] {
        let db = Model.duplicatesDatabase
        guard let present = keys[db] else { return [.createDuplicates(db)] }
        let roll = g.next() % 10
        if roll < 3, !present.isEmpty {
            // A present pair: its model key is the key's length, the key, the value.
            let p = present[Int(g.next() % UInt64(present.count))]
            let n = Int(p[0]) << 8 | Int(p[1])
            return [.deleteDuplicate(database: db, key: Array(p[2..<(2 + n)]), value: Array(p[(2 + n)...]))]
        }
        let key = Array("dup-\(g.next() % 6)".utf8)
        let count = roll == 9 ? 200 : 1
        return (0..<count).map { _ in
            .putDuplicate(database: db, key: key, value: Array("value-\(g.next() % 5_000)".utf8) + [UInt8](repeating: 0x2E, count: Int(g.next() % 16)))
        }
    }

    private mutating func key(_ i: Int) -> [UInt8] {
        // Prefix-sharing keys of varied length, so pages split and merge at different points.
        let base = Array("key-\(i)".utf8)
        let pad = Int(g.next() % 3) == 0 ? Int(g.next() % 60) : 0
        return base + [UInt8](repeating: UInt8(i % 7), count: pad)
    }

    private mutating func value() -> [UInt8] {
        let r = g.next() % 20
        let n = r == 0 ? 5_000 + Int(g.next() % 9_000) : (r == 1 ? 0 : Int(g.next() % 120))   // 5% overflow, 5% empty
        let b = UInt8(truncatingIfNeeded: g.next())
        return (0..<n).map { UInt8(truncatingIfNeeded: $0) &+ b }
    }

    /// A key present in `db`, chosen at random, or nil when it is empty.
    private mutating func presentKey(_ keys: [String?: [[UInt8]]], _ db: String?) -> [UInt8]? {
        guard let k = keys[db], !k.isEmpty else { return nil }
        return k[Int(g.next() % UInt64(k.count))]
    }

    /// Applies `op` to the sorted key lists.
    private static func track(_ op: WorkloadOperation, _ keys: inout [String?: [[UInt8]]]) {
        func position(_ list: [[UInt8]], _ key: [UInt8]) -> (Int, Bool) {
            var lo = 0, hi = list.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if list[mid].lexicographicallyPrecedes(key) { lo = mid + 1 } else { hi = mid }
            }
            return (lo, lo < list.count && list[lo] == key)
        }
        switch op {
        case let .put(db, key, _):
            let (i, found) = position(keys[db, default: []], key)
            if !found { keys[db, default: []].insert(key, at: i) }
        case let .delete(db, key):
            guard let list = keys[db] else { return }
            let (i, found) = position(list, key)
            if found { keys[db]!.remove(at: i) }
        case let .createDatabase(name), let .createDuplicates(name): if keys[name] == nil { keys[name] = [] }
        case let .dropDatabase(name): keys[name] = nil
        case .createSnapshot, .dropSnapshot: break
        case let .putDuplicate(db, key, value):
            let k = Model.pair(key, value)
            let (i, found) = position(keys[db, default: []], k)
            if !found { keys[db, default: []].insert(k, at: i) }
        case let .deleteDuplicate(db, key, value):
            guard let list = keys[db] else { return }
            let (i, found) = position(list, Model.pair(key, value))
            if found { keys[db]!.remove(at: i) }
        }
    }

    package mutating func next() -> WorkloadTransaction {
        var working = committed
        var workingKeys = committedKeys
        var ops: [WorkloadOperation] = []
        if snapshots {
            // Snapshot changes come first: a snapshot keeps the state the transaction began from.
            let name = snapshotNames[Int(g.next() % UInt64(snapshotNames.count))]
            let roll = g.next() % 100
            var op: WorkloadOperation?
            if roll < 15 && working.snapshots[name] == nil { op = .createSnapshot(name) }
            else if roll < 25 && working.snapshots[name] != nil { op = .dropSnapshot(name) }
            if let op {
                working.apply(op)
                ops.append(op)
            }
        }
        let size = Int(g.next() % 40) + 1
        let heavyDelete = index % 9 == 8
        index += 1
        for _ in 0..<size {
            let existing = workingKeys.keys.compactMap { $0 }.filter { $0 != Model.duplicatesDatabase }.sorted()
            let roll = g.next() % 100
            var op: WorkloadOperation
            if duplicates && g.next() % 4 == 0 {
                for op in duplicateOperations(workingKeys) {
                    working.apply(op)
                    Self.track(op, &workingKeys)
                    ops.append(op)
                }
                continue
            }
            if roll < 3 {
                let name = names[Int(g.next() % UInt64(names.count))]
                op = working.databases[name] == nil ? .createDatabase(name) : .dropDatabase(name)
            } else {
                let db: String? = existing.isEmpty || g.next() % 3 != 0 ? nil : existing[Int(g.next() % UInt64(existing.count))]
                let k = Int(g.next() % UInt64(keySpace))
                if heavyDelete || roll < 30, let present = presentKey(workingKeys, db) {
                    op = .delete(database: db, key: present)   // real deletes, so pages merge
                } else {
                    op = .put(database: db, key: key(k), value: value())
                }
            }
            working.apply(op)
            Self.track(op, &workingKeys)
            ops.append(op)
        }
        if heavyDelete {
            // Also delete most of the main database in one go.
            for k in workingKeys[nil] ?? [] where g.next() % 4 != 0 {
                let op = WorkloadOperation.delete(database: nil, key: k)
                ops.append(op)
                working.apply(op)
                Self.track(op, &workingKeys)
            }
        }
        let commits = g.next() % 8 != 0
        if commits { committed = working; committedKeys = workingKeys }
        return WorkloadTransaction(operations: ops, commits: commits)
    }
}

/// A generated workload with the expected contents after each commit.
package struct Workload: Sendable {
    package let transactions: [WorkloadTransaction]
    /// `models[i]` is the expected content after the i-th committed transaction (index 0: empty).
    package let models: [Model]

    package init(seed: UInt64, transactionCount: Int, keySpace: Int = 400, snapshots: Bool = false, duplicates: Bool = false) {
        var generator = WorkloadGenerator(seed: seed, keySpace: keySpace, snapshots: snapshots, duplicates: duplicates)
        var models = [Model()]
        var txns: [WorkloadTransaction] = []
        for _ in 0..<transactionCount {
            let t = generator.next()
            txns.append(t)
            if t.commits { models.append(generator.committed) }
        }
        transactions = txns
        self.models = models
    }

    private struct RolledBack: Error {}

    /// Applies `txn`'s operations to a write transaction, through nested transactions (issue 14):
    /// groups of up to four operations, each in a child that commits into `txn`; after every
    /// third group, a child that changes more (an overflow value, a cursor delete, a grandchild
    /// that commits into it) and is rolled back. Nested transactions change nothing on disk: the
    /// commit writes what applying the operations directly would, and the crash images show it.
    package static func apply(_ t: WorkloadTransaction, to txn: inout WriteTransaction) throws {
        let ops = t.operations
        var start = 0
        var group = 0
        while start < ops.count {
            let end = min(start + 4, ops.count)
            try txn.nested { child in
                for op in ops[start..<end] { try apply(op, to: &child) }
            }
            if group % 3 == 2 {
                do {
                    try txn.nested { child in
                        try child.put([UInt8](repeating: 0xEE, count: 6_000), forKey: Array("rolled back".utf8))
                        let c = try child.cursor()
                        if try c.first() { try c.delete() }
                        try child.nested { grandchild in try grandchild.put([1], forKey: Array("rolled back too".utf8)) }
                        throw RolledBack()
                    }
                } catch is RolledBack {}
            }
            start = end
            group += 1
        }
    }

    private static func apply(_ op: WorkloadOperation, to txn: inout WriteTransaction) throws {
        switch op {
        case let .put(db, key, value):
            let handle = try db.map { name throws(LarchError) in try txn.openDatabase(name) } ?? .main
            try txn.put(value, forKey: key, in: handle)
        case let .delete(db, key):
            let handle = try db.map { name throws(LarchError) in try txn.openDatabase(name) } ?? .main
            _ = try txn.delete(key, in: handle)
        case let .createDatabase(name):
            _ = try txn.openDatabase(name, create: true)
        case let .dropDatabase(name):
            try txn.dropDatabase(try txn.openDatabase(name))
        case let .createSnapshot(name):
            try txn.createSnapshot(name)
        case let .dropSnapshot(name):
            try txn.dropSnapshot(name)
        case let .createDuplicates(name):
            _ = try txn.openDatabase(name, create: true, duplicates: .sorted)
        case let .putDuplicate(db, key, value):
            try txn.putDuplicate(value, forKey: key, in: try txn.openDatabase(db, create: false, duplicates: .sorted))
        case let .deleteDuplicate(db, key, value):
            try txn.deleteDuplicate(value, forKey: key, in: try txn.openDatabase(db, create: false, duplicates: .sorted))
        }
    }
}

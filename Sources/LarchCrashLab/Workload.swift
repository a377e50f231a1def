import Larch

/// One operation of a generated workload.
package enum WorkloadOperation: Sendable {
    case put(database: String?, key: [UInt8], value: [UInt8])
    case delete(database: String?, key: [UInt8])
    case createDatabase(String)
    case dropDatabase(String)
}

/// One generated transaction: its operations, and whether it commits or aborts.
package struct WorkloadTransaction: Sendable {
    package var operations: [WorkloadOperation]
    package var commits: Bool
}

/// The expected contents of the file: every database's entries.
package struct Model: Equatable, Sendable {
    package var databases: [String?: [[UInt8]: [UInt8]]] = [nil: [:]]

    package mutating func apply(_ op: WorkloadOperation) {
        switch op {
        case let .put(db, key, value): databases[db, default: [:]][key] = value
        case let .delete(db, key): databases[db]?[key] = nil
        case let .createDatabase(name): if databases[name] == nil { databases[name] = [:] }
        case let .dropDatabase(name): databases[name] = nil
        }
    }

    /// Reads the whole environment into a model.
    package static func read(_ env: Environment) throws -> Model {
        try env.read { txn in
            var m = Model(databases: [:])
            func load(_ db: Database) throws -> [[UInt8]: [UInt8]] {
                var d: [[UInt8]: [UInt8]] = [:]
                for (k, v) in try txn.entries(in: db) { d[k] = v }
                return d
            }
            m.databases[nil] = try load(.main)
            for name in try txn.databaseNames() { m.databases[name] = try load(try txn.openDatabase(name)) }
            return m
        }
    }
}

/// A deterministic workload that exercises everything a commit can do: puts, overwrites, deletes
/// that merge pages, overflow values, named databases created and dropped, page reuse from the
/// free tree, and file growth. The same seed always gives the same transactions.
package struct Workload: Sendable {
    package let transactions: [WorkloadTransaction]
    /// `models[i]` is the expected content after the i-th committed transaction (index 0: empty).
    package let models: [Model]

    /// With `keepModels: false` only the transactions are generated (`models` holds just the last one).
    package init(seed: UInt64, transactionCount: Int, keySpace: Int = 400, keepModels: Bool = true) {
        var g = SplitMix(seed: seed)
        var committed = Model()
        var models = [committed]
        var txns: [WorkloadTransaction] = []
        let names = ["alpha", "beta", "gamma"]
        func key(_ i: Int, _ g: inout SplitMix) -> [UInt8] {
            // Prefix-sharing keys of varied length, so pages split and merge at different points.
            let base = Array("key-\(i)".utf8)
            let pad = Int(g.next() % 3) == 0 ? Int(g.next() % 60) : 0
            return base + [UInt8](repeating: UInt8(i % 7), count: pad)
        }
        func value(_ g: inout SplitMix) -> [UInt8] {
            let r = g.next() % 20
            let n = r == 0 ? 5_000 + Int(g.next() % 9_000) : (r == 1 ? 0 : Int(g.next() % 120))   // 5% overflow, 5% empty
            let b = UInt8(truncatingIfNeeded: g.next())
            return (0..<n).map { UInt8(truncatingIfNeeded: $0) &+ b }
        }
        for t in 0..<transactionCount {
            var working = committed
            var ops: [WorkloadOperation] = []
            let size = Int(g.next() % 40) + 1
            let heavyDelete = t % 9 == 8
            for _ in 0..<size {
                let existing = working.databases.keys.compactMap { $0 }.sorted()
                let roll = g.next() % 100
                var op: WorkloadOperation
                if roll < 3 {
                    let name = names[Int(g.next() % UInt64(names.count))]
                    op = working.databases[name] == nil ? .createDatabase(name) : .dropDatabase(name)
                } else {
                    let db: String? = existing.isEmpty || g.next() % 3 != 0 ? nil : existing[Int(g.next() % UInt64(existing.count))]
                    let k = Int(g.next() % UInt64(keySpace))
                    if heavyDelete || roll < 30 {
                        // Delete a key that is present when there is one (merges need real deletes).
                        let present = working.databases[db]?.keys.sorted { $0.lexicographicallyPrecedes($1) } ?? []
                        op = present.isEmpty ? .put(database: db, key: key(k, &g), value: value(&g))
                                             : .delete(database: db, key: present[Int(g.next() % UInt64(present.count))])
                    } else {
                        op = .put(database: db, key: key(k, &g), value: value(&g))
                    }
                }
                working.apply(op)
                ops.append(op)
            }
            if heavyDelete {
                // Also delete most of the main database in one go.
                for k in (working.databases[nil] ?? [:]).keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) where g.next() % 4 != 0 {
                    ops.append(.delete(database: nil, key: k))
                    working.apply(.delete(database: nil, key: k))
                }
            }
            let commits = g.next() % 8 != 0
            txns.append(WorkloadTransaction(operations: ops, commits: commits))
            if commits { committed = working; if keepModels { models.append(committed) } }
        }
        transactions = txns
        self.models = keepModels ? models : [committed]
    }

    /// Applies `txn`'s operations to a write transaction.
    package static func apply(_ t: WorkloadTransaction, to txn: WriteTransaction) throws {
        for op in t.operations {
            switch op {
            case let .put(db, key, value):
                try txn.put(value, forKey: key, in: db.map { try txn.openDatabase($0, create: false) } ?? .main)
            case let .delete(db, key):
                _ = try txn.delete(key, in: db.map { try txn.openDatabase($0, create: false) } ?? .main)
            case let .createDatabase(name):
                _ = try txn.openDatabase(name, create: true)
            case let .dropDatabase(name):
                try txn.dropDatabase(try txn.openDatabase(name, create: false))
            }
        }
    }
}

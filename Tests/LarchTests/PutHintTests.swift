import Testing
@testable import Larch

/// A put reuses the previous put's leaf when the key certainly belongs there (the put hint). These
/// runs mix the patterns that use it (appends, nearby keys, overwrites) with those that must
/// invalidate it (splits, deletes, cursor puts, clears, other databases), and compare every key
/// with a model and the structural checker.
@Suite struct PutHintTests {
    func key(_ i: Int) -> [UInt8] {
        var k = [UInt8](repeating: 0, count: 16)
        for j in 0..<8 { k[15 - j] = UInt8((i >> (8 * j)) & 0xFF) }
        return k
    }

    func verify(_ env: Environment, _ model: [Int: [UInt8]], db: String? = nil) throws {
        try env.read { txn in
            let d = try db.map { try txn.openDatabase($0) } ?? .main
            #expect(try txn.stats(d).entries == UInt64(model.count))
            for (i, v) in model { #expect(try txn.get(key(i), in: d) == v, "key \(i)") }
            var previous: [UInt8]? = nil
            for (k, _) in try txn.entries(in: d).collect() {
                if let p = previous { #expect(p.lexicographicallyPrecedes(k)) }
                previous = k
            }
        }
        let report = try env.check()
        #expect(report.isClean, "\(report)")
    }

    @Test func mixedPatternsMatchTheModel() throws {
        let dir = try TemporaryDirectory("put-hint")
        let env = try Environment(path: dir.file(), options: Options(durability: .noSync))
        var g = SeededGenerator(seed: 0x41_4E_54)
        var model: [Int: [UInt8]] = [:]
        for round in 0..<4 {
            try env.write { txn in
                let other = try txn.openDatabase("other", create: true)
                // Appends past the end (the hint's fast case), with splits every few dozen puts.
                let base = round * 3_000
                for i in base..<(base + 2_000) {
                    let v = [UInt8](repeating: UInt8(truncatingIfNeeded: i &+ round), count: 20 + i % 90)
                    try txn.put(v, forKey: key(i * 4))
                    model[i * 4] = v
                    // Interleave another tree now and then: its puts must not use this tree's hint.
                    if i % 97 == 0 { try txn.put([1, 2, 3], forKey: key(i), in: other) }
                }
                // Keys between existing ones, in runs (the hint serves a key inside the last leaf).
                for _ in 0..<400 {
                    let start = Int.random(in: 0..<(base + 2_000), using: &g)
                    for j in 0..<8 {
                        let i = (start + j) * 4 + 1 + j % 3
                        let v = [UInt8](repeating: UInt8(j), count: Int.random(in: 0...150, using: &g))
                        try txn.put(v, forKey: key(i))
                        model[i] = v
                    }
                }
                // Overwrites of the same key, same and different sizes, and duplicates refused.
                for _ in 0..<300 {
                    let i = model.keys.randomElement(using: &g)!
                    for size in [10, 10, 200, 3_000] {
                        let v = [UInt8](repeating: UInt8(size & 0xFF), count: size)
                        try txn.put(v, forKey: key(i))
                        model[i] = v
                    }
                    #expect(throws: LarchError.keyExists) { try txn.put([0], forKey: key(i), overwrite: false) }
                }
                // Deletes between puts (merges change the tree under any hint).
                for _ in 0..<500 {
                    let i = model.keys.randomElement(using: &g)!
                    #expect(try txn.delete(key(i)))
                    model[i] = nil
                    let j = i + 2
                    let v = [UInt8](repeating: 9, count: 30)
                    try txn.put(v, forKey: key(j))
                    model[j] = v
                }
                // A cursor put, then plain puts next to it.
                let c = try txn.cursor()
                if try c.first() {
                    try c.put([7, 7], forKey: key(3))
                    model[3] = [7, 7]
                    try txn.put([8], forKey: key(2))
                    model[2] = [8]
                }
            }
            try verify(env, model)
        }
        // Clear, then append again into the emptied tree.
        try env.write { txn in
            try txn.clear()
            for i in 0..<1_000 { try txn.put([UInt8(i & 0xFF)], forKey: key(i)) }
        }
        model = [:]
        for i in 0..<1_000 { model[i] = [UInt8(i & 0xFF)] }
        try verify(env, model)
    }

    @Test func dropAndRecreateDatabaseInOneTransaction() throws {
        let dir = try TemporaryDirectory("put-hint-drop")
        let env = try Environment(path: dir.file(), options: Options(durability: .noSync))
        var model: [Int: [UInt8]] = [:]
        try env.write { txn in
            var db = try txn.openDatabase("d", create: true)
            for i in 0..<500 { try txn.put([1], forKey: key(i), in: db) }
            try txn.dropDatabase(db)
            db = try txn.openDatabase("d", create: true)
            for i in 0..<300 { try txn.put([2], forKey: key(1_000 + i), in: db); model[1_000 + i] = [2] }
        }
        try verify(env, model, db: "d")
    }
}

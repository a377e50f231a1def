import Testing
@testable import Larch

/// Deterministic cursor and range-iteration tests.
@Suite("Cursors and range iteration")
struct CursorTests {
    // MARK: Fixtures

    /// Runs `body` with a fresh environment in a temporary directory.
    private func withEnvironment(pageSize: Int = 4096, _ body: (Environment) throws -> Void) throws {
        let dir = try TemporaryDirectory("larch-cursor")
        defer { dir.remove() }
        let env = try Environment(path: dir.file(), options: Options(pageSize: pageSize, durability: .noSync))
        try body(env)
    }

    /// A 200-byte key whose order is the order of `i`: a shared 196-byte prefix (long separators,
    /// so few cells per branch page and a deep tree) and `i` big-endian.
    private static func deepKey(_ i: Int) -> [UInt8] {
        [UInt8](repeating: 0x6B, count: 196) + withUnsafeBytes(of: UInt32(i).bigEndian) { Array($0) }
    }

    private static func deepValue(_ i: Int) -> [UInt8] {
        withUnsafeBytes(of: UInt64(i).littleEndian) { Array($0) } + [UInt8(truncatingIfNeeded: i % 7)]
    }

    /// The index encoded in a `deepKey`, or nil for another key.
    private static func index(_ key: [UInt8]?) -> Int? {
        guard let key, key.count == 200, key.prefix(196).allSatisfy({ $0 == 0x6B }) else { return nil }
        return key.suffix(4).reduce(0) { $0 << 8 | Int($1) }
    }

    /// Stores `deepKey(i)` for every `i` in `indices`, in a seeded shuffled order, and commits.
    private func fillDeep(_ env: Environment, _ indices: [Int], in name: String? = nil) throws {
        var rng = SeededGenerator(seed: 42)
        try env.write { txn throws in
            let db = try name.map { try txn.openDatabase($0, create: true) } ?? .main
            for i in indices.shuffled(using: &rng) { try txn.put(Self.deepValue(i), forKey: Self.deepKey(i), in: db) }
        }
        try assertClean(env)
    }

    private func keys(_ entries: consuming Entries) throws -> [[UInt8]] {
        try entries.collect().map(\.key)
    }

    private func strings(_ entries: consuming Entries) throws -> [String] {
        try keys(entries).map { String(decoding: $0, as: UTF8.self) }
    }

    private func fillStrings(_ env: Environment, _ keys: [String]) throws {
        try env.write { txn throws in
            for k in keys { try txn.put("v-" + k, forKey: k) }
        }
    }

    private func spanBytes(_ s: RawSpan) -> [UInt8] { s.withUnsafeBytes { Array($0) } }

    // MARK: Empty and small databases

    @Test func emptyDatabaseHasNoPositions() throws {
        try withEnvironment { env in
            func checkEmpty(_ txn: borrowing Transaction<some TransactionMode>, _ db: Database) throws {
                let c = try txn.cursor(db)
                #expect(try c.first() == false)
                #expect(try c.last() == false)
                #expect(try c.next() == false)
                #expect(try c.previous() == false)
                #expect(try c.key == nil)
                #expect(try c.value == nil)
                #expect(try c.withCurrent { _, _ in 1 } == nil)
                #expect(try c.seek(to: bytes("a")) == false)
                #expect(try c.key == nil)
                #expect(try c.seek(atLeast: [0x00]) == false)
                #expect(try c.key == nil)
                #expect(try keys(try txn.entries(in: db)).isEmpty)
                #expect(try keys(try txn.entries(in: db, reverse: true)).isEmpty)
                #expect(try keys(try txn.entries(in: db, .prefix([0x61]))).isEmpty)
            }
            try env.read { txn throws in try checkEmpty(txn, .main) }
            try env.write { txn throws in
                let db = try txn.openDatabase("empty", create: true)
                try checkEmpty(txn, .main)
                try checkEmpty(txn, db)
            }
            try env.read { txn throws in try checkEmpty(txn, try txn.openDatabase("empty")) }
            // Emptied by deletes: the tree collapses back to nothing.
            try env.write { txn throws in
                try txn.put("1", forKey: "k")
                #expect(try txn.delete("k"))
                try checkEmpty(txn, .main)
            }
            try assertClean(env)
        }
    }

    @Test func firstLastNextPreviousOnSmallDatabase() throws {
        try withEnvironment { env in
            try fillStrings(env, ["d", "b", "f"])
            try env.read { txn throws in
                let c = try txn.cursor()
                #expect(try c.first())
                #expect(try c.key == bytes("b"))
                #expect(try c.value == bytes("v-b"))
                #expect(try c.next())
                #expect(try c.key == bytes("d"))
                #expect(try c.next())
                #expect(try c.key == bytes("f"))
                #expect(try c.value == bytes("v-f"))
                #expect(try c.next() == false)
                #expect(try c.key == nil)
                #expect(try c.value == nil)

                #expect(try c.last())
                #expect(try c.key == bytes("f"))
                #expect(try c.previous())
                #expect(try c.key == bytes("d"))
                #expect(try c.previous())
                #expect(try c.key == bytes("b"))
                #expect(try c.previous() == false)
                #expect(try c.key == nil)

                // Changing direction in the middle.
                #expect(try c.first())
                #expect(try c.next())
                #expect(try c.previous())
                #expect(try c.key == bytes("b"))
                #expect(try c.last())
                #expect(try c.previous())
                #expect(try c.next())
                #expect(try c.key == bytes("f"))
            }
        }
    }

    @Test func seekExactMissAndPastTheEnd() throws {
        try withEnvironment { env in
            try fillStrings(env, ["b", "d", "f"])
            try env.read { txn throws in
                let c = try txn.cursor()
                #expect(try c.seek(to: bytes("d")))
                #expect(try c.key == bytes("d"))
                #expect(try c.value == bytes("v-d"))
                // A miss returns false and leaves the cursor on the next key.
                #expect(try c.seek(to: bytes("c")) == false)
                #expect(try c.key == bytes("d"))
                #expect(try c.previous())
                #expect(try c.key == bytes("b"))
                #expect(try c.seek(to: bytes("a")) == false)
                #expect(try c.key == bytes("b"))
                #expect(try c.seek(to: bytes("dd")) == false)
                #expect(try c.key == bytes("f"))
                #expect(try c.seek(to: bytes("g")) == false)
                #expect(try c.key == nil)

                #expect(try c.seek(atLeast: bytes("c")))
                #expect(try c.key == bytes("d"))
                #expect(try c.seek(atLeast: bytes("d")))
                #expect(try c.key == bytes("d"))
                #expect(try c.seek(atLeast: bytes("f")))
                #expect(try c.key == bytes("f"))
                #expect(try c.next() == false)
                #expect(try c.seek(atLeast: bytes("f\u{0}")) == false)
                #expect(try c.key == nil)
                #expect(try c.seek(atLeast: [0xFF, 0xFF]) == false)
                #expect(try c.key == nil)
                #expect(try c.seek(atLeast: [0x00]))
                #expect(try c.key == bytes("b"))

                // Invalid keys are rejected.
                #expect(throws: LarchError.emptyKey) { try c.seek(to: [UInt8]()) }
                #expect(throws: LarchError.keyTooLarge(size: 1025, limit: 1024)) {
                    try c.seek(atLeast: [UInt8](repeating: 1, count: 1025))
                }
            }
        }
    }

    // MARK: Deep trees

    @Test func iterationAcrossManyLeavesBothDirections() throws {
        try withEnvironment { env in
            let n = 4000
            try fillDeep(env, Array(0..<n))
            try env.read { txn throws in
                let stats = try txn.stats()
                try #require(stats.depth >= 3, "the tree must have at least 3 levels, has \(stats.depth) (\(stats.leafPages) leaves)")
                #expect(stats.entries == UInt64(n))

                let c = try txn.cursor()
                var seen: [Int] = []
                var on = try c.first()
                while on {
                    let k = try c.key
                    seen.append(Self.index(k) ?? -1)
                    if seen.count % 97 == 0 { #expect(try c.value == Self.deepValue(seen.last!)) }
                    on = try c.next()
                }
                #expect(seen == Array(0..<n))

                seen = []
                on = try c.last()
                while on {
                    seen.append(Self.index(try c.key) ?? -1)
                    on = try c.previous()
                }
                #expect(seen == Array((0..<n).reversed()))

                // Zigzag across leaf boundaries.
                #expect(try c.seek(to: Self.deepKey(1234)))
                for i in stride(from: 1233, through: 934, by: -1) {
                    #expect(try c.previous())
                    #expect(Self.index(try c.key) == i)
                }
                for i in 935...1534 {
                    #expect(try c.next())
                    #expect(Self.index(try c.key) == i)
                }

                // Seeking between keys, all over the tree, lands on the successor.
                for i in stride(from: 0, to: n - 1, by: 37) {
                    let between = Self.deepKey(i) + [0x00]
                    #expect(try c.seek(to: between) == false)
                    #expect(Self.index(try c.key) == i + 1)
                    #expect(try c.seek(atLeast: between))
                    #expect(Self.index(try c.key) == i + 1)
                    #expect(try c.previous())
                    #expect(Self.index(try c.key) == i)
                }
                // Past the end.
                #expect(try c.seek(atLeast: Self.deepKey(n - 1) + [0x00]) == false)
                #expect(try c.key == nil)
                #expect(try c.seek(to: [UInt8](repeating: 0xFF, count: 3)) == false)
                #expect(try c.key == nil)
                // Before the beginning.
                #expect(try c.seek(atLeast: [0x6B]))
                #expect(Self.index(try c.key) == 0)

                #expect(try keys(try txn.entries()) == (0..<n).map(Self.deepKey))
                #expect(try keys(try txn.entries(reverse: true)) == (0..<n).reversed().map(Self.deepKey))
            }
        }
    }

    // MARK: Range sequences

    private static let fruit = ["apple", "apricot", "banana", "blueberry", "cherry", "date", "fig", "grape"]

    @Test func entriesWithSwiftRanges() throws {
        try withEnvironment { env in
            try fillStrings(env, Self.fruit)
            try env.read { txn throws in
                func check(_ forward: consuming Entries, _ backward: consuming Entries, _ expected: [String], _ comment: Comment,
                           sourceLocation: SourceLocation = #_sourceLocation) throws {
                    #expect(try strings(forward) == expected, comment, sourceLocation: sourceLocation)
                    #expect(try strings(backward) == expected.reversed(), comment, sourceLocation: sourceLocation)
                }
                try check(try txn.entries("apricot"..<"cherry"), try txn.entries("apricot"..<"cherry", reverse: true),
                      ["apricot", "banana", "blueberry"], "apricot..<cherry")
                try check(try txn.entries("apricot"..."cherry"), try txn.entries("apricot"..."cherry", reverse: true),
                      ["apricot", "banana", "blueberry", "cherry"], "apricot...cherry")
                try check(try txn.entries("ap"..<"b"), try txn.entries("ap"..<"b", reverse: true),
                      ["apple", "apricot"], "ap..<b (bounds absent)")
                try check(try txn.entries("b"..."d"), try txn.entries("b"..."d", reverse: true),
                      ["banana", "blueberry", "cherry"], "b...d (bounds absent)")
                try check(try txn.entries("banana"..."banana"), try txn.entries("banana"..."banana", reverse: true),
                      ["banana"], "banana...banana")
                try check(try txn.entries("banana"..<"banana"), try txn.entries("banana"..<"banana", reverse: true),
                      [], "banana..<banana")
                try check(try txn.entries("c"..."c"), try txn.entries("c"..."c", reverse: true), [], "c...c")
                try check(try txn.entries("date"...), try txn.entries("date"..., reverse: true),
                      ["date", "fig", "grape"], "date...")
                try check(try txn.entries("dat"...), try txn.entries("dat"..., reverse: true),
                      ["date", "fig", "grape"], "dat...")
                try check(try txn.entries("zzz"...), try txn.entries("zzz"..., reverse: true), [], "zzz...")
                try check(try txn.entries(""...), try txn.entries(""..., reverse: true), Self.fruit, "\"\"...")
                try check(try txn.entries(..<"banana"), try txn.entries(..<"banana", reverse: true),
                      ["apple", "apricot"], "..<banana")
                try check(try txn.entries(..."banana"), try txn.entries(..."banana", reverse: true),
                      ["apple", "apricot", "banana"], "...banana")
                try check(try txn.entries(..."bm"), try txn.entries(..."bm", reverse: true),
                      ["apple", "apricot", "banana", "blueberry"], "...bm")
                try check(try txn.entries(..<"a"), try txn.entries(..<"a", reverse: true), [], "..<a")
                try check(try txn.entries(..."zz"), try txn.entries(..."zz", reverse: true), Self.fruit, "...zz")
                try check(try txn.entries(..<"grape"), try txn.entries(..<"grape", reverse: true),
                      Array(Self.fruit.dropLast()), "..<grape")

                // Explicit bounds, including exclusive lower ends.
                let r1 = KeyRange(lower: .excluded(bytes("banana")), upper: .excluded(bytes("date")))
                try check(try txn.entries(r1), try txn.entries(r1, reverse: true), ["blueberry", "cherry"], "(banana, date)")
                let r2 = KeyRange(lower: .excluded(bytes("b")), upper: .included(bytes("cherry")))
                try check(try txn.entries(r2), try txn.entries(r2, reverse: true), ["banana", "blueberry", "cherry"], "(b, cherry]")
                let r3 = KeyRange(lower: .excluded(bytes("cherry")), upper: .included(bytes("cherry")))
                try check(try txn.entries(r3), try txn.entries(r3, reverse: true), [], "(cherry, cherry]")
                let r4 = KeyRange(lower: .included(bytes("fig")), upper: .included(bytes("banana")))
                try check(try txn.entries(r4), try txn.entries(r4, reverse: true), [], "[fig, banana] (inverted)")
                let r5 = KeyRange(lower: .excluded(bytes("grape")), upper: .unbounded)
                try check(try txn.entries(r5), try txn.entries(r5, reverse: true), [], "(grape, ∞)")
                let r6 = KeyRange(lower: .unbounded, upper: .excluded(bytes("apple")))
                try check(try txn.entries(r6), try txn.entries(r6, reverse: true), [], "(-∞, apple)")
                try check(try txn.entries(.all), try txn.entries(.all, reverse: true), Self.fruit, "all")

                // Values come along with their keys.
                let pairs = try txn.entries("fig"...).collect()
                #expect(pairs.map(\.value) == [bytes("v-fig"), bytes("v-grape")])
            }
        }
    }

    @Test func entriesAcrossLeavesInDeepTree() throws {
        try withEnvironment { env in
            try fillDeep(env, Array(0..<3000))
            try env.read { txn throws in
                let lo = ByteKey(Self.deepKey(1000)), hi = ByteKey(Self.deepKey(2500))
                #expect(try keys(try txn.entries(lo..<hi)) == (1000..<2500).map(Self.deepKey))
                #expect(try keys(try txn.entries(lo..<hi, reverse: true)) == (1000..<2500).reversed().map(Self.deepKey))
                #expect(try keys(try txn.entries(lo...hi)) == (1000...2500).map(Self.deepKey))
                #expect(try keys(try txn.entries(lo...hi, reverse: true)) == (1000...2500).reversed().map(Self.deepKey))
                #expect(try keys(try txn.entries(hi...)) == (2500..<3000).map(Self.deepKey))
                #expect(try keys(try txn.entries(..<lo, reverse: true)) == (0..<1000).reversed().map(Self.deepKey))
                #expect(try keys(try txn.entries(...lo)) == (0...1000).map(Self.deepKey))
                let mid = ByteKey(Self.deepKey(1700) + [0x00])
                #expect(try keys(try txn.entries(...mid, reverse: true)) == (0...1700).reversed().map(Self.deepKey))
                #expect(try keys(try txn.entries(mid...)) == (1701..<3000).map(Self.deepKey))
            }
        }
    }

    @Test func prefixRanges() throws {
        try withEnvironment { env in
            let all: [[UInt8]] = [
                [0x00], [0x01], [0x01, 0x00], [0x01, 0x7F], [0x01, 0xFF], [0x01, 0xFF, 0x00], [0x01, 0xFF, 0xFF],
                [0x01, 0xFF, 0xFF, 0x05], [0x02], [0x02, 0x00], [0x61, 0x62], [0x61, 0x62, 0x63], [0x61, 0x63],
                [0xFE, 0xFF], [0xFF], [0xFF, 0x00], [0xFF, 0xFF], [0xFF, 0xFF, 0x01], [0xFF, 0xFF, 0xFF],
            ]
            try env.write { txn throws in
                for k in all { try txn.put(k, forKey: k) }
            }
            // The bounds KeyRange.prefix computes.
            #expect(KeyRange.prefix([0x61, 0x62]) == KeyRange(lower: .included([0x61, 0x62]), upper: .excluded([0x61, 0x63])))
            #expect(KeyRange.prefix([0x01, 0xFF]) == KeyRange(lower: .included([0x01, 0xFF]), upper: .excluded([0x02])))
            #expect(KeyRange.prefix([0x01, 0xFF, 0xFF]) == KeyRange(lower: .included([0x01, 0xFF, 0xFF]), upper: .excluded([0x02])))
            #expect(KeyRange.prefix([0xFF]) == KeyRange(lower: .included([0xFF]), upper: .unbounded))
            #expect(KeyRange.prefix([0xFF, 0xFF]) == KeyRange(lower: .included([0xFF, 0xFF]), upper: .unbounded))
            #expect(KeyRange.prefix([UInt8]()) == .all)

            try env.read { txn throws in
                let cases: [[UInt8]] = [[0x01], [0x01, 0xFF], [0x01, 0xFF, 0xFF], [0x61, 0x62], [0x61], [0xFE], [0xFF],
                                        [0xFF, 0xFF], [0xFF, 0xFF, 0xFF], [0xFF, 0xFF, 0xFF, 0xFF], [0x03], [0x00], []]
                let expected: [[[UInt8]]] = [
                    [[0x01], [0x01, 0x00], [0x01, 0x7F], [0x01, 0xFF], [0x01, 0xFF, 0x00], [0x01, 0xFF, 0xFF], [0x01, 0xFF, 0xFF, 0x05]],
                    [[0x01, 0xFF], [0x01, 0xFF, 0x00], [0x01, 0xFF, 0xFF], [0x01, 0xFF, 0xFF, 0x05]],
                    [[0x01, 0xFF, 0xFF], [0x01, 0xFF, 0xFF, 0x05]],
                    [[0x61, 0x62], [0x61, 0x62, 0x63]],
                    [[0x61, 0x62], [0x61, 0x62, 0x63], [0x61, 0x63]],
                    [[0xFE, 0xFF]],
                    [[0xFF], [0xFF, 0x00], [0xFF, 0xFF], [0xFF, 0xFF, 0x01], [0xFF, 0xFF, 0xFF]],
                    [[0xFF, 0xFF], [0xFF, 0xFF, 0x01], [0xFF, 0xFF, 0xFF]],
                    [[0xFF, 0xFF, 0xFF]],
                    [],
                    [],
                    [[0x00]],
                    all,
                ]
                for (p, want) in zip(cases, expected) {
                    #expect(try keys(try txn.entries(.prefix(p))) == want, "prefix \(p)")
                    #expect(try keys(try txn.entries(.prefix(p), reverse: true)) == want.reversed(), "prefix \(p), reverse")
                }
            }
        }
    }

    // MARK: Deleting through the cursor

    @Test(arguments: ["next", "previous", "key"])
    func deleteThenMove(_ move: String) throws {
        try withEnvironment { env in
            let keys = (0..<10).map { "k\($0)" }
            try fillStrings(env, keys)
            // (cursor on, expected result of the move after deleting it)
            let cases: [(Int, Int?)] = switch move {
            case "next": [(5, 6), (0, 1), (9, nil)]
            case "previous": [(5, 4), (9, 8), (0, nil)]
            default: [(5, 6), (0, 1), (9, nil)]
            }
            for (on, expected) in cases {
                let txn = try env.beginWrite()
                let c = try txn.cursor()
                #expect(try c.seek(to: bytes("k\(on)")))
                try c.delete()
                #expect(try txn.get("k\(on)") == nil)
                let moved: Bool
                switch move {
                case "next": moved = try c.next()
                case "previous": moved = try c.previous()
                default: moved = try c.key != nil
                }
                #expect(moved == (expected != nil), "\(move) after deleting k\(on)")
                #expect(try c.key == expected.map { bytes("k\($0)") }, "\(move) after deleting k\(on)")
                if let e = expected { #expect(try c.value == bytes("v-k\(e)")) }
            }
            // Aborted: everything is still there.
            try env.read { txn throws in #expect(try strings(try txn.entries()) == keys) }
        }
    }

    @Test func deleteNeedsAPosition() throws {
        try withEnvironment { env in
            try fillStrings(env, ["a", "b"])
            let txn = try env.beginWrite()
            let c = try txn.cursor()
            #expect(throws: LarchError.self) { try c.delete() }
            #expect(try c.seek(to: bytes("b")))
            #expect(try c.next() == false)
            #expect(throws: LarchError.self) { try c.delete() }
            #expect(try strings(try txn.entries()) == ["a", "b"])
        }
    }

    @Test func deleteEveryOtherKeyWhileWalkingDeepTree() throws {
        try withEnvironment { env in
            let n = 3000
            try fillDeep(env, Array(0..<n))
            try env.write { txn throws in
                let c = try txn.cursor()
                var on = try c.first()
                var i = 0
                while on && i < n + 2 {
                    #expect(Self.index(try c.key) == i)
                    try c.delete()
                    // next() lands on the key after the deleted one, which is kept; the one after that goes next.
                    #expect(try c.next() == (i + 1 < n))
                    if i + 1 < n { #expect(Self.index(try c.key) == i + 1) }
                    on = try c.next()
                    i += 2
                }
                #expect(try txn.stats().entries == UInt64(n / 2))
            }
            try assertClean(env)
            try env.read { txn throws in
                #expect(try keys(try txn.entries()) == stride(from: 1, to: n, by: 2).map(Self.deepKey))
            }
            // Backward walk, deleting every other remaining key with previous().
            try env.write { txn throws in
                let c = try txn.cursor()
                var on = try c.last()
                var expected = stride(from: 1, to: n, by: 2).reversed().map { $0 }
                var kept: [Int] = []
                while on {
                    guard !expected.isEmpty else {
                        Issue.record("the cursor is on \(String(describing: Self.index(try c.key))) past the last expected key")
                        break
                    }
                    let i = expected.removeFirst()
                    #expect(Self.index(try c.key) == i)
                    try c.delete()
                    on = try c.previous()
                    if on, !expected.isEmpty {
                        let j = expected.removeFirst()
                        #expect(Self.index(try c.key) == j)
                        kept.append(j)
                        on = try c.previous()
                    }
                }
                #expect(expected.isEmpty, "\(expected.count) keys were never reached")
                #expect(try keys(try txn.entries()) == kept.reversed().map(Self.deepKey))
            }
            try assertClean(env)
        }
    }

    @Test func deleteAllThroughCursor() throws {
        try withEnvironment { env in
            try fillDeep(env, Array(0..<2500))
            try env.write { txn throws in
                let c = try txn.cursor()
                var on = try c.first()
                var deleted = 0
                while on && deleted <= 2500 {
                    try c.delete()
                    deleted += 1
                    on = try c.next()
                }
                #expect(deleted == 2500)
                let s = try txn.stats()
                #expect(s.entries == 0)
                #expect(s.depth == 0)
                #expect(s.leafPages == 0 && s.branchPages == 0)
                #expect(try c.first() == false)
            }
            try assertClean(env)
            try env.read { txn throws in #expect(try keys(try txn.entries()).isEmpty) }
        }
    }

    // MARK: Cursors across changes made through the transaction

    @Test func cursorFollowsTreeChangesMadeThroughTheTransaction() throws {
        try withEnvironment { env in
            // Even keys 0, 2, ..., 3998.
            var present = Set(stride(from: 0, to: 4000, by: 2))
            try fillDeep(env, present.sorted())
            func after(_ i: Int) -> Int? { present.filter { $0 > i }.min() }
            func before(_ i: Int) -> Int? { present.filter { $0 < i }.max() }

            try env.write { txn throws in
                let c = try txn.cursor()
                #expect(try c.seek(to: Self.deepKey(2000)))

                // Inserting many keys before the cursor (splits all over the left half).
                for i in stride(from: 1, to: 2000, by: 2) {
                    try txn.put(Self.deepValue(i), forKey: Self.deepKey(i))
                    present.insert(i)
                }
                #expect(Self.index(try c.key) == 2000)
                #expect(try c.value == Self.deepValue(2000))
                #expect(try c.previous())
                #expect(Self.index(try c.key) == 1999)
                #expect(try c.next())
                #expect(Self.index(try c.key) == 2000)

                // Inserting after the cursor, then moving.
                for i in stride(from: 2001, to: 3000, by: 2) {
                    try txn.put(Self.deepValue(i), forKey: Self.deepKey(i))
                    present.insert(i)
                }
                #expect(try c.next())
                #expect(Self.index(try c.key) == 2001)
                #expect(try c.previous())
                #expect(Self.index(try c.key) == 2000)

                // Deleting the cursor's key through the transaction: next() lands on its successor.
                #expect(try txn.delete(Self.deepKey(2000)))
                present.remove(2000)
                #expect(try c.next())
                #expect(Self.index(try c.key) == 2001)

                // ... and previous() on its predecessor.
                #expect(try txn.delete(Self.deepKey(2001)))
                present.remove(2001)
                #expect(try c.previous())
                #expect(Self.index(try c.key) == 1999)

                // Deleting a wide swath around the cursor (merges and borrows), keeping its key.
                for i in 500..<3500 where i != 1999 && present.contains(i) {
                    #expect(try txn.delete(Self.deepKey(i)))
                    present.remove(i)
                }
                #expect(Self.index(try c.key) == 1999)
                #expect(try c.next())
                #expect(Self.index(try c.key) == after(1999))
                #expect(try c.previous())
                #expect(Self.index(try c.key) == 1999)
                #expect(try c.previous())
                #expect(Self.index(try c.key) == before(1999))

                // A second cursor is unaffected by the first one's writes.
                let other = try txn.cursor()
                #expect(try other.seek(to: Self.deepKey(3600)))
                try c.put([0xAA], forKey: Self.deepKey(3601))
                present.insert(3601)
                #expect(Self.index(try c.key) == 3601)
                #expect(try c.value == [0xAA])
                #expect(Self.index(try other.key) == 3600)
                #expect(try other.next())
                #expect(Self.index(try other.key) == 3601)
                #expect(try c.seek(to: Self.deepKey(3602)))
                try c.delete()
                present.remove(3602)
                #expect(try other.next())
                #expect(Self.index(try other.key) == after(3601))
                #expect(try other.previous())
                #expect(try other.previous())
                #expect(Self.index(try other.key) == 3600)

                // Everything seen through the transaction matches.
                #expect(try keys(try txn.entries()) == present.sorted().map(Self.deepKey))
                #expect(try txn.stats().entries == UInt64(present.count))

                // Clearing the database under the cursor.
                try txn.clear()
                present.removeAll()
                #expect(try c.next() == false)
                #expect(try other.key == nil)
            }
            try assertClean(env)
            try env.read { txn throws in #expect(try txn.stats().entries == 0) }
        }
    }

    @Test func cursorSeesValuesOverwrittenUnderIt() throws {
        try withEnvironment { env in
            try fillDeep(env, Array(0..<600))
            var rng = SeededGenerator(seed: 3)
            try env.write { txn throws in
                let c = try txn.cursor()
                #expect(try c.seek(to: Self.deepKey(300)))
                // Same size (rewritten in place), other sizes, an overflow value, and back to small.
                for value in [[UInt8](repeating: 0xEE, count: 9), [0x01], rng.bytes(1500), rng.bytes(9000), [], bytes("small")] {
                    try txn.put(value, forKey: Self.deepKey(300))
                    #expect(try c.value == value, "value of \(value.count) bytes")
                    #expect(try c.withCurrent { _, v in spanBytes(v) } == value)
                    #expect(Self.index(try c.key) == 300)
                }
                #expect(try c.next())
                #expect(Self.index(try c.key) == 301)
                #expect(try c.value == Self.deepValue(301))
            }
            try assertClean(env)
        }
    }

    @Test func entriesSurviveChangesMadeWhileIterating() throws {
        try withEnvironment { env in
            let original = (0..<1500).map { $0 * 2 }
            try fillDeep(env, original)
            try env.write { txn throws in
                // Inserting right after each original key as it is visited: the inserted keys are visited too.
                var visited: [Int] = []
                var forward = try txn.entries()
                while let (k, _) = try forward.next() {
                    guard let i = Self.index(k), visited.count < 4000 else { break }
                    visited.append(i)
                    if i % 2 == 0 { try txn.put(Self.deepValue(i + 1), forKey: Self.deepKey(i + 1)) }
                }
                #expect(visited == Array(0..<3000))

                // Deleting each entry as it is visited: every entry is visited once, nothing remains.
                visited = []
                var backward = try txn.entries(reverse: true)
                while let (k, _) = try backward.next() {
                    guard let i = Self.index(k), visited.count < 4000 else { break }
                    visited.append(i)
                    #expect(try txn.delete(k))
                }
                #expect(visited == Array((0..<3000).reversed()))
                #expect(try txn.stats().entries == 0)
            }
            try assertClean(env)
        }
    }

    @Test func cursorOnNamedDatabaseIgnoresChangesElsewhere() throws {
        try withEnvironment { env in
            try fillDeep(env, Array(0..<800), in: "named")
            try env.write { txn throws in
                let db = try txn.openDatabase("named")
                let c = try txn.cursor(db)
                #expect(try c.seek(to: Self.deepKey(400)))
                // Heavy changes to the main database and the catalog between moves.
                for i in 0..<800 { try txn.put(Self.deepValue(i), forKey: Self.deepKey(i)) }
                _ = try txn.openDatabase("other", create: true)
                for i in 0..<800 where i % 3 == 0 { #expect(try txn.delete(Self.deepKey(i))) }
                #expect(Self.index(try c.key) == 400)
                #expect(try c.next())
                #expect(Self.index(try c.key) == 401)
                #expect(try c.previous())
                #expect(try c.previous())
                #expect(Self.index(try c.key) == 399)
                #expect(try keys(try txn.entries(in: db)) == (0..<800).map(Self.deepKey))
            }
            try assertClean(env)
        }
    }

    @Test func readCursorKeepsItsSnapshotAcrossCommits() throws {
        try withEnvironment { env in
            let n = 2000
            try fillDeep(env, Array(0..<n))
            let reader = try env.beginRead()
            let c = try reader.cursor()
            #expect(try c.seek(to: Self.deepKey(1000)))
            // Writers rewrite, delete and regrow everything; pages freed by them must not be reused
            // while the reader can still see them.
            for round in 0..<4 {
                try env.write { txn throws in
                    if round == 1 {
                        try txn.clear()
                    } else {
                        for i in 0..<n { try txn.put([UInt8](repeating: UInt8(round), count: 40), forKey: Self.deepKey(i)) }
                    }
                }
            }
            var seen: [Int] = [1000]
            while try c.next() {
                seen.append(Self.index(try c.key) ?? -1)
                #expect(try c.value == Self.deepValue(seen.last!))
            }
            #expect(seen == Array(1000..<n))
            #expect(try c.seek(to: Self.deepKey(999)))
            var back: [Int] = []
            repeat { back.append(Self.index(try c.key) ?? -1) } while try c.previous()
            #expect(back == Array((0...999).reversed()))
            #expect(try reader.stats().entries == UInt64(n))
            let report = try assertClean(env)
            #expect(report.pagesAwaitingReuse > 0, "the reader's pages must be held back from reuse")
        }
    }

    @Test func cursorPutMovesTheCursor() throws {
        try withEnvironment { env in
            try fillStrings(env, ["b", "d"])
            try env.write { txn throws in
                let c = try txn.cursor()
                try c.put(bytes("new"), forKey: bytes("c"))
                #expect(try c.key == bytes("c"))
                #expect(try c.value == bytes("new"))
                #expect(try c.next())
                #expect(try c.key == bytes("d"))
                try c.put(bytes("replaced"), forKey: bytes("b"))
                #expect(try c.key == bytes("b"))
                #expect(try c.value == bytes("replaced"))
                #expect(try c.previous() == false)
            }
            try env.read { txn throws in
                #expect(try txn.getString("b") == "replaced")
                #expect(try txn.getString("c") == "new")
                #expect(try txn.stats().entries == 3)
            }
            try assertClean(env)
        }
    }

    // MARK: Zero-copy access

    @Test func withCurrentMatchesCopies() throws {
        try withEnvironment { env in
            var rng = SeededGenerator(seed: 7)
            let entries: [([UInt8], [UInt8])] = [
                (bytes("empty"), []),
                (bytes("small"), bytes("value")),
                (bytes("large"), rng.bytes(10_000)),
                ([UInt8](repeating: 0x7A, count: 1024), rng.bytes(300)),
                ([0xFF], rng.bytes(2000)),
            ]
            func check(_ txn: borrowing Transaction<some TransactionMode>) throws {
                let c = try txn.cursor()
                for (k, v) in entries {
                    #expect(try c.seek(to: k))
                    let copyKey = try c.key
                    let copyValue = try c.value
                    let inPlace = try c.withCurrent { key, value in
                        (spanBytes(key), spanBytes(value), key.byteCount, value.byteCount)
                    }
                    let got = try #require(inPlace)
                    #expect(got.0 == k && got.0 == copyKey)
                    #expect(got.1 == v && got.1 == copyValue)
                    #expect(got.2 == k.count && got.3 == v.count)
                    let viaWithValue = try txn.withValue(forKey: k) { spanBytes($0) }
                    #expect(viaWithValue == v)
                }
                #expect(try txn.withValue(forKey: bytes("absent")) { spanBytes($0) } == nil)
                // Walking with withCurrent sees every entry once, in order.
                var walked: [[UInt8]] = []
                var on = try c.first()
                while on {
                    if let k = try c.withCurrent({ key, _ in spanBytes(key) }) { walked.append(k) }
                    on = try c.next()
                }
                #expect(walked == entries.map(\.0).sorted(by: keyPrecedes))
                #expect(try c.withCurrent { _, _ in true } == nil)
            }
            try env.write { txn throws in
                for (k, v) in entries { try txn.put(v, forKey: k) }
                try check(txn) // uncommitted, from dirty pages
            }
            try env.read { txn throws in try check(txn) } // committed, from the map
        }
    }

    // MARK: Misuse

    @Test func cursorAfterTransactionEndedThrows() throws {
        try withEnvironment { env in
            try fillStrings(env, ["a", "b", "c"])
            func expectEnded<M>(_ c: Cursor<M>, _ comment: Comment, sourceLocation: SourceLocation = #_sourceLocation) {
                #expect(throws: LarchError.transactionEnded, comment, sourceLocation: sourceLocation) { try c.first() }
                #expect(throws: LarchError.transactionEnded, comment, sourceLocation: sourceLocation) { try c.last() }
                #expect(throws: LarchError.transactionEnded, comment, sourceLocation: sourceLocation) { try c.next() }
                #expect(throws: LarchError.transactionEnded, comment, sourceLocation: sourceLocation) { try c.previous() }
                #expect(throws: LarchError.transactionEnded, comment, sourceLocation: sourceLocation) { try c.seek(to: bytes("a")) }
                #expect(throws: LarchError.transactionEnded, comment, sourceLocation: sourceLocation) { try c.seek(atLeast: bytes("a")) }
                #expect(throws: LarchError.transactionEnded, comment, sourceLocation: sourceLocation) { _ = try c.key }
                #expect(throws: LarchError.transactionEnded, comment, sourceLocation: sourceLocation) { _ = try c.value }
                #expect(throws: LarchError.transactionEnded, comment, sourceLocation: sourceLocation) { _ = try c.withCurrent { _, _ in 0 } }
            }
            func expectWriteEnded(_ c: Cursor<ReadWrite>, _ comment: Comment, sourceLocation: SourceLocation = #_sourceLocation) {
                expectEnded(c, comment, sourceLocation: sourceLocation)
                #expect(throws: LarchError.transactionEnded, comment, sourceLocation: sourceLocation) { try c.put(bytes("x"), forKey: bytes("x")) }
                #expect(throws: LarchError.transactionEnded, comment, sourceLocation: sourceLocation) { try c.delete() }
            }

            // Read transaction, aborted while the cursor is positioned.
            let r = try env.beginRead()
            let rc = try r.cursor()
            #expect(try rc.seek(to: bytes("b")))
            var pending = try r.entries()
            r.abort()
            expectEnded(rc, "read transaction aborted")
            do throws(LarchError) {
                _ = try pending.next()
                Issue.record("entries of an ended transaction must throw")
            } catch {
                #expect(error == .transactionEnded)
            }

            // Cursor escaping Environment.read.
            let escaped = try env.read { txn throws in
                let c = try txn.cursor()
                _ = try c.first()
                return c
            }
            expectEnded(escaped, "cursor escaped from env.read")

            // Write transaction, committed.
            var w = try env.beginWrite()
            let wc = try w.cursor()
            #expect(try wc.last())
            try w.put("d", forKey: "d")
            try w.commit()
            expectWriteEnded(wc, "write transaction committed")

            // Write transaction, aborted.
            let w2 = try env.beginWrite()
            let wc2 = try w2.cursor()
            #expect(try wc2.first())
            w2.abort()
            expectWriteEnded(wc2, "write transaction aborted")

            try env.read { txn throws in #expect(try strings(try txn.entries()) == ["a", "b", "c", "d"]) }
        }
    }
}

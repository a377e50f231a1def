import Foundation
import Testing
@testable import Larch

/// Named snapshots: random writes to the main and named databases, snapshots created and dropped
/// at random, every snapshot read back against the in-memory history after every step, restarts,
/// and the checker (every page reachable from the current state or a snapshot, or free, exactly
/// once) after every commit.
///
/// Reproduce a failure with the seed printed: `LARCH_SEED=<seed> swift test --filter SnapshotTests`.
@Suite struct SnapshotTests {
    static let defaultSeed: UInt64 = 0x534E_4150_0000_0001

    /// The contents of every database: name (nil: main) → key → value.
    typealias State = [String?: [[UInt8]: [UInt8]]]

    static func read(_ txn: borrowing ReadTransaction) throws -> State {
        var state: State = [:]
        var main: [[UInt8]: [UInt8]] = [:]
        for (k, v) in try txn.entries().collect() { main[k] = v }
        state[nil] = main
        for name in try txn.databaseNames() {
            var d: [[UInt8]: [UInt8]] = [:]
            for (k, v) in try txn.entries(in: try txn.openDatabase(name)).collect() { d[k] = v }
            state[name] = d
        }
        return state
    }

    static func key(_ i: Int) -> [UInt8] { Array("key-\(i)".utf8) }

    @Test func randomSnapshotsMatchTheirHistory() throws {
        let seed = TestEnvironment.seed(default: Self.defaultSeed)
        var g = SeededGenerator(seed: seed)
        let dir = try TemporaryDirectory("snapshots-model")
        let path = dir.file()
        var env: Environment? = try Environment(path: path, options: Options(durability: .noSync))
        var current: State = [nil: [:]]
        var snapshots: [String: State] = [:]
        var created = 0, dropped = 0, restarts = 0, reads = 0
        let steps = 160 * TestEnvironment.scale
        for step in 0..<steps {
            let context = "seed \(seed), step \(step)"
            let roll = Int.random(in: 0..<100, using: &g)
            if roll < 12 {
                let name = "s\(Int.random(in: 0..<8, using: &g))"
                if snapshots[name] == nil {
                    let info = try env!.createSnapshot(name)
                    #expect(info.name == name)
                    snapshots[name] = current
                    created += 1
                } else {
                    #expect(throws: LarchError.snapshotExists(name: name), "\(context)") { try env!.createSnapshot(name) }
                }
            } else if roll < 20 {
                let name = "s\(Int.random(in: 0..<8, using: &g))"
                if snapshots[name] != nil {
                    let before = try env!.snapshots().first { $0.name == name }!.uniqueBytes
                    let freeBefore = try env!.stats()
                    try env!.dropSnapshot(name)
                    snapshots[name] = nil
                    dropped += 1
                    let freeAfter = try env!.stats()
                    // The drop's pages are freed by it (awaiting reuse, or free when no reader needs them).
                    #expect((freeAfter.freePages + freeAfter.pagesAwaitingReuse) * 4096 >= (freeBefore.freePages + freeBefore.pagesAwaitingReuse) * 4096 + before - 4 * 4096,
                            "\(context): dropping \(name) should free the \(before) bytes only it held")
                } else {
                    #expect(throws: LarchError.snapshotNotFound(name: name), "\(context)") { try env!.dropSnapshot(name) }
                }
            } else if roll < 24 {
                env!.close()
                env = try Environment(path: path, options: Options(durability: .noSync))
                restarts += 1
            } else {
                // A write transaction: puts (some large: overflow runs), deletes, named databases.
                var next = current
                try env!.write { txn in
                    for _ in 0..<Int.random(in: 1...40, using: &g) {
                        let dbName: String? = Int.random(in: 0..<4, using: &g) == 0 ? "db\(Int.random(in: 0..<3, using: &g))" : nil
                        let db: Database
                        if let dbName { db = try txn.openDatabase(dbName, create: true); if next[dbName] == nil { next[dbName] = [:] } } else { db = .main }
                        let k = Self.key(Int.random(in: 0..<600, using: &g))
                        let r = Int.random(in: 0..<10, using: &g)
                        if r < 3 {
                            try txn.delete(k, in: db)
                            next[dbName]![k] = nil
                        } else {
                            let size = r == 9 ? Int.random(in: 2_000...9_000, using: &g) : Int.random(in: 1...120, using: &g)
                            let v = (0..<size).map { UInt8(truncatingIfNeeded: $0 &+ step) }
                            try txn.put(v, forKey: k, in: db)
                            next[dbName]![k] = v
                        }
                    }
                    if Int.random(in: 0..<25, using: &g) == 0, let victim = next.keys.compactMap({ $0 }).sorted().first {
                        try txn.dropDatabase(try txn.openDatabase(victim))
                        next[victim] = nil
                    }
                }
                current = next
            }
            // Every snapshot, and the current state, read back; the checker after every step.
            #expect(try env!.read { try Self.read($0) } == current, "\(context): current state")
            for (name, expected) in snapshots {
                let found = try env!.read(snapshot: name) { try Self.read($0) }
                #expect(found == expected, "\(context): snapshot \(name)")
                reads += 1
            }
            let report = try env!.check()
            #expect(report.isClean, "\(context): \(report)")
            #expect(report.snapshotCount == snapshots.count, "\(context)")
            if !report.isClean { return }
        }
        // Dropping every snapshot leaves no page held for one.
        for name in snapshots.keys.sorted() { try env!.dropSnapshot(name) }
        let report = try env!.check()
        #expect(report.isClean && report.snapshotPages == 0 && report.snapshotCount == 0, "\(report)")
        print("snapshots: seed \(seed), \(steps) steps, \(created) created, \(dropped) dropped, \(restarts) restarts, \(reads) snapshot reads")
        #expect(created >= 5 && dropped >= 3 && restarts >= 3)
    }

    /// A snapshot keeps its pages: the file grows by what the snapshot holds while writes go on,
    /// and dropping it gives exactly the pages only it held back for reuse.
    @Test func droppingASnapshotGivesItsPagesBack() throws {
        let dir = try TemporaryDirectory("snapshots-space")
        let env = try Environment(path: dir.file(), options: Options(durability: .noSync))
        try env.write { txn in for i in 0..<3_000 { try txn.put([UInt8](repeating: 1, count: 100), forKey: Self.key(i)) } }
        try env.createSnapshot("before")
        try env.write { txn in for i in 0..<3_000 { try txn.put([UInt8](repeating: 2, count: 100), forKey: Self.key(i)) } }
        let info = try #require(try env.snapshots().first)
        #expect(info.name == "before" && info.uniqueBytes > 0 && info.referencedBytes >= info.uniqueBytes, "\(info)")
        let held = try env.check().snapshotPages
        #expect(held * 4096 == info.uniqueBytes)
        #expect(try env.read(snapshot: "before") { try $0.get(Self.key(7)) } == [UInt8](repeating: 1, count: 100))
        let pagesBefore = try env.read { $0.core.meta.pageCount }
        try env.dropSnapshot("before")
        #expect(try env.check().snapshotPages == 0)
        #expect(throws: LarchError.snapshotNotFound(name: "before")) { try env.read(snapshot: "before") { _ in } }
        // The dropped snapshot's pages are reused: rewriting everything again does not grow the file.
        try env.write { txn in for i in 0..<3_000 { try txn.put([UInt8](repeating: 3, count: 100), forKey: Self.key(i)) } }
        try env.write { txn in for i in 0..<3_000 { try txn.put([UInt8](repeating: 4, count: 100), forKey: Self.key(i)) } }
        #expect(try env.read { $0.core.meta.pageCount } <= pagesBefore)
        #expect(try env.check().isClean)
    }

    /// Names are checked; a snapshot cannot be created after the transaction changed data.
    @Test func snapshotMisuseIsATypedError() throws {
        let dir = try TemporaryDirectory("snapshots-misuse")
        let env = try Environment(path: dir.file())
        #expect(throws: LarchError.invalidSnapshotName(name: "", reason: "it is empty")) { try env.createSnapshot("") }
        #expect { try env.createSnapshot(String(repeating: "x", count: 256)) } throws: { error in
            guard case .invalidSnapshotName? = error as? LarchError else { return false }
            return true
        }
        var txn = try env.beginWrite()
        try txn.put("v", forKey: "k")
        #expect { try txn.createSnapshot("late") } throws: { error in
            guard case .snapshotNotAllowed? = error as? LarchError else { return false }
            return true
        }
        try txn.put("w", forKey: "k2")   // the rejected call left the transaction usable
        try txn.commit()
        #expect(try env.snapshots().isEmpty)
        // A name from input is escaped in messages.
        let error = LarchError.snapshotNotFound(name: "a\u{1B}[2Jb")
        #expect(!error.description.contains("\u{1B}"), "\(error)")
    }

    /// The neighbours of every snapshot at once (for `snapshots()`) are those found one at a time,
    /// ties of snapshots of one transaction included.
    @Test func neighboursOfAllSnapshotsAtOnceMatchOneAtATime() {
        var g = SeededGenerator(seed: 0x5A5A)
        for round in 0..<200 {
            let count = Int(g.next() % 12)
            let all = (0..<count).map { i in
                NamedSnapshot(name: Array("s\(i)".utf8),
                              record: SnapshotRecord(txn: TransactionID(1 + g.next() % 8), createdNanoseconds: 0, id: [UInt8](repeating: 0, count: 16),
                                                     pageCount: 2, main: .empty, catalog: .empty))
            }
            let atOnce = SnapshotCatalog.allNeighbours(of: all)
            for (s, n) in zip(all, atOnce) {
                let one = SnapshotCatalog.neighbours(of: s, among: all)
                #expect(one.previous == n.previous && one.next == n.next, "round \(round): \(s.record.txn)")
            }
        }
    }
}

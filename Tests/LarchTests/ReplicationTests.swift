import Foundation
import Testing
@testable import Larch

/// `send` and `receive`: a replica kept equal to a primary's snapshots by full and incremental
/// change streams; streams that do not apply, or are damaged, change nothing.
///
/// Reproduce a failure with the seed printed: `LARCH_SEED=<seed> swift test --filter ReplicationTests`.
@Suite struct ReplicationTests {
    static let defaultSeed: UInt64 = 0x5245_504C_0000_0001

    /// A change stream held in memory.
    final class Stream: @unchecked Sendable {
        var bytes: [UInt8] = []
        var position = 0
        func write(_ b: UnsafeRawBufferPointer) { bytes.append(contentsOf: b) }
        func read(_ into: UnsafeMutableRawBufferPointer) -> Int {
            let n = min(into.count, bytes.count - position)
            for i in 0..<n { into[i] = bytes[position + i] }
            position += n
            return n
        }
        func rewound() -> Stream { let s = Stream(); s.bytes = bytes; return s }
    }

    static func send(_ env: Environment, _ snapshot: String, from base: String?) throws -> (Stream, ChangeStreamSummary) {
        let s = Stream()
        let summary = try env.send(snapshot: snapshot, from: base) { s.write($0) }
        return (s, summary)
    }

    static func receive(_ env: Environment, _ s: Stream) throws -> ChangeStreamSummary {
        try env.receive { s.read($0) }
    }

    static func state(_ env: Environment, snapshot: String? = nil) throws -> SnapshotTests.State {
        if let snapshot { return try env.read(snapshot: snapshot) { try SnapshotTests.read($0) } }
        return try env.read { try SnapshotTests.read($0) }
    }

    @Test func aReplicaFollowsThePrimaryByIncrementalStreams() throws {
        let seed = TestEnvironment.seed(default: Self.defaultSeed)
        var g = SeededGenerator(seed: seed)
        let dir = try TemporaryDirectory("replication")
        let primary = try Environment(path: dir.file("primary.larch"), options: Options(durability: .noSync))
        let replica = try Environment(path: dir.file("replica.larch"), options: Options(durability: .noSync))
        var previous: String?
        var totalRecords: UInt64 = 0
        for round in 0..<25 {
            let context = "seed \(seed), round \(round)"
            try primary.write { txn in
                for _ in 0..<Int.random(in: 1...(round == 0 ? 400 : 60), using: &g) {
                    let dbName: String? = Int.random(in: 0..<4, using: &g) == 0 ? "db\(Int.random(in: 0..<3, using: &g))" : nil
                    let db = try dbName.map { name throws(LarchError) in try txn.openDatabase(name, create: true) } ?? .main
                    let k = SnapshotTests.key(Int.random(in: 0..<2_000, using: &g))
                    switch Int.random(in: 0..<10, using: &g) {
                    case 0..<3: try txn.delete(k, in: db)
                    case 9: try txn.put([UInt8](repeating: UInt8(round), count: Int.random(in: 3_000...12_000, using: &g)), forKey: k, in: db)
                    default: try txn.put(Array("v\(round)-\(Int.random(in: 0..<1_000, using: &g))".utf8), forKey: k, in: db)
                    }
                }
                if round % 7 == 6, let victim = try txn.databaseNames().first {
                    try txn.dropDatabase(try txn.openDatabase(victim))
                }
            }
            let name = "r\(round)"
            try primary.createSnapshot(name)
            let (stream, sent) = try Self.send(primary, name, from: previous)
            #expect(sent.isIncremental == (previous != nil))
            let received = try Self.receive(replica, stream)
            #expect(received.records == sent.records && received.bytes == sent.bytes, "\(context)")
            totalRecords += sent.records
            // The replica holds the snapshot, and its current state equals it.
            let expected = try Self.state(primary, snapshot: name)
            #expect(try Self.state(replica) == expected, "\(context): current state")
            #expect(try Self.state(replica, snapshot: name) == expected, "\(context): snapshot")
            #expect(try replica.snapshots().first { $0.name == name }?.id == primary.snapshots().first { $0.name == name }?.id)
            #expect(try replica.check().isClean, "\(context)")
            // The primary keeps only the newest snapshot, as a replication loop would.
            if let previous { try primary.dropSnapshot(previous); try replica.dropSnapshot(previous) }
            previous = name
        }
        #expect(try primary.check().isClean && replica.check().isClean)
        print("replication: seed \(seed), 25 rounds, \(totalRecords) records sent")
    }

    /// An incremental stream costs what changed: one put into a database of 20,000 keys sends one
    /// record (and its select), found without reading the unchanged pages.
    @Test func anIncrementalStreamCarriesOnlyTheChange() throws {
        let dir = try TemporaryDirectory("replication-small")
        let env = try Environment(path: dir.file(), options: Options(durability: .noSync))
        try env.write { txn in for i in 0..<20_000 { try txn.put([UInt8](repeating: 7, count: 100), forKey: SnapshotTests.key(i)) } }
        try env.createSnapshot("a")
        try env.write { txn in
            try txn.put("new", forKey: "key-10000x")
            try txn.delete(SnapshotTests.key(12_345))
        }
        try env.createSnapshot("b")
        let (_, summary) = try Self.send(env, "b", from: "a")
        #expect(summary.records == 3, "select, put, delete: \(summary)")
        #expect(summary.bytes < 200, "\(summary)")
        let (_, full) = try Self.send(env, "b", from: nil)
        #expect(full.records == 20_001, "\(full)")
    }

    /// Streams that do not apply — wrong base, a replica written to, a full stream into a file with
    /// data, truncated or damaged bytes — are refused with a typed error and change nothing.
    @Test func streamsThatDoNotApplyChangeNothing() throws {
        let dir = try TemporaryDirectory("replication-refused")
        let primary = try Environment(path: dir.file("p.larch"), options: Options(durability: .noSync))
        let replica = try Environment(path: dir.file("r.larch"), options: Options(durability: .noSync))
        try primary.write { txn in for i in 0..<500 { try txn.put(Array("one".utf8), forKey: SnapshotTests.key(i)) } }
        try primary.createSnapshot("a")
        try primary.write { txn in for i in 0..<500 where i % 3 == 0 { try txn.put(Array("two".utf8), forKey: SnapshotTests.key(i)) } }
        try primary.createSnapshot("b")
        let (full, _) = try Self.send(primary, "a", from: nil)
        let (incremental, _) = try Self.send(primary, "b", from: "a")

        func unchanged(_ body: () throws -> Void, _ what: String, isBaseMismatch: Bool) throws {
            let before = try Self.state(replica)
            let snapshotsBefore = try replica.snapshots()
            do {
                try body()
                Issue.record("\(what): accepted")
            } catch let error as LarchError {
                switch error {
                case .changeStreamBaseMismatch: #expect(isBaseMismatch, "\(what): \(error)")
                case .invalidChangeStream: #expect(!isBaseMismatch, "\(what): \(error)")
                default: Issue.record("\(what): \(error)")
                }
            }
            #expect(try Self.state(replica) == before, "\(what)")
            #expect(try replica.snapshots() == snapshotsBefore, "\(what)")
            #expect(try replica.check().isClean, "\(what)")
        }
        // Incremental before its base is here.
        try unchanged({ _ = try Self.receive(replica, incremental.rewound()) }, "an incremental stream into an empty file", isBaseMismatch: true)
        // Truncated anywhere, and a flipped byte anywhere: refused.
        for cut in [0, 5, 40, full.bytes.count / 2, full.bytes.count - 1] {
            let s = Stream()
            s.bytes = Array(full.bytes.prefix(cut))
            try unchanged({ _ = try Self.receive(replica, s) }, "cut at \(cut)", isBaseMismatch: false)
        }
        for at in stride(from: 0, to: full.bytes.count, by: max(1, full.bytes.count / 23)) where at >= 74 {
            let s = Stream()
            s.bytes = full.bytes
            s.bytes[at] ^= 0x20
            try unchanged({ _ = try Self.receive(replica, s) }, "byte \(at) flipped", isBaseMismatch: false)
        }
        // The full stream applies; then a second time it does not (the file holds data).
        _ = try Self.receive(replica, full.rewound())
        #expect(try Self.state(replica) == Self.state(primary, snapshot: "a"))
        try unchanged({ _ = try Self.receive(replica, full.rewound()) }, "a full stream into a file with data", isBaseMismatch: true)
        // A replica written to since its base refuses the incremental stream.
        try replica.write { txn in try txn.put("local", forKey: "local") }
        try unchanged({ _ = try Self.receive(replica, incremental.rewound()) }, "a replica changed since its base", isBaseMismatch: true)
        try replica.write { txn in _ = try txn.delete("local") }
        // Deleting the key again does not restore the base's pages: still refused.
        try unchanged({ _ = try Self.receive(replica, incremental.rewound()) }, "a replica changed and changed back", isBaseMismatch: true)
    }
}

import Testing
@testable import Larch

/// Database and snapshot names are bytes, as in the catalog: two names that are the same text in
/// different Unicode forms are equal `String`s in Swift but two databases (as in LMDB). Found by
/// a differential run against LMDB: `mdb_dump -a | larch load` merged two such databases.
@Suite struct DatabaseNameTests {
    static let composed = "caf\u{E9}"          // é as one scalar: 63 61 66 c3 a9
    static let decomposed = "cafe\u{301}"      // e + combining acute: 63 61 66 65 cc 81

    @Test func unicodeEquivalentNamesAreTwoDatabases() throws {
        #expect(Self.composed == Self.decomposed)   // what made them one
        let dir = try TemporaryDirectory("db-names-unicode")
        let env = try Environment(path: dir.file(), options: Options(durability: .noSync))
        try env.write { txn in
            let a = try txn.openDatabase(Self.composed, create: true)
            let b = try txn.openDatabase(Self.decomposed, create: true)
            try txn.put("in composed", forKey: "k", in: a)
            try txn.put("in decomposed", forKey: "k", in: b)
        }
        // In this process, and after reopening (a fresh handle table).
        for round in 0..<2 {
            let e = round == 0 ? env : try Environment(path: dir.file())
            let (names, a, b) = try e.read { txn in
                (try txn.databaseNames().map { Array($0.utf8) },
                 try txn.getString("k", in: txn.openDatabase(Self.composed)),
                 try txn.getString("k", in: txn.openDatabase(Self.decomposed)))
            }
            #expect(names == [Array(Self.decomposed.utf8), Array(Self.composed.utf8)])   // byte order: 0x65 < 0xc3
            #expect(a == "in composed")
            #expect(b == "in decomposed")
            #expect(try e.check().isClean)
        }
        env.close()
    }

    @Test func unicodeEquivalentSnapshotNamesAreTwoSnapshots() throws {
        let dir = try TemporaryDirectory("snapshot-names-unicode")
        let env = try Environment(path: dir.file(), options: Options(durability: .noSync))
        try env.write { txn in try txn.put("1", forKey: "k") }
        _ = try env.createSnapshot(Self.composed)
        try env.write { txn in try txn.put("2", forKey: "k") }
        _ = try env.createSnapshot(Self.decomposed)
        #expect(try env.snapshots().count == 2)
        try env.dropSnapshot(Self.decomposed)
        let left = try env.snapshots()
        #expect(left.map { Array($0.name.utf8) } == [Array(Self.composed.utf8)])
        #expect(try env.read(snapshot: Self.composed) { txn in try txn.getString("k") } == "1")
        env.close()
    }
}

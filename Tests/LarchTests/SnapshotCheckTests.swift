import Testing
@testable import Larch

/// The checker walks each named snapshot's trees and skips the subtrees it checked already (the
/// current state's, an earlier snapshot's). It skipped too much: the snapshot's pointer to a
/// shared page was not compared with the page's checksum, so a snapshot whose reads fail
/// ("page 24 failed its checksum") was reported clean (found by fuzzing the CLI with forged files).
@Suite struct SnapshotCheckTests {
    @Test func aSnapshotPointerToASharedPageIsCheckedToo() throws {
        let dir = try TemporaryDirectory("snapshot-check-shared")
        let path = dir.file()
        do {
            let env = try Environment(path: path, options: Options(durability: .noSync))
            try env.write { txn in
                let db = try txn.openDatabase("named", create: true)
                for i in 0..<20 { try txn.put("v\(i)", forKey: "k\(i)", in: db) }
                try txn.put("main", forKey: "m")
            }
            _ = try env.createSnapshot("t")   // shares the catalog's root page with the current state
            #expect(try env.check().isClean)
            env.close()
        }
        // The current meta, its catalog root checksum, and its snapshots tree (one leaf).
        let slot = try RawFileIO.read(path, at: 16, count: 8) .withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
            > RawFileIO.read(path, at: 4096 + 16, count: 8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } ? 0 : 1
        var meta = try RawFileIO.read(path, at: slot * 4096, count: 4096)
        let catalogChecksum = Array(meta[(88 + 8)..<(88 + 12)])
        let snapshotsRoot = Int(meta[200..<208].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        #expect(meta[200 + 12] == 1 && meta[200 + 13] == 0, "the snapshots tree is one leaf")
        var leaf = try RawFileIO.read(path, at: snapshotsRoot * 4096, count: 4096)
        // The record's copy of that checksum (the snapshot's catalog descriptor), one bit changed.
        let at = (0..<(4096 - 4)).first { leaf[$0..<($0 + 4)].elementsEqual(catalogChecksum) }
        try #require(at != nil)
        leaf[at!] ^= 1
        // Re-sealed: the leaf's checksum in the meta, the meta's own.
        let leafChecksum = leaf.withUnsafeBytes { CRC32C.checksum($0.baseAddress!, count: 4096) }
        meta.withUnsafeMutableBytes { b in
            b.storeBytes(of: leafChecksum.littleEndian, toByteOffset: 200 + 8, as: UInt32.self)
            MetaPage.seal(b.baseAddress!)
        }
        try RawFileIO.write(path, leaf, at: snapshotsRoot * 4096)
        try RawFileIO.write(path, meta, at: slot * 4096)

        let env = try Environment(path: path, options: Options(verifyChecksums: true))
        #expect(throws: LarchError.self) { try env.read(snapshot: "t") { txn in try txn.databaseNames() } }
        let report = try env.check()
        #expect(!report.isClean && report.problems.contains { $0.description.contains("snapshot \"t\" catalog: checksum mismatch") },
                "\(report.problems)")
        env.close()
    }
}

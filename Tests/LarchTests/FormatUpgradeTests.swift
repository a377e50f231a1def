import Foundation
import Testing
@testable import Larch

/// Format version 4 (sorted duplicates): version-3 files are refused with a message naming
/// `larch upgrade`, and `Environment.upgrade` marks them version 4, crash-safely.
@Suite("Format upgrade 3 → 4")
struct FormatUpgradeTests {
    /// Rewrites the meta in `slot` as version 3 (re-sealed), as the previous build wrote it.
    private func downgrade(_ path: String, slot: Int) throws {
        var meta = try RawFileIO.read(path, at: slot * 4096, count: MetaPage.maxEncodedSize)
        meta.withUnsafeMutableBytes { b in
            b.storeBytes(of: UInt32(3).littleEndian, toByteOffset: 8, as: UInt32.self)
            MetaPage.seal(b.baseAddress!)
        }
        try RawFileIO.write(path, meta, at: slot * 4096)
    }

    @Test func versionThreeIsUpgraded() throws {
        try withTemporaryDirectory { dir in
            let path = dir.file()
            do {
                let env = try Environment(path: path)
                for i in 0..<5 { try env.write { txn in try txn.put("v\(i)", forKey: "k\(i)") } }
                env.close()
            }
            try downgrade(path, slot: 0)
            try downgrade(path, slot: 1)
            do {
                _ = try Environment(path: path)
                Issue.record("a version-3 file opened")
            } catch let e as LarchError {
                #expect(e == .unsupportedVersion(path: path, found: 3, supported: 4))
                #expect(e.description.contains("larch upgrade"), "\(e)")
            }
            let r = try Environment.upgrade(path: path)
            #expect(r == Environment.UpgradeResult(previousVersion: 3, metasRewritten: 2))
            let again = try Environment.upgrade(path: path)
            #expect(again.metasRewritten == 0 && again.previousVersion == 4)
            let env = try Environment(path: path)
            #expect(try env.read { txn in try txn.getString("k4") } == "v4")
            try assertClean(env)
        }
    }

    /// A crash after the first meta was rewritten: the newest commit is already version 4.
    @Test func halfUpgradedFileOpensAtItsNewestCommit() throws {
        try withTemporaryDirectory { dir in
            let path = dir.file()
            do {
                let env = try Environment(path: path)
                for i in 0..<3 { try env.write { txn in try txn.put("v\(i)", forKey: "k\(i)") } }
                env.close()
            }
            // Find the meta of the newest commit, downgrade only the other one.
            let metas = try (0..<2).map { slot in try RawFileIO.read(path, at: slot * 4096, count: 32) }
            let txns = metas.map { m in m[16..<24].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) } }
            let older = txns[0] < txns[1] ? 0 : 1
            try downgrade(path, slot: older)
            do {
                let env = try Environment(path: path)
                #expect(try env.read { txn in try txn.getString("k2") } == "v2")
                env.close()
            }
            let r = try Environment.upgrade(path: path)
            #expect(r.metasRewritten == 1)
        }
    }
}

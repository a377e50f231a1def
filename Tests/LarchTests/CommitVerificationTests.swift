import Foundation
import Testing
@testable import Larch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Issue 12: the open-time check of the newest commit (FORMAT.md §13) on a real file.
@Suite struct CommitVerificationTests {
    private func key(_ i: Int) -> [UInt8] { Array("key-\(String(format: "%05d", i))".utf8) }

    /// A database whose last commit changed one key; returns the leaf page that commit wrote
    /// (born after the durable base) and the meta's ids.
    private func database(_ path: String) throws -> (leaf: UInt64, newest: UInt64, base: UInt64) {
        let env = try Environment(path: path)
        try env.write { txn in for i in 0..<2_000 { try txn.put(Array(repeating: 7, count: 60), forKey: key(i)) } }
        try env.write { txn in try txn.put(Array("changed".utf8), forKey: key(1_234)) }
        return try env.read { txn in
            let core = txn.core
            var pointer = core.meta.main.rootPointer
            for _ in 0..<(core.meta.main.depth - 1) {
                let v = try core.node(pointer.page, checksum: pointer.checksum, kind: .branch)
                pointer = try key(1_234).withUnsafeBytes { k in try v.pointer(v.branchSearch(k)) }
            }
            #expect(pointer.birth == core.meta.txnID, "the changed leaf is born in the last commit")
            return (pointer.page.rawValue, core.meta.txnID.rawValue, core.meta.durableBase.rawValue)
        }
    }

    private func damage(_ path: String, page: UInt64) throws {
        let fd = open(path, O_RDWR)
        #expect(fd >= 0)
        defer { close(fd) }
        var byte: UInt8 = 0
        #expect(pread(fd, &byte, 1, off_t(page) * 4096 + 3000) == 1)
        byte ^= 0x5A
        #expect(pwrite(fd, &byte, 1, off_t(page) * 4096 + 3000) == 1)
    }

    /// After a crash of the machine (no lock file remembers the commit), a newest commit with a
    /// page that is not as written is passed over: the file opens at the commit before it,
    /// whole, and `metaPages` says why.
    @Test func anIncompleteNewestCommitIsPassedOverAfterAMachineCrash() throws {
        let dir = NSTemporaryDirectory() + "larch-verify-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/data.larch"
        let (leaf, newest, base) = try database(path)
        #expect(base == newest - 1)
        try damage(path, page: leaf)
        try FileManager.default.removeItem(atPath: path + "-lock")   // what a reboot forgets
        let env = try Environment(path: path)
        #expect(try env.read { $0.snapshotID } == newest - 1)
        #expect(try env.read { try $0.get(key(1_234)) } == Array(repeating: 7, count: 60))
        #expect(try env.check().isClean)
        let metas = try env.metaPages()
        #expect(metas.contains { $0.transactionID == newest && ($0.problem ?? "").contains("not whole") }, "\(metas)")
        // The next commit writes over the passed-over meta page.
        try env.write { txn in try txn.put(Array("again".utf8), forKey: key(1)) }
        #expect(try env.read { $0.snapshotID } == newest)
        #expect(try env.check().isClean)
    }

    /// In the same boot, the lock file knows the newest commit was whole: damage to its pages is
    /// reported where it is read, never rolled back silently.
    @Test func damageToAPublishedCommitIsReportedNotRolledBack() throws {
        let dir = NSTemporaryDirectory() + "larch-verify-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/data.larch"
        let (leaf, newest, _) = try database(path)
        try damage(path, page: leaf)
        let env = try Environment(path: path, options: Options(verifyChecksums: true))
        #expect(try env.read { $0.snapshotID } == newest)
        #expect(throws: LarchError.self) { try env.read { try $0.get(key(1_234)) } }
        #expect(try !env.check().isClean)
    }

    /// The check reads only the pages born after the durable base: damage to an older page is not
    /// its business (the reads and the checker find it).
    @Test func theCheckVisitsOnlyTheNewestCommitsPages() throws {
        let dir = NSTemporaryDirectory() + "larch-verify-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/data.larch"
        _ = try database(path)
        let env = try Environment(path: path)
        let (meta, mapping) = try env.committed.withLock { c throws(LarchError) in try env.newest(&c) }
        var verifier = CommitVerifier(meta: meta, mapping: mapping)
        try verifier.run()
        let total = meta.main.branchPages + meta.main.leafPages
        #expect(verifier.verifiedPages >= UInt64(meta.main.depth), "root to leaf at least")
        #expect(verifier.verifiedPages < total / 4, "\(verifier.verifiedPages) pages checked of \(total)")
    }
}

import Foundation
import Testing
@testable import Larch
import LarchCrashLab

/// Issue 16, defect 6: a commit that grew the file and then failed (a full disk: the page writes
/// fail with ENOSPC) left the file grown — a 40 MB load that hit ENOSPC left 49 MB, holding the
/// space of the pages it did write. The failed commit gives back what it added.
@Suite struct FailedGrowthTests {
    static func scratchFile(_ label: String) throws -> String {
        let dir = NSTemporaryDirectory() + "larch-growth-\(label)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir + "/g.larch"
    }

    static func fileSize(_ path: String) throws -> Int {
        try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
    }

    static func fill(_ txn: inout WriteTransaction, count: Int, tag: UInt8) throws {
        for i in 0..<count { try txn.put([UInt8](repeating: tag, count: 1000), forKey: Array("key-\(i)".utf8)) }
    }

    @Test func aFailedCommitGivesBackTheGrowthItCaused() throws {
        let path = try Self.scratchFile("failed")
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let options = Options(durability: .full)
        let device = FaultInjectingDevice(try DataFile.open(path: path, create: true, readOnly: false))
        let env = try Environment(storage: device, options: options)
        try env.write { try $0.put("v1", forKey: "k") }
        let before = try Self.fileSize(path)

        var txn = try env.beginWrite()
        try Self.fill(&txn, count: 4000, tag: 1)   // ~4 MB: the commit must grow the file
        device.failNext(.write)                     // the first page write fails, as on a full disk
        var failure: LarchError?
        do { _ = try txn.commit() } catch { failure = error }
        #expect(failure != nil, "the commit fails")
        #expect(device.count(.resize) >= 1, "the commit grew the file before its writes failed")
        #expect(try Self.fileSize(path) == before, "the failed commit gave back the growth")
        #expect(try env.stats().fileSizeBytes == before)

        // The environment goes on: the next commit grows the file again, and all is well.
        try env.write { txn in try Self.fill(&txn, count: 4000, tag: 2) }
        #expect(try Self.fileSize(path) > before)
        #expect(try env.check().isClean)
        env.close()
        let reopened = try Environment(path: path)
        #expect(try reopened.read { try $0.get(Array("key-3999".utf8)) } == [UInt8](repeating: 2, count: 1000))
        #expect(try reopened.check().isClean)
    }

    /// Another process may have seen the file grown by a commit that then gave its growth back:
    /// its record of the file's size is then too large, and a commit of its own must still grow the
    /// file to cover every page its meta counts — here the pages of a large value put and deleted
    /// in the same transaction, counted but never written.
    @Test func aCommitAsksTheFileItsSizeNotItsRecord() throws {
        let path = try Self.scratchFile("record")
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        do { let env = try Environment(path: path); try env.write { try $0.put("v1", forKey: "k") } }
        let before = try Self.fileSize(path)
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        try handle.truncate(atOffset: UInt64(before + (16 << 20)))   // grown by another process's commit ...
        let other = try Environment(path: path)                        // ... while this one opened
        try handle.truncate(atOffset: UInt64(before))                  // ... and given back when that commit failed
        try handle.close()

        try other.write { txn in
            try txn.put([UInt8](repeating: 7, count: 2 << 20), forKey: Array("big".utf8))   // pages counted ...
            _ = try txn.delete(Array("big".utf8))                                         // ... and never written
            try txn.put("v2", forKey: "k")
        }
        let meta = try other.read { $0.core.meta }
        #expect(try Self.fileSize(path) >= Int(meta.pageCount) * meta.pageSize, "the file covers every page the meta counts")
        other.close()
        let reopened = try Environment(path: path)
        #expect(try reopened.read { try $0.getString("k") } == "v2", "the newest commit opens")
        #expect(try reopened.check().isClean)
    }

    /// A commit grows the file by a step (an eighth of it) and writes zeros over the step. On a
    /// disk with room for the commit's pages but not for the step, the commit used to fail with
    /// ENOSPC while up to an eighth of the file was still free (found by filling small disks); it
    /// now grows by exactly what it needs. A commit that does not fit still fails, typed, and
    /// leaves the file as it was.
    @Test func aCommitThatFitsIsNotRefusedForTheGrowthStep() throws {
        let path = try Self.scratchFile("step")
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let device = FaultInjectingDevice(try DataFile.open(path: path, create: true, readOnly: false))
        let env = try Environment(storage: device, options: Options(durability: .full))
        try env.write { txn in try Self.fill(&txn, count: 4000, tag: 1) }   // about 4 MB: a step of 0.5 MB
        // The disk holds 8 more pages beyond the file's pages in use; the step would need far more.
        let inUse = try env.read { Int($0.core.meta.pageCount) * $0.core.meta.pageSize }
        let size = try Self.fileSize(path)
        device.capacityBytes.store(max(size, inUse) + 8 * 4096, ordering: .relaxed)
        var grew = false
        for i in 0..<40 where !grew {   // one-page commits until one needs the file to grow
            let before = try Self.fileSize(path)
            try env.write { txn in try txn.put([UInt8](repeating: 3, count: 3000), forKey: Array("new-\(i)".utf8)) }
            grew = try Self.fileSize(path) > before
        }
        #expect(grew, "a commit grew the file into the last free space")
        #expect(try Self.fileSize(path) <= device.capacityBytes.load(ordering: .relaxed))

        // A commit larger than the space left fails with ENOSPC and changes nothing.
        let before = try Self.fileSize(path)
        var failure: LarchError?
        do { try env.write { txn in try Self.fill(&txn, count: 400, tag: 9) } } catch let e as LarchError { failure = e }
        guard case let .io(_, _, code, _)? = failure else { Issue.record("expected an I/O error, got \(String(describing: failure))"); return }
        #expect(code == ENOSPC)
        #expect(try Self.fileSize(path) == before)
        #expect(try env.check().isClean)
        #expect(try env.read { try $0.get(Array("key-0".utf8)) } == [UInt8](repeating: 1, count: 1000))
    }
}

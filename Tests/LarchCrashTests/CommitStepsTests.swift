import Testing
@testable import Larch
import LarchCrashLab

// Issue 10: commit as prepare → write → publish, each testable alone. `prepareCommit` works in memory
// only; after `writeCommit` the new state is on disk (a reopened copy of the disk holds it) but new
// transactions still see the previous snapshot; `publishCommit` makes it the current one.
@Suite struct CommitStepsTests {
    @Test func prepareTouchesNoFileAndTheMetaWriteIsTheCommitPoint() throws {
        let disk = SimulatedDisk(capacity: 64 << 20, recording: false)
        let device = FaultInjectingDevice(disk)
        let options = Options(durability: .full)
        let env = try Environment(storage: device, options: options)
        try env.write { try $0.put("v1", forKey: "k") }
        let before = try env.read { $0.snapshotID }

        var txn = try env.beginWrite()
        for i in 0..<300 { try txn.put([UInt8](repeating: UInt8(i & 255), count: 200), forKey: Array("key-\(i)".utf8)) }
        try txn.put("v2", forKey: "k")
        let core = txn.core
        func operations() -> [Int] { FaultInjectingDevice.Operation.allCases.map { device.count($0) } }

        let untouched = operations()
        let prepared = try core.prepareCommit()
        #expect(operations() == untouched, "prepareCommit must not touch the file")
        #expect(prepared.meta.txnID.rawValue == before + 1)
        #expect(prepared.requiredBytes == Int(prepared.meta.pageCount) * 4096)

        let written = try core.writeCommit(prepared)
        #expect(device.count(.write) > untouched[0] && device.count(.sync) > untouched[1])
        #expect(written.stats.transactionID == before + 1)
        // The meta is written: that is the commit point, and new readers (of this environment or any
        // other on the file) see the new snapshot; publishing only updates this environment's
        // bookkeeping (its map, the durable transaction, `lastCommit`).
        #expect(try env.read { $0.snapshotID } == before + 1)
        #expect(try env.read { try $0.getString("k") } == "v2")
        #expect(env.lastCommit?.transactionID != before + 1, "not published yet")
        let copy = try Environment(storage: SimulatedDisk(capacity: 64 << 20, image: disk.contents, recording: false), options: options)
        #expect(try copy.read { try $0.getString("k") } == "v2", "the written commit is what the file holds")
        #expect(try copy.check().isClean)

        core.publishCommit(written)
        core.end(as: .committed)
        #expect(try env.read { $0.snapshotID } == before + 1)
        #expect(try env.read { try $0.getString("k") } == "v2")
        #expect(try env.read { try $0.get(Array("key-299".utf8)) } == [UInt8](repeating: UInt8(299 & 255), count: 200))
        #expect(try env.check().isClean)
    }
}

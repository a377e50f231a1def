import Testing
@testable import Larch
import LarchCrashLab

// Issue 12: commit as prepare → write the pages → one meta and one sync. After the pages are
// written nothing is visible and the file's state is the previous commit; the group's leader then
// writes the meta and syncs once, and the commit is published.
@Suite struct CommitStepsTests {
    @Test func pagesFirstThenOneMetaAndOneSync() throws {
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
        let prepared = try core.writeBox!.state.modifying { w throws(LarchError) in try w.prepareCommit() }
        #expect(operations() == untouched, "prepareCommit must not touch the file")
        #expect(prepared.meta.txnID.rawValue == before + 1)
        #expect(prepared.requiredBytes == Int(prepared.meta.pageCount) * 4096)
        txn.abort()

        var again = try env.beginWrite()
        for i in 0..<300 { try again.put([UInt8](repeating: UInt8(i & 255), count: 200), forKey: Array("key-\(i)".utf8)) }
        try again.put("v2", forKey: "k")
        let start = operations()
        let stats = try again.core.commitPagesAndEnd()
        again.abort()   // already ended: nothing happens
        #expect(device.count(.write) > start[0] && device.count(.sync) == start[1], "pages written, no sync yet")
        #expect(stats.transactionID == before + 1)
        #expect(try env.read { $0.snapshotID } == before, "not published before its sync")
        let copy = try Environment(storage: SimulatedDisk(capacity: 64 << 20, image: disk.contents, recording: false), options: options)
        #expect(try copy.read { try $0.getString("k") } == "v1", "without its meta, the file holds the previous commit")
        #expect(try copy.check().isClean)

        let (syncs, group, ledMeta) = try env.awaitDurable(TransactionID(stats.transactionID))
        #expect(syncs == 1 && group == 1 && ledMeta)
        #expect(device.count(.sync) == start[1] + 1, "one sync per commit")
        #expect(try env.read { $0.snapshotID } == before + 1)
        #expect(try env.read { try $0.getString("k") } == "v2")
        #expect(try env.read { try $0.get(Array("key-299".utf8)) } == [UInt8](repeating: UInt8(299 & 255), count: 200))
        #expect(try env.check().isClean)
        let reopened = try Environment(storage: SimulatedDisk(capacity: 64 << 20, image: disk.contents, recording: false), options: options)
        #expect(try reopened.read { try $0.getString("k") } == "v2")
        #expect(try reopened.check().isClean)
    }
}

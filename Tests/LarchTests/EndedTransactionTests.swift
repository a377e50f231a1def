import Testing
@testable import Larch

// Issue 10, hazard 6: every read of an ended transaction throws, the checker included (after a read
// transaction ends, the pages of its snapshot may be reused).
@Suite struct EndedTransactionTests {
    @Test func checkingAnEndedReadTransactionThrows() throws {
        let dir = try TemporaryDirectory("ended-check")
        let env = try Environment(path: dir.file(), options: Options(durability: .noSync))
        try env.write { txn in try txn.put("v", forKey: "k") }
        let txn = try env.beginRead()
        #expect(try txn.check().isClean)
        txn.abort()
        #expect(throws: LarchError.transactionEnded) { try txn.check() }
    }
}

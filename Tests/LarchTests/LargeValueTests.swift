import Foundation
import Testing
@testable import Larch

/// The value-size limit the issue asks for: a 1 GiB value stored, read back in place, and freed.
@Suite(.serialized) struct LargeValueTests {
    @Test func oneGibibyteValueRoundTrips() throws {
        let dir = try TemporaryDirectory("large-value")
        let env = try Environment(path: dir.file())
        let size = 1 << 30
        var value = [UInt8](repeating: 0xA5, count: size)
        // Mark every MiB with its index so misplaced pages would show.
        for mib in 0..<(size >> 20) { value[mib << 20] = UInt8(truncatingIfNeeded: mib); value[(mib << 20) + 1] = UInt8(truncatingIfNeeded: mib >> 8) }
        try env.write { txn in
            try txn.put(value, forKey: Array("big".utf8))
            try txn.put([1, 2, 3], forKey: Array("small".utf8))
        }
        let stats = env.lastCommit!
        #expect(stats.pagesWritten > size / 4096, "the commit wrote the whole overflow run")
        let equal = try env.read { txn in
            try txn.withValue(forKey: Array("big".utf8)) { span in
                span.withUnsafeBytes { got in value.withUnsafeBytes { memcmp(got.baseAddress!, $0.baseAddress!, size) == 0 } }
            }
        }
        #expect(equal == true)
        #expect(try env.read { try $0.stats().overflowPages } == UInt64(OverflowLayout.pageCount(valueLength: size, pageSize: 4096)))
        let report = try env.check()
        #expect(report.isClean, "\(report)")
        // Deleting it frees the whole run; the next writer can reuse it for a value of the same size.
        let deleted = try env.write { txn in try txn.delete(Array("big".utf8)) }
        #expect(deleted)
        let before = try env.stats().pageCount
        value[12345] = 0x5A
        try env.write { txn in try txn.put(value, forKey: Array("big2".utf8)) }
        let after = try env.stats().pageCount
        #expect(after < before + 16, "the freed run was reused: \(before) pages before, \(after) after")
        #expect(try env.read { try $0.get(Array("big2".utf8))?[12345] } == 0x5A)
        #expect(try env.check().isClean)
    }
}

import Foundation
import Testing
@testable import Larch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Issue 12: a commit that grows the file writes zeros over the growth (`StorageDevice.grow`), so
/// that later commits write into allocated blocks and their syncs write no allocation records
/// (before, 28% of the one-put commits into a bulk-loaded file also wrote the inode). So the file
/// has no holes: the blocks it occupies cover its size. (On a file system that compresses zeros
/// away this would not hold; the tests run on ext4 and APFS.) Under `.noSync` no commit syncs, and
/// the growth is left to the file system.
@Suite struct GrowthAllocationTests {
    @Test func aGrownFileHasNoHoles() throws {
        let dir = try TemporaryDirectory("growth-zeros")
        let path = dir.file()
        let env = try Environment(path: path, options: Options(durability: .full))
        var sizes: Set<Int> = []
        for round in 0..<30 {
            try env.write { txn in
                for i in 0..<300 { try txn.put(String(repeating: "v", count: 100), forKey: "key-\(round)-\(i)") }
            }
            var st = stat()
            #expect(stat(path, &st) == 0)
            sizes.insert(Int(st.st_size))
            // st_blocks counts 512-byte units, the blocks still to be allocated at writeback included.
            #expect(Int(st.st_blocks) * 512 >= Int(st.st_size), "round \(round): \(st.st_blocks) blocks of 512 bytes for \(st.st_size) bytes")
        }
        #expect(sizes.count > 5, "the file grew \(sizes.count - 1) times")
        #expect(try env.check().isClean)
        env.close()
    }
}

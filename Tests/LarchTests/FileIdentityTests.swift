import Foundation
import Testing
@testable import Larch

// Issue 10, hazard 2: the environment maps and writes the file it opened, never whatever is at its
// path later. Before the fix, a remap opened the path again, so a file renamed away and replaced
// by another was silently mapped in its place.
@Suite struct FileIdentityTests {
    /// Renames the open database away and puts another Larch file at its path: a new mapping still
    /// shows the database's own pages, and commits and reads keep using the database.
    @Test func mappingFollowsTheOpenFileNotItsPath() throws {
        let dir = try TemporaryDirectory("file-identity")
        let env = try Environment(path: dir.file(), options: Options(durability: .noSync))
        try env.write { txn in try txn.put("original", forKey: "k") }
        #expect(rename(dir.file(), dir.file("moved.larch")) == 0)
        do {
            let impostor = try Environment(path: dir.file(), options: Options(durability: .noSync))
            try impostor.write { txn in
                for i in 0..<50 { try txn.put("impostor \(i)", forKey: "k\(i)") }
                try txn.put("impostor", forKey: "k")
            }
            impostor.close()
        }
        let mapping = try env.file.map(sizeBytes: 1 << 20)
        let moved = try #require(FileManager.default.contents(atPath: dir.file("moved.larch")))
        let same = Array(UnsafeRawBufferPointer(start: mapping.base, count: moved.count)) == Array(moved)
        #expect(same, "the new mapping must show the file the environment opened, not the one now at its path")

        try env.write { txn in try txn.put("still the original", forKey: "k") }
        #expect(try env.read { try $0.getString("k") } == "still the original")
        env.close()
        let reopened = try Environment(path: dir.file("moved.larch"), options: Options(durability: .noSync))
        #expect(try reopened.read { try $0.getString("k") } == "still the original")
        let other = try Environment(path: dir.file(), options: Options(durability: .noSync))
        #expect(try other.read { try $0.getString("k") } == "impostor")
    }
}

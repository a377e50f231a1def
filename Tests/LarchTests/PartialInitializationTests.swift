import Foundation
import Testing
@testable import Larch

/// An existing empty file is initialized in place, and a write can stop at any page (a process
/// killed part-way, or another process that looks while it writes): a file holding only the
/// start of the initial meta pages is initialized again, never refused as truncated. Anything
/// else that is too short is still refused.
@Suite struct PartialInitializationTests {
    @Test(arguments: [(4096, 4096), (4096, 100), (4096, 8191), (16384, 4096), (16384, 20480), (65536, 12288)])
    func aFileCutShortWhileInitializedOpens(pageSize: Int, written: Int) throws {
        let dir = try TemporaryDirectory("partial-init")
        let path = dir.file()
        let initial = MetaPage.initialPages(pageSize: pageSize)
        #expect(FileManager.default.createFile(atPath: path, contents: Data(initial[..<written])))
        let env = try Environment(path: path)
        #expect(env.pageSize == pageSize, "initialized again with the page size it was begun with")
        try env.write { try $0.put("v", forKey: "k") }
        #expect(try env.read { try $0.getString("k") } == "v")
        #expect(try env.check().isClean)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)).count >= 2 * pageSize)
    }

    @Test func aShortFileThatIsNotAnInitializationIsRefusedAndKept() throws {
        let dir = try TemporaryDirectory("partial-init-other")
        let path = dir.file()
        var bytes = MetaPage.initialPages(pageSize: 4096)[..<4096]
        bytes[300] ^= 1   // not what an initialization writes
        #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        #expect(throws: LarchError.self) { try Environment(path: path) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(bytes), "the file is left as it was")
        // Read-only opens never initialize.
        let partial = MetaPage.initialPages(pageSize: 4096)[..<4096]
        #expect(FileManager.default.createFile(atPath: path, contents: Data(partial)))
        var options = Options()
        options.readOnly = true
        #expect(throws: LarchError.self) { try Environment(path: path, options: options) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(partial))
    }
}

/// A process killed while it created a file leaves its temporary file (`.NAME.creating-PID-XXXX`)
/// beside the name; the next create of that name removes those of processes that no longer run.
@Suite struct LeftTemporaryFileTests {
    @Test func theNextCreateRemovesTheTemporaryOfADeadProcess() throws {
        let dir = try TemporaryDirectory("left-temporary")
        let dead = Process()
        dead.executableURL = URL(fileURLWithPath: "/bin/true")
        try dead.run()
        dead.waitUntilExit()
        let deadLeft = dir.file(".db.larch.creating-\(dead.processIdentifier)-1a2b")
        let liveLeft = dir.file(".db.larch.creating-\(getpid())-3c4d")      // a create running now
        let otherName = dir.file(".other.larch.creating-\(dead.processIdentifier)-5e6f")
        for path in [deadLeft, liveLeft, otherName] {
            #expect(FileManager.default.createFile(atPath: path, contents: Data([1, 2, 3])))
        }
        let env = try Environment(path: dir.file("db.larch"))
        try env.write { try $0.put("v", forKey: "k") }
        #expect(!FileManager.default.fileExists(atPath: deadLeft), "the dead process's temporary is gone")
        #expect(FileManager.default.fileExists(atPath: liveLeft), "a live process's is kept")
        #expect(FileManager.default.fileExists(atPath: otherName), "another name's is not touched")
    }
}

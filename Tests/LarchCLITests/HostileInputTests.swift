import Foundation
import Testing

/// The defects of issue 16, each found from outside with hostile input or a full disk: every test
/// here failed before its fix.
@Suite struct HostileInputTests {
    /// Defect 1: a create cut short by a full disk left a file that no command could open
    /// ("truncated file: ... is 4096 bytes but its meta page needs 8192"). A new file now appears
    /// whole or not at all, and an existing empty file stays empty.
    @Test func aCreateCutShortLeavesNothing() throws {
        let s = try Scratch("atomic-create")
        let failed = try CLI.larchWithFileSizeLimit(blocks: 6, ["put", "new.larch", "k", "v"], in: s)
        #expect(failed.status == 2 && !failed.crashed, "\(failed.status) \(failed.stderr)")
        #expect(failed.stderr.contains("larch put: ") && failed.stderr.contains("new.larch") && failed.stderr.contains("nothing was created"),
                "\(failed.stderr)")
        let left = try CLI.listing(s)
        #expect(left == [], "a failed create leaves no file, not even a temporary one: \(left)")
        try CLI.larchOK(["put", "new.larch", "k", "v"], in: s)
        #expect(try CLI.larchOK(["get", "new.larch", "k"], in: s).text == "v\n")

        // An existing empty file (a placeholder, `mktemp`) is initialized in place; a failure gives
        // back what it wrote.
        #expect(FileManager.default.createFile(atPath: s.file("empty.larch"), contents: nil))
        let failedEmpty = try CLI.larchWithFileSizeLimit(blocks: 6, ["put", "empty.larch", "k", "v"], in: s)
        #expect(failedEmpty.status == 2 && !failedEmpty.crashed, "\(failedEmpty.status) \(failedEmpty.stderr)")
        #expect(CLI.size("empty.larch", in: s) == 0, "the empty file stays empty")
        try CLI.larchOK(["put", "empty.larch", "k", "v2"], in: s)
        #expect(try CLI.larchOK(["get", "empty.larch", "k"], in: s).text == "v2\n")
        #expect(try CLI.larchOK(["check", "empty.larch"], in: s).text.contains("OK: no problems found."))
    }
}

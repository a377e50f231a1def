import Foundation
import Testing

/// Issue 16's rough edges, seen as a new user: each behaviour that changed, with the rule
/// docs/CLI.md states for it.
@Suite struct EverydayUseTests {
    /// One rule for a file that is not a usable Larch file (not one at all, empty, truncated, both
    /// meta pages invalid): every command — check included — exits 3 with one line naming the
    /// problem. (check used to exit 1 and stat 2.)
    @Test func everyCommandExitsThreeForAFileThatIsNotAUsableLarchFile() throws {
        let s = try Scratch("exit3")
        try Data(String(repeating: "hello\n", count: 2000).utf8).write(to: URL(fileURLWithPath: s.file("text.txt")))
        #expect(FileManager.default.createFile(atPath: s.file("empty.larch"), contents: nil))
        let good = try CheckTests.makeDatabase("good.larch", count: 10, in: s)
        try Data(good.prefix(5000)).write(to: URL(fileURLWithPath: s.file("cut.larch")))
        try Data([UInt8](repeating: 0, count: 16 * 4096)).write(to: URL(fileURLWithPath: s.file("zeros.larch")))
        let dump = Array("VERSION=3\nformat=print\ntype=btree\nHEADER=END\n k\n v\nDATA=END\n".utf8)
        let expected = ["text.txt": "not a Larch file", "empty.larch": "empty file", "cut.larch": "truncated file", "zeros.larch": "not a Larch file"]
        for (name, words) in expected.sorted(by: { $0.key < $1.key }) {
            let commands: [[String]] = [
                ["stat", name], ["get", name, "k"], ["scan", name], ["dump", name, "--all"], ["check", name],
                ["check", name, "--json"], ["del", name, "k"], ["copy", name, name + ".copy"], ["readers", name],
                ["put", name, "k", "v"], ["load", name],
            ]
            for args in commands where !(name == "empty.larch" && ["put", "load"].contains(args[0])) {
                let r = try CLI.larch(args, input: args[0] == "load" ? dump : [], in: s)
                #expect(r.status == 3 && !r.crashed, "\(args.joined(separator: " ")): exit \(r.status): \(r.stderr) \(r.text)")
                if args[0] != "check" {
                    #expect(r.stderr.hasPrefix("larch \(args[0]): \(words)") && r.stderr.split(separator: "\n").count == 1,
                            "\(args.joined(separator: " ")): \(r.stderr)")
                } else if args.count == 2 {
                    #expect(r.text.contains(words) && r.text.contains("problem(s) found"), "\(args.joined(separator: " ")): \(r.text)")
                }
            }
        }
        #expect(CLI.size("empty.larch", in: s) == 0, "no command but put and load initializes an empty file")
        #expect(CLI.size("text.txt", in: s) == 12_000)
    }

    /// An existing empty file is a database not yet made (as for sqlite3 and mdb_load, so that
    /// `mktemp` works): put and load initialize it; the other commands say it is empty (exit 3).
    @Test func anEmptyFileIsADatabaseNotYetMade() throws {
        let s = try Scratch("empty-file")
        #expect(FileManager.default.createFile(atPath: s.file("a.larch"), contents: nil))
        let stat = try CLI.larch(["stat", "a.larch"], in: s)
        #expect(stat.status == 3 && stat.stderr == "larch stat: empty file: a.larch is 0 bytes, not a Larch database yet (larch put or larch load makes it one)\n",
                "\(stat.stderr)")
        try CLI.larchOK(["put", "a.larch", "k", "v"], in: s)
        #expect(try CLI.larchOK(["stat", "a.larch"], in: s).text.contains("Page size:         4,096 bytes"))
        #expect(FileManager.default.createFile(atPath: s.file("b.larch"), contents: nil))
        try CLI.larchOK(["load", "b.larch", "--quiet"], input: Array("VERSION=3\nformat=print\ntype=btree\nHEADER=END\n k\n v\nDATA=END\n".utf8), in: s)
        #expect(try CLI.larchOK(["get", "b.larch", "k"], in: s).text == "v\n")
    }
}

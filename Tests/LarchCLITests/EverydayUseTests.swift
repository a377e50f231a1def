import Foundation
import Larch
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

    /// Messages speak the CLI's language, not the Swift API's: `--page-size`, not `pageSize`;
    /// `larch stat --all`, not `openDatabase(_:create: true)`; `--wait`, not `Options.writerTimeout`.
    /// And `--page-size` on an existing file of another page size says that it is ignored.
    @Test func messagesSpeakTheCLIsLanguage() throws {
        let s = try Scratch("language")
        for command in [["put", "p.larch", "k", "v"], ["load", "p.larch"]] {
            let r = try CLI.larch(command + ["--page-size", "1000"], input: Array("k\nv\n".utf8), in: s)
            #expect(r.status == 64 && r.stderr.contains("--page-size 1000: a page size is a power of two from 4096 to 65536")
                    && !r.stderr.contains("pageSize"), "\(command[0]): \(r.stderr)")
        }
        try CLI.larchOK(["put", "p.larch", "k", "v"], in: s)
        let nosuch = try CLI.larch(["get", "p.larch", "--db", "nosuch", "k"], in: s)
        #expect(nosuch.status == 2 && nosuch.stderr.contains("database not found: p.larch has no database named \"nosuch\"")
                && nosuch.stderr.contains("larch stat p.larch --all") && !nosuch.stderr.contains("openDatabase"), "\(nosuch.stderr)")
        let long = try CLI.larch(["put", "p.larch", "--db", String(repeating: "x", count: 3000), "k", "v"], in: s)
        #expect(long.status == 2 && long.stderr.contains("invalid database name \"xxxx") && long.stderr.contains("(3,000 bytes)")
                && long.stderr.utf8.count < 300, "\(long.stderr)")

        let put = try CLI.larch(["put", "p.larch", "k2", "v2", "--page-size", "8192"], in: s)
        #expect(put.status == 0 && put.stderr == "larch put: warning: --page-size 8192 ignored: p.larch exists, with pages of 4,096 bytes (a page size is chosen when a file is created)\n",
                "\(put.stderr)")
        let load = try CLI.larch(["load", "p.larch", "--quiet", "--page-size", "16384", "--no-header"], input: Array("k3\nv3\n".utf8), in: s)
        #expect(load.status == 0 && load.stderr.contains("--page-size 16384 ignored: p.larch exists, with pages of 4,096 bytes"), "\(load.stderr)")
        try CLI.larchOK(["put", "big.larch", "k", "v", "--page-size", "16384"], in: s)
        #expect(try CLI.larchOK(["stat", "big.larch"], in: s).text.contains("Page size:         16,384 bytes"))
        #expect(try CLI.larchOK(["put", "big.larch", "k", "v", "--page-size", "16384"], in: s).stderr.isEmpty)

        // Another process holds the writer: the message names --wait.
        let env = try Environment(path: s.file("p.larch"), options: Options(durability: .noSync))
        var held = try env.beginWrite()
        try held.put("parent", forKey: "k")
        let busy = try CLI.larch(["put", "p.larch", "k", "child", "--wait", "0.2"], in: s)
        held.abort()
        #expect(busy.status == 2 && busy.stderr.contains("writer busy") && busy.stderr.contains("--wait")
                && !busy.stderr.contains("Options."), "\(busy.stderr)")
    }

    /// `get` shows a value on a terminal the way `scan` does — bytes outside printable ASCII
    /// escaped, so a binary value cannot garble or drive the terminal — unless `--raw`; into a pipe
    /// or a file it writes the bytes and a newline, as before.
    @Test func getEscapesOnATerminalUnlessRaw() throws {
        let s = try Scratch("terminal")
        try CLI.larchOK(["put", "t.larch", "--hex", "6b", "1b5b324a00ff415c"], in: s)
        try CLI.larchOK(["put", "t.larch", "name", "Ada Lovelace"], in: s)
        let shown = try CLI.larchOnTerminal(["get", "t.larch", "k"], in: s)
        #expect(shown.status == 0 && shown.stdout == Array("\\1b[2J\\00\\ffA\\\\\r\n".utf8), "\(shown.text.debugDescription) \(shown.stderr)")
        #expect(try CLI.larchOnTerminal(["get", "t.larch", "name"], in: s).stdout == Array("Ada Lovelace\r\n".utf8))
        #expect(try CLI.larchOK(["scan", "t.larch", "--prefix", "k"], in: s).text == "k\t\\1b[2J\\00\\ffA\\\\\n", "the same encoding as scan")
        let raw = try CLI.larchOnTerminal(["get", "t.larch", "k", "--raw"], in: s)
        #expect(raw.stdout == [0x1b, 0x5b, 0x32, 0x4a, 0x00, 0xff, 0x41, 0x5c], "--raw: the bytes as they are")
        #expect(try CLI.larchOK(["get", "t.larch", "k"], in: s).stdout == [0x1b, 0x5b, 0x32, 0x4a, 0x00, 0xff, 0x41, 0x5c, 0x0a], "into a file: the bytes and a newline")
    }

    /// `larch load` interrupted by Ctrl-C used to exit 130 silently, leaving the batches committed so
    /// far. It stops at the next record — also while it waits for input — rolls back everything it
    /// read (the load is one transaction, issue 14), and says so.
    @Test(.timeLimit(.minutes(1)))
    func anInterruptedLoadSaysWhatItCommitted() throws {
        let s = try Scratch("sigint")
        let input = Pipe()
        let errPath = s.file("load.err")
        #expect(FileManager.default.createFile(atPath: errPath, contents: nil))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLI.larchPath)
        process.arguments = ["load", "i.larch"]
        process.currentDirectoryURL = URL(fileURLWithPath: s.path)
        process.standardInput = input
        process.standardError = FileHandle(forWritingAtPath: errPath)
        try process.run()
        // A whole section, then three records of the next, and no more input.
        let first = "VERSION=3\nformat=print\ntype=btree\nHEADER=END\n a\n 1\n b\n 2\nDATA=END\n"
        let second = "VERSION=3\nformat=print\ndatabase=more\ntype=btree\nHEADER=END\n c\n 3\n d\n 4\n e\n 5\n"
        input.fileHandleForWriting.write(Data((first + second).utf8))
        // Wait until the file is created (at the first record).
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline && !FileManager.default.fileExists(atPath: s.file("i.larch")) { usleep(20_000) }
        usleep(500_000)   // and until it waits for more input
        process.interrupt()
        let stopBy = ContinuousClock.now + .seconds(20)
        while process.isRunning && ContinuousClock.now < stopBy { usleep(10_000) }
        if process.isRunning {
            Issue.record("larch load did not stop within 20 s of SIGINT")
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        let stderr = try String(contentsOfFile: errPath, encoding: .utf8)
        #expect(process.terminationReason == .exit && process.terminationStatus == 130, "\(process.terminationStatus) \(stderr)")
        #expect(stderr == "larch load: interrupted by SIGINT after input line 20: the 5 entries read were rolled back; i.larch, which the load created, was removed\n",
                "\(stderr)")
        #expect(CLI.size("i.larch", in: s) == nil && CLI.size("i.larch-lock", in: s) == nil, "the whole load was rolled back, and the file it created removed")
    }
}

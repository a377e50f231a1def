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

    /// A dump section of the main database, or of `database` (raw bytes), holding `records`.
    static func dump(database: [UInt8]? = nil, format: String = "print", _ records: [(String, String)] = [("k", "v")]) -> [UInt8] {
        var d = Array("VERSION=3\nformat=\(format)\n".utf8)
        if let database { d += Array("database=".utf8) + database + [0x0a] }
        d += Array("type=btree\nmapsize=1073741824\nmaxreaders=126\ndb_pagesize=4096\nHEADER=END\n".utf8)
        for (k, v) in records { d += Array(" \(k)\n \(v)\n".utf8) }
        return d + Array("DATA=END\n".utf8)
    }

    /// Defect 2: LMDB names databases with bytes; a name that is not UTF-8 was loaded as U+FFFD in
    /// its place (`caf\xe9` became `caf\ef\bf\bd`), renaming the database. It is refused, naming
    /// the line and showing the bytes escaped; `--db NAME` loads it under a name of one's choice.
    @Test func aDatabaseNameThatIsNotUTF8IsRefusedNotRenamed() throws {
        let s = try Scratch("name-bytes")
        let latin1 = Self.dump(database: Array("caf".utf8) + [0xe9])
        let r = try CLI.larch(["load", "n.larch"], input: latin1, in: s)
        #expect(r.status == 2 && !r.crashed, "\(r.status) \(r.stderr)")
        #expect(r.stderr.contains("line 3: ") && r.stderr.contains("\"caf\\e9\"") && r.stderr.contains("not UTF-8")
                && r.stderr.contains("--db"), "\(r.stderr)")
        #expect(!r.stderr.utf8.contains(0xe9) && !r.stderr.contains("\u{FFFD}"), "the raw byte is never echoed: \(r.stderr)")
        if CLI.size("n.larch", in: s) != nil {
            #expect(try CLI.larchOK(["dump", "n.larch", "--all"], in: s).text.contains("database=") == false, "no database was made")
        }
        // --db NAME loads the section under a name of one's choice.
        try CLI.larchOK(["load", "n.larch", "--db", "cafe"], input: latin1, in: s)
        #expect(try CLI.larchOK(["get", "n.larch", "--db", "cafe", "k"], in: s).text == "v\n")
        // A UTF-8 name is kept byte for byte.
        try CLI.larchOK(["load", "u.larch"], input: Self.dump(database: Array("café".utf8)), in: s)
        #expect(try CLI.larchOK(["dump", "u.larch", "--all"], in: s).stdout.split(separator: 0x0a).contains(ArraySlice(Array("database=café".utf8))))
    }

    /// An argument that is not UTF-8 was decoded with U+FFFD in place of its bad bytes, so `put`
    /// stored other bytes than given and `del` of a different key deleted it (found by a
    /// differential run against LMDB). It is refused before anything runs, with exit status 64.
    @Test func anArgumentThatIsNotUTF8IsRefused() throws {
        let s = try Scratch("argv-bytes")
        try CLI.larchOK(["put", "a.larch", "other", "x"], in: s)
        // printf makes the bytes (Process takes its arguments as Strings): caf\xe9, val\xff, n\xe9.
        for (i, args) in [#"put a.larch "$(printf 'caf\351')" v"#, #"put a.larch k "$(printf 'val\377')""#,
                          #"del a.larch "$(printf 'caf\376')""#, #"put a.larch --db "$(printf 'n\351')" k v"#].enumerated() {
            let r = try CLI.run("/bin/sh", ["-c", "eval exec \"$0\" \(args)", CLI.larchPath], in: s)
            #expect(r.status == 64 && !r.crashed, "case \(i): \(r.status) \(r.stderr)")
            #expect(r.stderr.contains("not valid UTF-8") && r.stderr.contains("--hex"), "case \(i): \(r.stderr)")
            #expect(!r.stderr.contains("\u{FFFD}"), "case \(i): the bad byte is shown escaped: \(r.stderr)")
        }
        // Nothing was written: the file holds what it held.
        #expect(try CLI.larchOK(["scan", "a.larch"], in: s).text == "other\tx\n")
        #expect(try CLI.larchOK(["dump", "a.larch", "--all"], in: s).text.contains("database=") == false)
    }

    /// Messages cut quoted input after 64 bytes and speak of the command line (found by a
    /// differential run against LMDB): a bad hex key and a missing key were quoted whole; a load
    /// into a database of the other kind said "open it with duplicates: .sorted"; a CRLF
    /// `DATA=END` line got the generic message.
    @Test func messagesCutInputAndSpeakOfTheCommandLine() throws {
        let s = try Scratch("messages-cut")
        try CLI.larchOK(["put", "f.larch", "a", "b"], in: s)
        let z = String(repeating: "z", count: 300)
        let badHex = try CLI.larch(["get", "f.larch", "--hex", z], in: s)
        #expect(badHex.status == 2 && badHex.stderr.contains("...\" (300 bytes)") && badHex.stderr.utf8.count < 200, "\(badHex.stderr)")
        let missing = try CLI.larch(["get", "f.larch", z], in: s)
        #expect(missing.status == 1 && missing.stderr.contains("... (300 bytes)") && missing.stderr.utf8.count < 200, "\(missing.stderr)")
        let clash = "VERSION=3\ndatabase=d\nduplicates=1\nHEADER=END\n 6b\n 01\nDATA=END\nVERSION=3\ndatabase=d\nHEADER=END\n 6b\n 02\nDATA=END\n"
        let load = try CLI.larch(["load", "g.larch"], input: Array(clash.utf8), in: s)
        #expect(load.status == 2 && load.stderr.contains("exists with sorted duplicates") && !load.stderr.contains(".sorted"), "\(load.stderr)")
        let crlf = try CLI.larch(["load", "h.larch"], input: Array("VERSION=3\nHEADER=END\n 6b\n 00\nDATA=END\r\n".utf8), in: s)
        #expect(crlf.status == 2 && crlf.stderr.contains("line 5: DATA=END ends in CR") && crlf.stderr.contains("CRLF"), "\(crlf.stderr)")
    }

    /// Standard error holds no byte that a terminal would act on: no control character but the
    /// newline that ends each line, no DEL, no C1 control.
    static func expectInert(_ stderr: String, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let bytes = Array(stderr.utf8)
        let active = bytes.filter { ($0 < 0x20 && $0 != 0x0a) || $0 == 0x7f }
        #expect(active.isEmpty && !stderr.unicodeScalars.contains { (0x80...0x9f).contains($0.value) },
                "\(what): control bytes \(active) reach the terminal: \(stderr.debugDescription)", sourceLocation: sourceLocation)
    }

    /// Defect 3: header values were echoed as they are, so a hostile dump could clear or recolour
    /// the terminal (`format=<ESC>[2J`). Every byte from the input is escaped in messages.
    @Test func headerValuesAreEscapedInMessages() throws {
        let s = try Scratch("escape")
        let esc = "\u{1B}[2J\u{1B}[31m"
        let cases: [(String, String)] = [
            ("VERSION=3\u{0}\n", "unsupported dump version \"3\\00\""),
            ("VERSION=3\nformat=\(esc)\n", "unsupported format \"\\1b[2J\\1b[31m\""),
            ("VERSION=3\nformat=print\ntype=\(esc)\n", "unsupported database type \"\\1b[2J"),
            ("VERSION=3\nformat=print\ndb_pagesize=4096\u{7}\n", "db_pagesize \"4096\\07\" is not a number"),
            ("VERSION=3\nformat=print\nduplicates=\(esc)\n", "duplicates=\\1b[2J"),
            ("VERSION=3\nformat=print\nintegerkey=\u{8}\n", "integerkey=\\08"),
            ("VERSION=3\nformat=print\n\(esc)\n", "unexpected line \"\\1b[2J"),
            ("VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n 6\u{1B}\n", "'\\1b' at position 2"),
        ]
        for (i, (input, message)) in cases.enumerated() {
            let r = try CLI.larch(["load", "e\(i).larch"], input: Array(input.utf8), in: s)
            #expect(r.status == 2 && r.stderr.contains(message), "case \(i): \(r.stderr.debugDescription)")
            Self.expectInert(r.stderr, "case \(i)")
        }
        // An unknown keyword is a warning, escaped too.
        let warned = try CLI.larch(["load", "w.larch"], input: Array("VERSION=3\nformat=print\n\(esc)x=1\ntype=btree\nHEADER=END\n k\n v\nDATA=END\n".utf8), in: s)
        #expect(warned.status == 0 && warned.stderr.contains("unrecognized keyword ignored: \"\\1b[2J"), "\(warned.stderr.debugDescription)")
        Self.expectInert(warned.stderr, "warning")
    }

    /// The file is input too: a database name from a damaged file, quoted in check's report, is
    /// escaped like any other byte from input.
    @Test func namesFromAFileAreEscapedInChecksReport() throws {
        let s = try Scratch("escape-file")
        let name = "\u{1B}]0;pwned\u{7}\u{1B}[2J"
        try CLI.larchOK(["put", "f.larch", "--db", name, "k", "MARKER-VALUE-0123456789"], in: s)
        try CLI.larchOK(["put", "f.larch", "other", "x"], in: s)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: s.file("f.larch"))))
        let marker = Array("MARKER-VALUE-0123456789".utf8)
        let at = try #require((0..<(bytes.count - marker.count)).first { bytes[$0..<($0 + marker.count)].elementsEqual(marker) })
        bytes[at / 4096 * 4096 + 4000] ^= 0x01   // the named database's leaf, beside its value
        try CheckTests.write(bytes, to: "f.larch", in: s)
        let r = try CLI.larch(["check", "f.larch"], in: s)
        #expect(r.status == 1 && r.text.contains("\\1b]0;pwned\\07\\1b[2J"), "\(r.text.debugDescription)")
        Self.expectInert(r.text, "check's report")
    }

    /// Defect 4: an over-long database name was reported without its line and with all of its
    /// 2,048 bytes echoed. The line is named and long values are cut in every message.
    @Test func anOverLongDatabaseNameIsReportedWithItsLineAndCut() throws {
        let s = try Scratch("long-name")
        let long = [UInt8](repeating: UInt8(ascii: "n"), count: 2048)
        for records in [[("k", "v")], []] {   // the database is opened for its first record, or made empty
            let r = try CLI.larch(["load", "l.larch"], input: Self.dump(database: long, records), in: s)
            #expect(r.status == 2 && r.stderr.contains("line 3: ") && r.stderr.contains("(2,048 bytes)")
                    && r.stderr.contains("longer than 1024 bytes"), "\(r.stderr)")
            #expect(r.stderr.utf8.count < 400, "the name is cut: \(r.stderr.utf8.count) bytes of message")
        }
        var longFormat = Array("VERSION=3\nformat=".utf8) + [UInt8](repeating: UInt8(ascii: "f"), count: 5000)
        longFormat += Array("\n".utf8)
        let f = try CLI.larch(["load", "f.larch"], input: longFormat, in: s)
        #expect(f.status == 2 && f.stderr.contains("line 2: unsupported format") && f.stderr.contains("(5,000 bytes)") && f.stderr.utf8.count < 300,
                "\(f.stderr)")
    }

    /// Defect 5: empty input (`mdb_dump -a missing | larch load app.larch`: mdb_dump fails and
    /// prints nothing) was a successful load of nothing, creating an empty database. It is an error
    /// that names the problem, and creates no file.
    @Test func emptyInputIsAnError() throws {
        let s = try Scratch("empty-input")
        for (input, args) in [([UInt8](), [String]()), (Array("\n\n".utf8), []), ([], ["--no-header"])] {
            let r = try CLI.larch(["load", "app.larch"] + args, input: input, in: s)
            #expect(r.status == 2 && r.stderr.contains("larch load: empty input"), "\(args): \(r.stderr)")
            #expect(CLI.size("app.larch", in: s) == nil, "no file is created")
        }
        // Nor does a load that fails before its first record create a file.
        let bad = try CLI.larch(["load", "app.larch"], input: Array("VERSION=3\nformat=print\ntype=btree\nHEADER=END\n k\\zz\n v\nDATA=END\n".utf8), in: s)
        #expect(bad.status == 2 && CLI.size("app.larch", in: s) == nil, "\(bad.stderr)")
        let latin1 = try CLI.larch(["load", "app.larch"], input: Self.dump(database: [0xe9]), in: s)
        #expect(latin1.status == 2 && CLI.size("app.larch", in: s) == nil, "\(latin1.stderr)")
    }

    /// Whether this system lets an unprivileged process mount a small tmpfs in a user namespace of
    /// its own (`unshare -r -m`), for a real full disk.
    static let smallDisksWork: Bool = {
        guard let unshare = CLI.which("unshare"), let s = try? Scratch("userns") else { return false }
        let r = try? CLI.run(unshare, ["-r", "-m", "/bin/sh", "-c", "mount -t tmpfs -o size=64k larch \"$0\"", s.path], in: s)
        return r?.status == 0
    }()

    /// Runs `script` with `/bin/sh` in a user namespace with a tmpfs of `sizeKiB` mounted at `$DISK`
    /// (the larch executable is `$LARCH`, the scratch directory `$SCRATCH`); the tmpfs ends with it.
    static func onSmallDisk(sizeKiB: Int, _ script: String, in s: Scratch) throws -> CommandResult {
        try FileManager.default.createDirectory(atPath: s.file("disk"), withIntermediateDirectories: true)
        let unshare = try #require(CLI.which("unshare"))
        let prologue = "set -u; DISK=\"$1\"; LARCH=\"$2\"; SCRATCH=\"$3\"; mount -t tmpfs -o size=\(sizeKiB)k larch \"$DISK\" || exit 90; cd \"$DISK\"\n"
        return try CLI.run(unshare, ["-r", "-m", "/bin/sh", "-c", prologue + script, "sh", s.file("disk"), CLI.larchPath, s.path], in: s)
    }

    /// Defects 1 and 6 on a real full disk (a 4 MiB tmpfs): with one free page, `put` on a new file
    /// fails and leaves nothing; a load larger than the disk fails with ENOSPC and gives back the
    /// space its failed commit took, leaving the file as it was before.
    @Test(.enabled(if: HostileInputTests.smallDisksWork, "needs unprivileged user namespaces (unshare -r -m) to mount a small tmpfs"))
    func aFullDiskLeavesNoBrokenFileAndNoSpaceTaken() throws {
        let s = try Scratch("full-disk")
        var records: [(String, String)] = []
        for i in 0..<1500 { records.append((String(format: "6b%08x", i), String(repeating: "ab", count: 4000))) }
        try Data(Self.dump(format: "bytevalue", records)).write(to: URL(fileURLWithPath: s.file("big.dump")))
        let r = try Self.onSmallDisk(sizeKiB: 4096, """
            "$LARCH" put data.larch k small || exit 91
            before=$(stat -c %s data.larch); free=$(df -k --output=avail . | tail -1)
            "$LARCH" load data.larch --input "$SCRATCH/big.dump" 2>"$SCRATCH/load.err"; echo "load=$?"
            echo "grown=$(( $(stat -c %s data.larch) - before ))"
            echo "space=$(( free - $(df -k --output=avail . | tail -1) ))"
            "$LARCH" get data.larch k; "$LARCH" check data.larch >/dev/null; echo "check=$?"
            dd if=/dev/zero of=fill bs=4096 2>/dev/null; truncate -s -4096 fill
            "$LARCH" put new.larch k v 2>"$SCRATCH/put.err"; echo "put=$?"
            ls -a | tr '\\n' ' '; echo
            rm fill; "$LARCH" put new.larch k v && "$LARCH" get new.larch k
            """, in: s)
        let out = r.text
        let loadError = (try? String(contentsOfFile: s.file("load.err"), encoding: .utf8)) ?? ""
        let putError = (try? String(contentsOfFile: s.file("put.err"), encoding: .utf8)) ?? ""
        #expect(r.status == 0, "\(r.status): \(out) \(r.stderr)")
        #expect(out.contains("load=2") && loadError.contains("No space left on device"), "\(out) \(loadError)")
        #expect(out.contains("grown=0\n"), "the failed load gives back the file's growth: \(out)")
        #expect(out.contains("space=0\n"), "and the disk space its pages took: \(out)")
        #expect(out.contains("small\ncheck=0\n"), "the file holds what it held: \(out)")
        #expect(out.contains("put=2") && putError.contains("nothing was created"), "\(out) \(putError)")
        #expect(out.contains(". .. data.larch data.larch-lock fill \n"), "no new file, whole or partial: \(out)")
        #expect(out.hasSuffix("v\n"), "with space again, the create succeeds: \(out)")
    }

    /// Defect 7: a dump with Windows line endings was reported as `odd number of hex digits`; the
    /// message says the line ends in CR. And a checksum error promised "the byte offset of that
    /// page" without giving it; it gives the page's bytes.
    @Test func crlfLinesAndChecksumErrorsAreNamedForWhatTheyAre() throws {
        let s = try Scratch("crlf")
        for format in ["bytevalue", "print"] {
            let text = "VERSION=3\nformat=\(format)\ntype=btree\nHEADER=END\n 6b\n 76\nDATA=END\n"
            let crlf = Array(text.replacingOccurrences(of: "\n", with: "\r\n").utf8)
            let r = try CLI.larch(["load", "\(format).larch"], input: crlf, in: s)
            #expect(r.status == 2 && r.stderr.contains("line 5: key: the line ends in CR") && r.stderr.contains("CRLF")
                    && !r.stderr.contains("odd number"), "\(format): \(r.stderr)")
        }

        _ = try CheckTests.makeDatabase("c.larch", count: 3000, in: s)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: s.file("c.larch"))))
        let root = CheckTests.currentMeta(bytes).root
        bytes[root * 4096 + 2000] ^= 0x40
        try CheckTests.write(bytes, to: "c.larch", in: s)
        let r = try CLI.larch(["get", "c.larch", "key:000000000100"], in: s)
        let offsets = "bytes \(Self.grouped(root * 4096)) to \(Self.grouped(root * 4096 + 4095)) of the file"
        #expect(r.status == 2 && r.stderr.contains("page \(root) (\(offsets)) failed its checksum") && !r.stderr.contains("byte offset of that page"),
                "\(r.stderr)")
        #expect(r.stderr.contains("larch check c.larch"), "and says how to see every damaged page: \(r.stderr)")
    }

    static func grouped(_ n: Int) -> String {
        let digits = Array(String(n))
        var out = ""
        for (i, d) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(d)
        }
        return out
    }
}

import Foundation
import LarchCrashLab
import Testing

/// dump and load against the real LMDB tools (Debian: lmdb-utils, which CI installs):
/// data must move both ways with the text unchanged.
@Suite struct DumpLoadTests {
    /// The LMDB tools; a test fails (never skips) when they are missing.
    static func tools() throws -> (dump: String, load: String) {
        let dump = try #require(CLI.which("mdb_dump"), "mdb_dump not found: install lmdb-utils (apt-get install lmdb-utils)")
        let load = try #require(CLI.which("mdb_load"), "mdb_load not found: install lmdb-utils (apt-get install lmdb-utils)")
        return (dump, load)
    }

    /// A dump (bytevalue format) of several named databases with binary keys, empty values and
    /// large values, as mdb_dump would write it, in random key order (mdb_load sorts).
    static func sampleDump(seed: UInt64, databases: [String], allowBackslash: Bool = true) -> String {
        var g = SplitMix(seed: seed)
        var text = ""
        for name in databases {
            text += "VERSION=3\nformat=bytevalue\ndatabase=\(name)\ntype=btree\nmapsize=1073741824\nmaxreaders=126\ndb_pagesize=4096\nHEADER=END\n"
            var seen = Set<[UInt8]>()
            let count = 50 + Int(g.next() % 300)
            while seen.count < count {
                let keyLength = 1 + Int(g.next() % 64)
                var key = (0..<keyLength).map { _ in UInt8(truncatingIfNeeded: g.next()) }
                if !allowBackslash { key = key.map { $0 == 0x5c ? 0x5d : $0 } }
                guard seen.insert(key).inserted else { continue }
                let kind = g.next() % 10
                let valueLength = kind == 0 ? 0 : kind == 1 ? 20_000 + Int(g.next() % 150_000) : Int(g.next() % 200)
                var value = (0..<valueLength).map { _ in UInt8(truncatingIfNeeded: g.next()) }
                if !allowBackslash { value = value.map { $0 == 0x5c ? 0x5d : $0 } }
                text += " " + hex(key) + "\n " + hex(value) + "\n"
            }
            text += "DATA=END\n"
        }
        return text
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef")
        var s = ""
        s.reserveCapacity(bytes.count * 2)
        for b in bytes { s.append(digits[Int(b >> 4)]); s.append(digits[Int(b & 15)]) }
        return s
    }

    @Test func lmdbToLarchAndBackGivesIdenticalText() throws {
        let (mdbDump, mdbLoad) = try Self.tools()
        let s = try Scratch("lmdb")
        try FileManager.default.createDirectory(atPath: s.file("lmdb-a"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: s.file("lmdb-b"), withIntermediateDirectories: true)
        let source = Self.sampleDump(seed: 11, databases: ["alpha", "beta", "gamma with spaces", "δ-unicode"])
        let created = try CLI.run(mdbLoad, ["lmdb-a"], input: Array(source.utf8), in: s)
        #expect(created.status == 0, "mdb_load: \(created.stderr)")

        // LMDB → mdb_dump → larch load → larch dump
        let fromLMDB = try CLI.run(mdbDump, ["-a", "lmdb-a"], in: s)
        #expect(fromLMDB.status == 0, "mdb_dump: \(fromLMDB.stderr)")
        try CLI.larchOK(["load", "data.larch"], input: fromLMDB.stdout, in: s)
        let fromLarch = try CLI.larchOK(["dump", "--all", "data.larch"], in: s)
        #expect(fromLarch.text == fromLMDB.text, "larch dump differs from mdb_dump's text")

        // → mdb_load → mdb_dump
        let back = try CLI.run(mdbLoad, ["lmdb-b"], input: fromLarch.stdout, in: s)
        #expect(back.status == 0, "mdb_load of larch dump: \(back.stderr)")
        let again = try CLI.run(mdbDump, ["-a", "lmdb-b"], in: s)
        #expect(again.status == 0)
        #expect(again.text == fromLMDB.text, "the text changed on the way LMDB → Larch → LMDB")
        #expect(again.text.components(separatedBy: "HEADER=END").count == 5, "four databases")

        let check = try CLI.larchOK(["check", "data.larch"], in: s)
        #expect(check.text.contains("OK: no problems found."))
    }

    @Test func printFormatAndSingleDatabasesRoundTrip() throws {
        let (mdbDump, mdbLoad) = try Self.tools()
        let s = try Scratch("print")
        try FileManager.default.createDirectory(atPath: s.file("lmdb-a"), withIntermediateDirectories: true)
        // LMDB 0.9.24's mdb_dump -p writes a backslash unescaped (its mdb_load then misreads it),
        // so this sample has none; Larch writes "\\5c", which mdb_load reads (tested below).
        let source = Self.sampleDump(seed: 12, databases: ["one", "two"], allowBackslash: false)
        #expect(try CLI.run(mdbLoad, ["lmdb-a"], input: Array(source.utf8), in: s).status == 0)
        for db in ["one", "two"] {
            let lmdb = try CLI.run(mdbDump, ["-p", "-s", db, "lmdb-a"], in: s)
            #expect(lmdb.status == 0)
            try CLI.larchOK(["load", "p.larch", "--quiet"], input: lmdb.stdout, in: s)
            let larch = try CLI.larchOK(["dump", "p.larch", "--db", db, "--print"], in: s)
            #expect(larch.text == lmdb.text, "print-format dump of \(db) differs")
        }

        // A main database only (no database= line), loaded into LMDB and back. A backslash after
        // another escape on the line: LMDB 0.9.24's mdb_load dropped the byte of a "\\" there
        // (01 41 5c 42 came back as 01 41 31 42), so dumps write "\5c".
        try CLI.larchOK(["put", "m.larch", "--hex", "5c00", "5c5c41"], in: s)
        try CLI.larchOK(["put", "m.larch", "--hex", "01415c42", "005c"], in: s)
        try CLI.larchOK(["put", "m.larch", "plain", ""], in: s)
        let printed = try CLI.larchOK(["dump", "m.larch", "--print"], in: s).text
        #expect(printed.contains(" \\5c\\00\n \\5c\\5cA\n"), "backslashes as \\5c, other bytes as \\xx: \(printed)")
        #expect(printed.contains(" \\01A\\5cB\n \\00\\5c\n"), "\(printed)")
        try FileManager.default.createDirectory(atPath: s.file("lmdb-m"), withIntermediateDirectories: true)
        #expect(try CLI.run(mdbLoad, ["lmdb-m"], input: Array(printed.utf8), in: s).status == 0)
        let bytes = try CLI.run(mdbDump, ["lmdb-m"], in: s)
        #expect(bytes.text == (try CLI.larchOK(["dump", "m.larch"], in: s)).text)
        #expect(bytes.text.contains(" 5c00\n 5c5c41\n") && bytes.text.contains(" 706c61696e\n \n"), "empty value as an empty line")
    }

    @Test func loadOptionsAndMalformedInput() throws {
        let s = try Scratch("loadopts")
        // --no-header: plain line pairs in the print encoding (mdb_load -T).
        try CLI.larchOK(["load", "t.larch", "--no-header", "--db", "plain"], input: Array("k1\nv1\nk\\002\nv\\\\2\n".utf8), in: s)
        #expect(try CLI.larchOK(["scan", "t.larch", "--db", "plain"], in: s).text == "k\\002\tv\\\\2\nk1\tv1\n")
        // --no-overwrite keeps existing values; --db overrides the dump's database name.
        let dump = "VERSION=3\nformat=print\ndatabase=other\ntype=btree\nHEADER=END\n k1\n new\n k3\n v3\nDATA=END\n"
        let r = try CLI.larchOK(["load", "t.larch", "--db", "plain", "--no-overwrite"], input: Array(dump.utf8), in: s)
        #expect(r.stderr.contains("1 existing keys kept"))
        #expect(try CLI.larchOK(["get", "t.larch", "--db", "plain", "k1"], in: s).text == "v1\n")
        #expect(try CLI.larchOK(["get", "t.larch", "--db", "plain", "k3"], in: s).text == "v3\n")
        #expect(try CLI.larch(["get", "t.larch", "--db", "other", "k3"], in: s).status == 2)

        let cases: [(String, String)] = [
            ("VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n 6b\n zz\nDATA=END\n", "line 6: value: 'z' at position 1 is not a hex digit"),
            ("VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n 6b\n 616\nDATA=END\n", "line 6: value: odd number of hex digits"),
            ("VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n 6b\nDATA=END\n", "line 6: a key without a value"),
            ("VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n 6b\n 6b\n", "the input ends before DATA=END"),
            ("VERSION=3\nformat=bytevalue\ntype=btree\n", "ends inside a header"),
            ("hello world\n", "line 1: unexpected line \"hello world\""),
            ("VERSION=4\n", "unsupported dump version \"4\""),
            ("VERSION=3\nformat=base64\n", "unsupported format"),
            ("VERSION=3\nformat=bytevalue\nduplicates=1\ntype=btree\nHEADER=END\n", "only a named database"),
            ("VERSION=3\nformat=bytevalue\ndatabase=d\nintegerdup=1\ntype=btree\nHEADER=END\n", "integerdup"),
            ("VERSION=3\nformat=bytevalue\nintegerkey=1\ntype=btree\nHEADER=END\n", "integerkey order"),
            ("VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\nxx\n", "line 5: expected a data line"),
            ("VERSION=3\nformat=print\ntype=btree\nHEADER=END\n k\\zz\n v\nDATA=END\n", "line 5: key: a backslash"),
            ("VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n \n 00\nDATA=END\n", "line 6: empty key"),
        ]
        for (i, (input, message)) in cases.enumerated() {
            let r = try CLI.larch(["load", "bad\(i).larch"], input: Array(input.utf8), in: s)
            #expect(r.status == 2 && r.stderr.contains(message), "case \(i): \(r.stderr)")
            #expect(!r.crashed)
        }
        // A malformed input after good records: the load is one transaction, so nothing stays, and the error says so.
        var long = "VERSION=3\nformat=print\ntype=btree\nHEADER=END\n a\n 1\nDATA=END\nVERSION=3\nformat=print\ndatabase=x\ntype=btree\nHEADER=END\n b\n"
        long += "DATA=END\n"
        let partial = try CLI.larch(["load", "partial.larch"], input: Array(long.utf8), in: s)
        #expect(partial.status == 2 && partial.stderr.contains("a key without a value") && partial.stderr.contains("nothing was committed"), "\(partial.stderr)")
        #expect(partial.stderr.contains("partial.larch, which the load created, was removed"), "\(partial.stderr)")
        #expect(CLI.size("partial.larch", in: s) == nil, "the first section was rolled back with the rest, and the file it created removed")
        let ignored = try CLI.larchOK(["load", "w.larch"], input: Array("VERSION=3\nformat=print\nfancy=1\ntype=btree\nHEADER=END\n a\n b\nDATA=END\n".utf8), in: s)
        #expect(ignored.stderr.contains("line 3: unrecognized keyword ignored: \"fancy\""))
    }
}

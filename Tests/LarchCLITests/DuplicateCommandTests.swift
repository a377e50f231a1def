import Foundation
import LarchCrashLab
import Testing

/// The command-line tool and sorted-duplicates databases: the LMDB round trip of an
/// `MDB_DUPSORT` database (mdb_dump's `duplicates=1` sections, keys repeated once per value),
/// `get` and `scan` showing every value, `stat`, and `larch upgrade` for version-3 files.
@Suite struct DuplicateCommandTests {
    /// A dupsort section as mdb_dump writes it: keys with 100,000 values, keys with one, keys with a few.
    static func dupsortDump(name: String) -> String {
        var text = "VERSION=3\nformat=bytevalue\ndatabase=\(name)\ntype=btree\nmapsize=1073741824\nmaxreaders=126\nduplicates=1\ndupsort=1\ndb_pagesize=4096\nHEADER=END\n"
        var lines: [String] = []
        for big in 0..<2 {
            let key = DumpLoadTests.hex(Array("big\(big)".utf8))
            for i in 0..<100_000 { lines.append(" \(key)\n \(DumpLoadTests.hex(Array(String(format: "%08x", i &* 2_654_435_761 % 1_000_003).utf8)))\n") }
        }
        for k in 0..<500 {
            let key = DumpLoadTests.hex(Array(String(format: "one%05d", k).utf8))
            lines.append(" \(key)\n \(DumpLoadTests.hex([UInt8(k % 256), 0x00, 0xFF]))\n")
        }
        for k in 0..<50 {
            let key = DumpLoadTests.hex(Array(String(format: "few%03d", k).utf8))
            for v in 0..<(k % 7 + 2) { lines.append(" \(key)\n \(DumpLoadTests.hex(Array("value \(v)".utf8)))\n") }
        }
        text += lines.joined()
        text += "DATA=END\n"
        return text
    }

    @Test func lmdbDupsortRoundTripGivesIdenticalText() throws {
        let (mdbDump, mdbLoad) = try DumpLoadTests.tools()
        let s = try Scratch("lmdb-dupsort")
        try FileManager.default.createDirectory(atPath: s.file("lmdb-a"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: s.file("lmdb-b"), withIntermediateDirectories: true)
        let source = Self.dupsortDump(name: "byCity") + DumpLoadTests.sampleDump(seed: 5, databases: ["plain"])
        let created = try CLI.run(mdbLoad, ["lmdb-a"], input: Array(source.utf8), in: s)
        #expect(created.status == 0, "mdb_load: \(created.stderr)")

        // LMDB → mdb_dump → larch load → larch dump
        let fromLMDB = try CLI.run(mdbDump, ["-a", "lmdb-a"], in: s)
        #expect(fromLMDB.status == 0, "mdb_dump: \(fromLMDB.stderr)")
        #expect(fromLMDB.text.contains("duplicates=1\n"), "mdb_dump wrote no duplicates=1 header")
        try CLI.larchOK(["load", "data.larch"], input: fromLMDB.stdout, in: s)
        let fromLarch = try CLI.larchOK(["dump", "--all", "data.larch"], in: s)
        #expect(fromLarch.text == fromLMDB.text, "larch dump differs from mdb_dump's text")

        // → mdb_load → mdb_dump
        let back = try CLI.run(mdbLoad, ["lmdb-b"], input: fromLarch.stdout, in: s)
        #expect(back.status == 0, "mdb_load of larch dump: \(back.stderr)")
        let again = try CLI.run(mdbDump, ["-a", "lmdb-b"], in: s)
        #expect(again.status == 0)
        #expect(again.text == fromLMDB.text, "the text changed on the way LMDB → Larch → LMDB")

        let check = try CLI.larchOK(["check", "data.larch"], in: s)
        #expect(check.text.contains("OK: no problems found."))
        let stat = try CLI.larchOK(["stat", "data.larch", "--db", "byCity"], in: s)
        #expect(stat.text.contains("200,000") || stat.text.contains("200\u{202F}000") || stat.text.contains("sorted duplicates"), "\(stat.text)")
        #expect(stat.text.contains("sorted duplicates"), "\(stat.text)")
    }

    @Test func getAndScanShowEveryValue() throws {
        let s = try Scratch("dupsort-get")
        let dump = "VERSION=3\nformat=print\ndatabase=d\ntype=btree\nduplicates=1\nHEADER=END\n a\n 2\n a\n 1\n b\n 3\n a\n 1\n c\n 4\nDATA=END\n"
        try CLI.larchOK(["load", "t.larch"], input: Array(dump.utf8), in: s)
        #expect(try CLI.larchOK(["get", "t.larch", "--db", "d", "a"], in: s).text == "1\n2\n")
        #expect(try CLI.larchOK(["scan", "t.larch", "--db", "d"], in: s).text == "a\t1\na\t2\nb\t3\nc\t4\n")
        #expect(try CLI.larchOK(["scan", "t.larch", "--db", "d", "--reverse"], in: s).text == "c\t4\nb\t3\na\t2\na\t1\n")
        #expect(try CLI.larchOK(["scan", "t.larch", "--db", "d", "--from", "a", "--to", "c", "--reverse"], in: s).text == "b\t3\na\t2\na\t1\n")
        #expect(try CLI.larchOK(["scan", "t.larch", "--db", "d", "--prefix", "a", "--count"], in: s).text == "2\n")
        // A pair added by put, the key removed with all its values by delete.
        try CLI.larchOK(["put", "t.larch", "--db", "d", "b", "0"], in: s)
        #expect(try CLI.larchOK(["get", "t.larch", "--db", "d", "b"], in: s).text == "0\n3\n")
        try CLI.larchOK(["del", "t.larch", "--db", "d", "c", "--value", "4"], in: s)
        try CLI.larchOK(["put", "t.larch", "--db", "d", "c", "4"], in: s)
        #expect(try CLI.larch(["del", "t.larch", "--db", "d", "c", "--value", "5"], in: s).status == 1)
        try CLI.larchOK(["del", "t.larch", "--db", "d", "a"], in: s)
        #expect(try CLI.larch(["get", "t.larch", "--db", "d", "a"], in: s).status == 1)
        let dumped = try CLI.larchOK(["dump", "t.larch", "--db", "d", "--print"], in: s)
        #expect(dumped.text.contains("duplicates=1\ndupsort=1\n") && dumped.text.contains(" b\n 0\n b\n 3\n c\n 4\nDATA=END\n"), "\(dumped.text)")
        try CLI.larchOK(["check", "t.larch"], in: s)
        // A dupsort section into a plain database of the same name: refused, saying why.
        let plain = "VERSION=3\nformat=print\ndatabase=p\ntype=btree\nHEADER=END\n k\n v\nDATA=END\n"
        try CLI.larchOK(["load", "t.larch"], input: Array(plain.utf8), in: s)
        let clash = try CLI.larch(["load", "t.larch"], input: Array(dump.replacingOccurrences(of: "database=d", with: "database=p").utf8), in: s)
        #expect(clash.status == 2 && clash.stderr.contains("sorted duplicates"), "\(clash.stderr)")
    }

    /// Scan bounds that are no key — empty, or longer than the longest key — select the same pairs
    /// in a sorted-duplicates database as in a plain one (found by a differential run: they failed
    /// with exit status 2 there, as the cursor seeks only to valid keys).
    @Test func scanBoundsThatAreNoKey() throws {
        let s = try Scratch("dupsort-bounds")
        let long = String(repeating: "k", count: 1_100), longer = String(repeating: "k", count: 1_024) + "z"
        let max = String(repeating: "k", count: 1_024)
        var dup = "VERSION=3\nformat=print\ndatabase=d\ntype=btree\nduplicates=1\nHEADER=END\n"
        var plain = "VERSION=3\nformat=print\ndatabase=p\ntype=btree\nHEADER=END\n"
        for (k, v) in [("a", "1"), ("k", "2"), (max, "3"), ("z", "4")] {
            dup += " \(k)\n \(v)\n"
            plain += " \(k)\n \(v)\n"
        }
        try CLI.larchOK(["load", "t.larch"], input: Array((dup + "DATA=END\n" + plain + "DATA=END\n").utf8), in: s)
        let cases: [[String]] = [
            ["--from", ""], ["--to", ""], ["--to", "", "--reverse"], ["--from", "", "--reverse"],
            ["--from", long], ["--from", long, "--reverse"], ["--to", long], ["--to", long, "--reverse"],
            ["--from", longer, "--reverse"], ["--to", longer, "--reverse"], ["--from", max], ["--to", max, "--reverse"],
            ["--prefix", long], ["--prefix", long, "--reverse"], ["--prefix", "k"], ["--prefix", "k", "--reverse"],
        ]
        for c in cases {
            let p = try CLI.larchOK(["scan", "t.larch", "--db", "p", "--keys-only"] + c, in: s).text
            let d = try CLI.larchOK(["scan", "t.larch", "--db", "d", "--keys-only"] + c, in: s).text
            #expect(d == p, "\(c.map { $0.count > 20 ? "(\($0.count) bytes)" : $0 })")
        }
        // The answers themselves, for two of them.
        #expect(try CLI.larchOK(["scan", "t.larch", "--db", "d", "--from", long, "--count"], in: s).text == "1\n")   // z (max is a prefix of long: below it)
        #expect(try CLI.larchOK(["scan", "t.larch", "--db", "d", "--to", long, "--reverse", "--count"], in: s).text == "3\n")   // max, k, a
    }

    /// `del --value` in a database without duplicates deletes the key only if that is its value
    /// (it failed with `incompatible database ""`).
    @Test func deleteWithAValueInAPlainDatabase() throws {
        let s = try Scratch("del-value-plain")
        try CLI.larchOK(["put", "t.larch", "a", "b"], in: s)
        let wrong = try CLI.larch(["del", "t.larch", "a", "--value", "c"], in: s)
        #expect(wrong.status == 1 && wrong.stderr.contains("pair not found"), "\(wrong.status) \(wrong.stderr)")
        #expect(try CLI.larchOK(["get", "t.larch", "a"], in: s).text == "b\n")
        try CLI.larchOK(["del", "t.larch", "a", "--value", "b"], in: s)
        #expect(try CLI.larch(["get", "t.larch", "a"], in: s).status == 1)
    }

    @Test func upgradeMarksVersionThreeFiles() throws {
        let s = try Scratch("upgrade")
        try CLI.larchOK(["put", "t.larch", "k", "v"], in: s)
        // Both metas as version 3 wrote them: version field 3, checksum resealed.
        let path = s.file("t.larch")
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        for slot in 0..<2 {
            let base = slot * 4096
            bytes[base + 8] = 3
            let n = Int(bytes[base + 264]) | Int(bytes[base + 265]) << 8
            let crc = CRC32CTestHelper.checksum(Array(bytes[base..<(base + 268)]) + Array(bytes[(base + 272)..<(base + 272 + 20 * n)]))
            for i in 0..<4 { bytes[base + 268 + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) }
        }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let refused = try CLI.larch(["get", "t.larch", "k"], in: s)
        #expect(refused.status != 0 && refused.stderr.contains("larch upgrade"), "\(refused.stderr)")
        let upgraded = try CLI.larchOK(["upgrade", "t.larch"], in: s)
        #expect(upgraded.text.contains("from format version 3 to 4"), "\(upgraded.text)")
        #expect(try CLI.larchOK(["get", "t.larch", "k"], in: s).text == "v\n")
        #expect(try CLI.larchOK(["upgrade", "t.larch"], in: s).text.contains("already format version 4"))
    }
}

/// A bitwise CRC32C, written here from the definition (FORMAT.md §2), to reseal metas by hand.
enum CRC32CTestHelper {
    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            crc ^= UInt32(b)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        }
        return crc ^ 0xFFFF_FFFF
    }
}

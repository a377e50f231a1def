import Foundation
import LarchDumpFormat
import Testing

/// The replay of the dump reader's fuzz corpus (Tests/Fuzz/corpus-dump, grown and minimised by
/// scripts/fuzz-dump.sh): every input must read to a clean end or a `CLIError` — never a crash, a
/// hang or another error — and what reads cleanly must come back the same through `DumpWriter`
/// (`DumpFuzzing.check`). Files named `regression-*` are inputs that once failed.
@Suite struct FuzzCorpusTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz/corpus-dump")

    @Test func everyCorpusInputReadsCleanlyOrFailsWithATypedError() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.corpus.path).sorted()
        #expect(files.count >= 50, "the corpus is there: \(files.count) files in \(Self.corpus.path)")
        #expect(files.contains { $0.hasPrefix("regression-") })
        var bytes = 0
        for name in files {
            let input = [UInt8](try Data(contentsOf: Self.corpus.appendingPathComponent(name)))
            bytes += input.count
            if let violation = DumpFuzzing.check(input) { Issue.record("\(name): \(violation)") }
        }
        #expect(bytes < 512 << 10, "the corpus stays small: \(bytes) bytes")
    }

    /// A database name ending in CR came back without it: the reader took the CR for a CRLF line
    /// ending, so a name LMDB keeps ("a\r") would have been renamed. Found by the fuzz target.
    @Test func aDatabaseNameEndingInCRIsKeptByTheReaderAndRefusedByLoad() throws {
        let dump = Array("VERSION=3\nformat=print\ndatabase=a\r\r\ntype=btree\nHEADER=END\n k\n v\nDATA=END\n".utf8)
        #expect(DumpFuzzing.check(dump) == nil)
        let s = try Scratch("cr-name")
        let r = try CLI.larch(["load", "n.larch"], input: dump, in: s)
        #expect(r.status == 2 && r.stderr.contains("line 3: the database name \"a\\0d\\0d\" ends in CR") && r.stderr.contains("--db"), "\(r.stderr)")
        try CLI.larchOK(["load", "n.larch", "--db", "a"], input: dump, in: s)
        #expect(try CLI.larchOK(["get", "n.larch", "--db", "a", "k"], in: s).text == "v\n")
    }
}

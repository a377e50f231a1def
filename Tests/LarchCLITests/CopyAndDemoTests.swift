import Foundation
import Testing

/// `larch copy` and `larch demo` through the built executable.
@Suite struct CopyAndDemoTests {
    @Test func copyAndCompactCopyHoldTheSameContentAndPassCheck() throws {
        let s = try Scratch("copy")
        var dump = "VERSION=3\nformat=print\ntype=btree\nHEADER=END\n"
        for i in 0..<20_000 { dump += " k\(i)\n \(String(repeating: "v", count: i % 1000 == 3 ? 10_000 : 60))\n" }
        dump += "DATA=END\nVERSION=3\nformat=print\ndatabase=names\ntype=btree\nHEADER=END\n x\n y\nDATA=END\n"
        try CLI.larchOK(["load", "src.larch", "--quiet"], input: Array(dump.utf8), in: s)
        // Delete most keys so that the file is mostly free pages.
        var deletes = "VERSION=3\nformat=print\ntype=btree\nHEADER=END\n"
        for i in 0..<20_000 where i % 10 != 0 { deletes += " k\(i)\n \n" }
        deletes += "DATA=END\n"
        try CLI.larchOK(["load", "src.larch", "--quiet"], input: Array(deletes.utf8), in: s)   // overwrite with empty values
        let original = try CLI.larchOK(["dump", "--all", "src.larch"], in: s).text

        let plain = try CLI.larchOK(["copy", "src.larch", "plain.larch", "--json"], in: s).stdout
        let plainReport = try #require(try JSONSerialization.jsonObject(with: Data(plain)) as? [String: Any])
        #expect(plainReport["compacted"] as? Bool == false)
        let compact = try CLI.larchOK(["copy", "src.larch", "compact.larch", "--compact"], in: s).text
        #expect(compact.contains("compacted"))
        for copy in ["plain.larch", "compact.larch"] {
            #expect(try CLI.larchOK(["check", copy], in: s).text.contains("OK: no problems found."))
            #expect(try CLI.larchOK(["dump", "--all", copy], in: s).text == original, "\(copy) holds different content")
        }
        let sizes = try ["src.larch", "plain.larch", "compact.larch"].map {
            try #require(FileManager.default.attributesOfItem(atPath: s.file($0))[.size] as? Int)
        }
        #expect(sizes[1] == sizes[0], "a plain copy keeps every page")
        #expect(sizes[2] < sizes[0], "compacting drops free pages: \(sizes)")
        let stat = try CLI.larchOK(["stat", "compact.larch", "--json"], in: s).stdout
        let object = try #require(try JSONSerialization.jsonObject(with: Data(stat)) as? [String: Any])
        #expect(object["freePages"] as? Int == 0 && object["pagesAwaitingReuse"] as? Int == 0)

        let exists = try CLI.larch(["copy", "src.larch", "plain.larch"], in: s)
        #expect(exists.status == 2 && exists.stderr.contains("already exists"))
        #expect(try CLI.larchOK(["dump", "--all", "plain.larch"], in: s).text == original, "an existing file is left alone")
        // The copy is a normal database: it can be written.
        try CLI.larchOK(["put", "compact.larch", "new", "value"], in: s)
        #expect(try CLI.larchOK(["check", "compact.larch"], in: s).status == 0)
    }

    @Test func demoRunsEndToEnd() throws {
        let s = try Scratch("demo")
        let r = try CLI.larchOK(["demo", "--keys", "20000", "--dir", s.path], in: s)
        let text = r.text
        for expected in ["1. Load 20,000 keys", "write amplification", "20,000 of 20,000 found", "Scan in key order: 20,000 entries",
                         "pages + meta", "clean in", "after the meta write, which landed", "meta page", "invalid (checksum mismatch"] {
            #expect(text.contains(expected), "demo output lacks \"\(expected)\":\n\(text)")
        }
        #expect(!text.contains("NOT INTACT"))
        let left = try FileManager.default.contentsOfDirectory(atPath: s.path).filter { $0.hasPrefix("larch-demo") }
        #expect(left.isEmpty, "the demo removes its directory: \(left)")
    }
}

import Foundation
import Testing

/// get, put, del, scan and stat through the built executable: output, exit statuses, errors.
@Suite struct CommandTests {
    @Test func putGetDeleteRoundTrip() throws {
        let s = try Scratch("basic")
        try CLI.larchOK(["put", "a.larch", "user:1", "Ada Lovelace"], in: s)
        try CLI.larchOK(["put", "a.larch", "user:2", "Grace Hopper"], in: s)
        #expect(try CLI.larchOK(["get", "a.larch", "user:1"], in: s).text == "Ada Lovelace\n")
        #expect(try CLI.larchOK(["get", "a.larch", "user:1", "--raw"], in: s).text == "Ada Lovelace")
        #expect(try CLI.larchOK(["get", "a.larch", "757365723a31", "--hex"], in: s).text == "416461204c6f76656c616365\n")

        let missing = try CLI.larch(["get", "a.larch", "user:9"], in: s)
        #expect(missing.status == 1 && missing.stdout.isEmpty && missing.stderr.contains("key not found: user:9"))

        try CLI.larchOK(["del", "a.larch", "user:1"], in: s)
        #expect(try CLI.larch(["get", "a.larch", "user:1"], in: s).status == 1)
        #expect(try CLI.larch(["del", "a.larch", "user:1"], in: s).status == 1)
        #expect(try CLI.larchOK(["scan", "a.larch"], in: s).text == "user:2\tGrace Hopper\n")
    }

    @Test func valuesFromStandardInputAndHex() throws {
        let s = try Scratch("stdin")
        let binary: [UInt8] = (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        try CLI.larchOK(["put", "b.larch", "blob", "-"], input: binary, in: s)
        #expect(try CLI.larchOK(["get", "b.larch", "blob", "--raw"], in: s).stdout == binary)
        try CLI.larchOK(["put", "b.larch", "--hex", "00ff10", "cafe"], in: s)
        #expect(try CLI.larchOK(["get", "b.larch", "--hex", "00FF10"], in: s).text == "cafe\n")
        #expect(try CLI.larchOK(["scan", "b.larch", "--keys-only"], in: s).text == "\\00\\ff\\10\nblob\n")
        let badHex = try CLI.larch(["get", "b.larch", "--hex", "0g"], in: s)
        #expect(badHex.status == 2 && badHex.stderr.contains("bad hex"))
        #expect(try CLI.larch(["put", "b.larch", "blob", "x", "--no-overwrite"], in: s).status == 1)
        #expect(try CLI.larchOK(["get", "b.larch", "blob", "--raw"], in: s).stdout == binary)
    }

    @Test func namedDatabases() throws {
        let s = try Scratch("named")
        try CLI.larchOK(["put", "n.larch", "--db", "tags", "k", "v1"], in: s)
        try CLI.larchOK(["put", "n.larch", "k", "main"], in: s)
        #expect(try CLI.larchOK(["get", "n.larch", "--db", "tags", "k"], in: s).text == "v1\n")
        #expect(try CLI.larchOK(["get", "n.larch", "k"], in: s).text == "main\n")
        let unknown = try CLI.larch(["get", "n.larch", "--db", "nope", "k"], in: s)
        #expect(unknown.status == 2 && unknown.stderr.contains("database not found") && unknown.stderr.contains("nope"))
        #expect(try CLI.larch(["scan", "n.larch", "--db", "nope"], in: s).status == 2)
        #expect(try CLI.larch(["del", "n.larch", "--db", "nope", "k"], in: s).status == 2)
    }

    @Test func scanRangesPrefixesReverseAndLimits() throws {
        let s = try Scratch("scan")
        var dump = "VERSION=3\nformat=print\ntype=btree\nHEADER=END\n"
        for i in 0..<50 { dump += " k\(i < 10 ? "0" : "")\(i)\n v\(i)\n" }
        dump += " other\n x\nDATA=END\n"
        try CLI.larchOK(["load", "s.larch", "--quiet"], input: Array(dump.utf8), in: s)
        func keys(_ args: [String]) throws -> [String] {
            try CLI.larchOK(["scan", "s.larch", "--keys-only"] + args, in: s).text.split(separator: "\n").map(String.init)
        }
        #expect(try keys(["--prefix", "k4"]) == (40..<50).map { "k\($0)" })
        #expect(try keys(["--from", "k10", "--to", "k13"]) == ["k10", "k11", "k12"])
        #expect(try keys(["--reverse", "--limit", "2"]) == ["other", "k49"])
        #expect(try keys(["--prefix", "k", "--reverse", "--limit", "1"]) == ["k49"])
        #expect(try keys(["--from", "k48"]) == ["k48", "k49", "other"])
        #expect(try CLI.larchOK(["scan", "s.larch", "--count", "--prefix", "k"], in: s).text == "50\n")
        let json = try CLI.larchOK(["scan", "s.larch", "--json", "--limit", "2"], in: s).stdout
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(json)) as? [[String: String]])
        #expect(entries == [["key": "k00", "value": "v0"], ["key": "k01", "value": "v1"]])
        let usage = try CLI.larch(["scan", "s.larch", "--prefix", "k", "--from", "a"], in: s)
        #expect(usage.status == 64 && usage.stderr.contains("not both"))
    }

    @Test func statShowsTheFileAndEveryDatabase() throws {
        let s = try Scratch("stat")
        var dump = "VERSION=3\nformat=print\ndatabase=users\ntype=btree\nHEADER=END\n"
        for i in 0..<2000 { dump += " user:\(i)\n \(String(repeating: "x", count: 100))\n" }
        dump += "DATA=END\n"
        try CLI.larchOK(["load", "t.larch", "--quiet"], input: Array(dump.utf8), in: s)
        try CLI.larchOK(["put", "t.larch", "a", "b"], in: s)
        let text = try CLI.larchOK(["stat", "t.larch", "--all"], in: s).text
        #expect(text.contains("Page size:         4,096 bytes"))
        #expect(text.contains("Main database:     1 entries, depth 1"))
        #expect(text.contains("Database \"users\":  2,000 entries, depth 2"))
        let json = try CLI.larchOK(["stat", "t.larch", "--json", "--all"], in: s).stdout
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json)) as? [String: Any])
        #expect(object["pageSize"] as? Int == 4096)
        #expect(object["namedDatabaseCount"] as? Int == 1)
        let dbs = try #require(object["databases"] as? [[String: Any]])
        #expect(dbs.count == 2 && dbs[1]["name"] as? String == "users" && dbs[1]["entries"] as? Int == 2000)
        let pages = try #require(object["pageCount"] as? Int)
        let size = try #require(object["fileSizeBytes"] as? Int)
        #expect(pages * 4096 <= size)
        let one = try CLI.larchOK(["stat", "t.larch", "--db", "users", "--json"], in: s).stdout
        let oneObject = try #require(try JSONSerialization.jsonObject(with: Data(one)) as? [String: Any])
        #expect((oneObject["databases"] as? [[String: Any]])?.count == 1)
    }

    @Test func clearErrorsAndExitStatuses() throws {
        let s = try Scratch("errors")
        let missing = try CLI.larch(["get", "missing.larch", "k"], in: s)
        #expect(missing.status == 2 && missing.stderr == "larch get: no such file: missing.larch\n")
        #expect(!FileManager.default.fileExists(atPath: s.file("missing.larch")), "reading never creates a file")

        try Data(String(repeating: "hello\n", count: 2000).utf8).write(to: URL(fileURLWithPath: s.file("text.txt")))
        let notLarch = try CLI.larch(["stat", "text.txt"], in: s)
        #expect(notLarch.status == 3 && notLarch.stderr.contains("not a Larch file"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: s.file("text.txt"))).count == 12_000, "a failed open leaves the file alone")
        let putNotLarch = try CLI.larch(["put", "text.txt", "k", "v"], in: s)
        #expect(putNotLarch.status == 3 && putNotLarch.stderr.contains("not a Larch file"))

        let directory = try CLI.larch(["scan", "."], in: s)
        #expect(directory.status == 2 && directory.stderr.contains("not a regular file"))

        let usage = try CLI.larch(["get"], in: s)
        #expect(usage.status == 64 && usage.stderr.contains("Missing expected argument"))
        let unknown = try CLI.larch(["frobnicate"], in: s)
        #expect(unknown.status == 64)
        for r in [missing, notLarch, putNotLarch, directory, usage, unknown] {
            #expect(!r.crashed && !r.stderr.contains("Fatal error") && !r.stderr.contains("Stack dump"))
        }
        let help = try CLI.larchOK(["put", "--help"], in: s).text
        #expect(help.contains("Examples:") && help.contains("larch put app.larch user:1"))
    }
}

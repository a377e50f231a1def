import Foundation
import Testing

/// `larch snapshot`, `--snapshot` on the reading commands, `larch send` and `larch receive`.
struct SnapshotCommandTests {
    @Test func snapshotsAreCreatedReadListedAndDropped() throws {
        let s = try Scratch("snapshot")
        try CLI.larchOK(["put", "a.larch", "user:1", "Ada"], in: s)
        try CLI.larchOK(["put", "a.larch", "--db", "tags", "user:1", "math"], in: s)
        #expect(try CLI.larchOK(["snapshot", "create", "a.larch", "monday"], in: s).text.contains("Created snapshot \"monday\""))
        try CLI.larchOK(["put", "a.larch", "user:1", "Ada Lovelace"], in: s)
        try CLI.larchOK(["put", "a.larch", "user:2", "Grace"], in: s)
        try CLI.larchOK(["snapshot", "create", "a.larch", "tuesday"], in: s)

        #expect(try CLI.larchOK(["get", "a.larch", "user:1", "--snapshot", "monday"], in: s).text == "Ada\n")
        #expect(try CLI.larchOK(["get", "a.larch", "user:1"], in: s).text == "Ada Lovelace\n")
        #expect(try CLI.larch(["get", "a.larch", "user:2", "--snapshot", "monday"], in: s).status == 1)
        #expect(try CLI.larchOK(["scan", "a.larch", "--snapshot", "monday"], in: s).text == "user:1\tAda\n")
        #expect(try CLI.larchOK(["scan", "a.larch", "--db", "tags", "--snapshot", "monday"], in: s).text == "user:1\tmath\n")
        let dump = try CLI.larchOK(["dump", "a.larch", "--snapshot", "monday", "--print"], in: s).text
        #expect(dump.contains(" user:1\n Ada\n") && !dump.contains("Lovelace"), "\(dump)")

        let names = try CLI.larchOK(["snapshot", "list", "a.larch", "--names"], in: s).text
        #expect(names == "monday\ntuesday\n")
        let list = try CLI.larchOK(["snapshot", "list", "a.larch"], in: s).text
        #expect(list.contains("\"monday\": transaction") && list.contains("held only by it"), "\(list)")
        let json = try CLI.larchOK(["snapshot", "list", "a.larch", "--json"], in: s).stdout
        let parsed = try JSONSerialization.jsonObject(with: Data(json)) as? [[String: Any]]
        #expect(parsed?.count == 2 && parsed?.first?["name"] as? String == "monday" && (parsed?.first?["id"] as? String)?.count == 32)

        // A compacted copy of a snapshot holds its state alone.
        try CLI.larchOK(["copy", "a.larch", "monday.larch", "--snapshot", "monday"], in: s)
        #expect(try CLI.larchOK(["scan", "monday.larch"], in: s).text == "user:1\tAda\n")
        #expect(try CLI.larchOK(["check", "monday.larch"], in: s).text.contains("OK"))
        #expect(try CLI.larchOK(["check", "a.larch"], in: s).text.contains("2 snapshot(s)"))

        let missing = try CLI.larch(["get", "a.larch", "user:1", "--snapshot", "friday"], in: s)
        #expect(missing.status == 2 && missing.stderr.contains("no snapshot named \"friday\"") && missing.stderr.contains("larch snapshot list"), "\(missing.stderr)")
        let taken = try CLI.larch(["snapshot", "create", "a.larch", "monday"], in: s)
        #expect(taken.status == 2 && taken.stderr.contains("snapshot exists"), "\(taken.stderr)")
        let hostile = try CLI.larch(["snapshot", "drop", "a.larch", "x\u{1B}[2J"], in: s)
        #expect(hostile.status == 2 && !hostile.stderr.contains("\u{1B}"), "\(hostile.stderr)")

        #expect(try CLI.larchOK(["snapshot", "drop", "a.larch", "monday"], in: s).text.contains("Dropped snapshot \"monday\""))
        #expect(try CLI.larchOK(["snapshot", "list", "a.larch", "--names"], in: s).text == "tuesday\n")
        #expect(try CLI.larchOK(["check", "a.larch"], in: s).text.contains("OK: no problems found."))
    }

    @Test func sendAndReceiveKeepAReplica() throws {
        let s = try Scratch("send")
        try CLI.larchOK(["put", "p.larch", "k1", "v1"], in: s)
        try CLI.larchOK(["put", "p.larch", "--db", "d", "k", "x"], in: s)
        try CLI.larchOK(["snapshot", "create", "p.larch", "one"], in: s)
        let full = try CLI.larchOK(["send", "p.larch", "--snapshot", "one"], in: s)
        #expect(full.stderr.contains("everything in snapshot \"one\""))
        #expect(try CLI.larchOK(["receive", "r.larch"], input: full.stdout, in: s).text.contains("Received snapshot \"one\" (full"))

        try CLI.larchOK(["put", "p.larch", "k1", "v2"], in: s)
        try CLI.larchOK(["del", "p.larch", "--db", "d", "k"], in: s)
        try CLI.larchOK(["snapshot", "create", "p.larch", "two"], in: s)
        try CLI.larchOK(["send", "p.larch", "--snapshot", "two", "--from", "one", "--output", s.file("inc.stream")], in: s)
        #expect(try CLI.larchOK(["receive", "r.larch", "--input", s.file("inc.stream")], in: s).text.contains("incremental"))
        #expect(try CLI.larchOK(["scan", "r.larch"], in: s).text == "k1\tv2\n")
        #expect(try CLI.larchOK(["scan", "r.larch", "--db", "d"], in: s).text == "")
        #expect(try CLI.larchOK(["snapshot", "list", "r.larch", "--names"], in: s).text == "one\ntwo\n")

        // The same stream again, a damaged one, a truncated one: refused, the replica unchanged.
        let again = try CLI.larch(["receive", "r.larch", "--input", s.file("inc.stream")], in: s)
        #expect(again.status == 2 && again.stderr.contains("received before"), "\(again.stderr)")
        var damaged = full.stdout
        damaged[damaged.count / 2] ^= 1
        let bad = try CLI.larch(["receive", "fresh.larch"], input: damaged, in: s)
        #expect(bad.status == 2 && bad.stderr.contains("invalid change stream"), "\(bad.stderr)")
        let cut = try CLI.larch(["receive", "fresh2.larch"], input: Array(full.stdout.prefix(50)), in: s)
        #expect(cut.status == 2 && cut.stderr.contains("truncated"), "\(cut.stderr)")
        #expect(try CLI.larchOK(["scan", "r.larch"], in: s).text == "k1\tv2\n")
        #expect(try CLI.larchOK(["check", "r.larch"], in: s).text.contains("OK: no problems found."))

        // A stream to a terminal is refused.
        let tty = try CLI.larchOnTerminal(["send", "p.larch", "--snapshot", "two"], in: s)
        #expect(tty.status == 2 && tty.stderr.contains("refusing to write"), "\(tty.stderr)")
    }

    @Test func shrinkGivesSpaceBack() throws {
        let s = try Scratch("shrink")
        var dump = "VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n"
        for i in 0..<3_000 {
            dump += " " + Array("key-\(10_000 + i)".utf8).map { String($0, radix: 16) }.joined() + "\n"
            dump += " " + String(repeating: "ab", count: 400) + "\n"
        }
        dump += "DATA=END\n"
        try CLI.larchOK(["load", "a.larch"], input: Array(dump.utf8), in: s)
        var deletes: [String] = []
        for i in 0..<3_000 where i % 5 != 0 { deletes.append("key-\(10_000 + i)") }
        for k in deletes.prefix(400) { try CLI.larchOK(["del", "a.larch", k], in: s) }
        let before = CLI.size("a.larch", in: s) ?? 0
        let r = try CLI.larchOK(["shrink", "a.larch", "--json"], in: s)
        let report = try JSONSerialization.jsonObject(with: Data(r.stdout)) as? [String: Any]
        let after = CLI.size("a.larch", in: s) ?? 0
        #expect(after < before && report?["fileBytesAfter"] as? Int == after, "\(before) → \(after): \(r.text)")
        #expect(try CLI.larchOK(["check", "a.larch"], in: s).text.contains("OK: no problems found."))
        #expect(try CLI.larchOK(["get", "a.larch", "--hex", Array("key-10005".utf8).map { String($0, radix: 16) }.joined()], in: s).text
                == String(repeating: "ab", count: 400) + "\n")
        let bad = try CLI.larch(["shrink", "a.larch", "--budget", "-1"], in: s)
        #expect(bad.status == 64, "\(bad.stderr)")
    }
}

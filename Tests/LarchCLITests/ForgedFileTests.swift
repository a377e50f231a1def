import Foundation
import Testing

/// Damaged files whose checksums still agree — forged, or what a buggy writer could leave — from a
/// fuzzing run of the command-line tool (Tests/Fuzz/corpus-forged, gzipped). Before the fixes,
/// these made commands overflow the stack (depth 65,535 walked by recursion), trap on counts
/// taken from the file, crash on a free list naming a live page, or repeat entries exponentially
/// down chains of shared leaves (a hang). Every command must now end with exit status 0–3 (a
/// report, never a crash or a hang), and each file's characteristic answer is checked.
@Suite struct ForgedFileTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz/corpus-forged")

    /// Unpacks `name` into `s` as `F` (a fresh copy for each command: some write).
    static func unpack(_ name: String, in s: Scratch) throws {
        let r = try CLI.run("/bin/sh", ["-c", "gzip -dc \"$0\" > F", corpus.appendingPathComponent(name + ".larch.gz").path], in: s)
        #expect(r.status == 0, "gzip: \(r.stderr)")
    }

    static let commands: [[String]] = [
        ["check", "F"], ["check", "F", "--json"], ["stat", "F", "--all"], ["scan", "F"], ["scan", "F", "--reverse"],
        ["dump", "F", "--all"], ["snapshot", "list", "F"], ["get", "F", "a"], ["put", "F", "k", "v"], ["del", "F", "a"],
        ["shrink", "F"], ["copy", "F", "O", "--compact"], ["copy", "F", "P"], ["snapshot", "create", "F", "s9"],
    ]

    @Test func everyCommandOnEveryForgedFileEndsWithAReport() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.corpus.path)
            .filter { $0.hasSuffix(".larch.gz") }.map { String($0.dropLast(".larch.gz".count)) }.sorted()
        #expect(names.count >= 11, "the corpus is there: \(names) in \(Self.corpus.path)")
        for name in names {
            for command in Self.commands {
                let s = try Scratch("forged")
                try Self.unpack(name, in: s)
                let r = try CLI.larch(command, in: s, timeLimit: .seconds(60))
                #expect(!r.crashed && !r.timedOut && (0...3).contains(r.status),
                        "\(name): larch \(command.joined(separator: " ")): status \(r.status)\(r.crashed ? " (crashed)" : "")\(r.timedOut ? " (timed out)" : ""): \(r.stderr.prefix(300))")
                #expect(!r.stderr.contains("Fatal error") && !r.stderr.contains("Backtracing"), "\(name): \(command): \(r.stderr.prefix(300))")
            }
        }
    }

    /// What each file is reported as.
    @Test(arguments: [
        ("main-tree-depth-65535", ["shrink", "F"], Int32(3), "implausible depth 65535"),
        ("snapshots-tree-depth-65535", ["snapshot", "list", "F"], Int32(3), "larch snapshot list: both meta pages"),
        ("transaction-id-max", ["put", "F", "k", "v"], Int32(3), "transaction id 18446744073709551615"),
        ("leaves-reached-twice-40-levels", ["scan", "F", "--count"], Int32(2), "a page reached twice?"),
        ("leaves-reached-twice-2-levels", ["scan", "F"], Int32(2), "a page reached twice?"),
        ("free-list-names-the-root", ["put", "F", "k", "v"], Int32(2), "the free space lists it, but it is in use"),
    ])
    func eachFileIsReportedForWhatItIs(name: String, command: [String], status: Int32, message: String) throws {
        let s = try Scratch("forged-one")
        try Self.unpack(name, in: s)
        let r = try CLI.larch(command, in: s, timeLimit: .seconds(60))
        #expect(r.status == status && r.stderr.contains(message), "\(name): \(r.status) \(r.stderr.prefix(400))")
    }

    /// A plain copy records a durable base equal to its transaction (FORMAT.md §4): open verifies no
    /// page of it as a commit not known to be whole, so one damaged page is reported where it is
    /// read instead of invalidating both of the copy's meta pages (which hold the same meta).
    @Test func aPlainCopyWithADamagedPageStillOpens() throws {
        let s = try Scratch("copy-damaged")
        var dump = "VERSION=3\nformat=print\nHEADER=END\n"
        for i in 0..<400 { dump += " key\(i)\n value \(i) \(String(repeating: "x", count: 40))\n" }
        try CLI.larchOK(["load", "a.larch"], input: Array((dump + "DATA=END\n").utf8), in: s)
        try CLI.larchOK(["copy", "a.larch", "b.larch"], in: s)
        // Flip a byte in the middle of page 4 of the copy.
        let path = s.file("b.larch")
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(bytes.count > 5 * 4096)
        bytes[4 * 4096 + 2000] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let check = try CLI.larch(["check", "b.larch"], in: s)
        #expect(check.status == 1 && check.stdout.count > 0, "the copy opens and check reports the page: \(check.status) \(check.stderr)")
    }
}

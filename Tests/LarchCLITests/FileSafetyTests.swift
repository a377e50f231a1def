import Foundation
import Testing

/// Files beside the database that commands make, on failure (found by filling small disks and
/// taking permissions away): `--output` is written whole or not at all, a file a failed `load` or
/// `receive` created goes again, and a lock file that cannot be made is a clear error — never a
/// crash, and never a silent "work alone".
@Suite struct FileSafetyTests {
    /// `dump --output` and `send --output` that fail part-way (a damaged page) leave what the file
    /// held before — it used to be truncated at open — and no temporary file.
    @Test func outputIsWrittenWholeOrNotAtAll() throws {
        let s = try Scratch("output")
        _ = try CheckTests.makeDatabase("c.larch", count: 3000, in: s)
        try CLI.larchOK(["snapshot", "create", "c.larch", "one"], in: s)
        try CLI.larchOK(["dump", "c.larch", "--output", "good.dump"], in: s)
        let good = try Data(contentsOf: URL(fileURLWithPath: s.file("good.dump")))
        #expect(good.count > 100_000)
        try CLI.larchOK(["send", "c.larch", "--snapshot", "one", "--output", "good.stream"], in: s)
        // A path that is not a regular file is written in place.
        try CLI.larchOK(["dump", "c.larch", "--output", "/dev/null"], in: s)

        // Damage every leaf: the dump and the stream stop with an error.
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: s.file("c.larch"))))
        let leaves = Self.leafPages(bytes)
        #expect(leaves.count > 20)
        for leaf in leaves { bytes[leaf * 4096 + 3000] ^= 0x40 }
        try CheckTests.write(bytes, to: "c.larch", in: s)
        try Data("previous\n".utf8).write(to: URL(fileURLWithPath: s.file("kept.dump")))
        let dump = try CLI.larch(["dump", "c.larch", "--output", "kept.dump"], in: s)
        #expect(dump.status == 2 && dump.stderr.contains("failed its checksum"), "\(dump.stderr)")
        #expect(try String(contentsOfFile: s.file("kept.dump"), encoding: .utf8) == "previous\n")
        let send = try CLI.larch(["send", "c.larch", "--snapshot", "one", "--output", "kept.stream"], in: s)
        #expect(send.status == 2, "\(send.stderr)")
        #expect(CLI.size("kept.stream", in: s) == nil, "no stream file appears for a failed send")
        let left = try FileManager.default.contentsOfDirectory(atPath: s.path).filter { $0.contains(".writing-") }
        #expect(left.isEmpty, "temporary files left: \(left)")
    }

    /// A `load` or `receive` that fails after creating its target file removes it again, and says
    /// so (it used to leave an empty database, and say the file was "as it was before").
    @Test func aFailedLoadOrReceiveRemovesTheFileItCreated() throws {
        let s = try Scratch("created")
        let truncated = Array("VERSION=3\nformat=print\ntype=btree\nHEADER=END\n k1\n v1\n k2\n".utf8)
        let load = try CLI.larch(["load", "new.larch"], input: truncated, in: s)
        #expect(load.status == 2 && load.stderr.contains("new.larch, which the load created, was removed"), "\(load.stderr)")
        #expect(CLI.size("new.larch", in: s) == nil && CLI.size("new.larch-lock", in: s) == nil)

        let receive = try CLI.larch(["receive", "replica.larch"], input: Array("not a change stream".utf8), in: s)
        #expect(receive.status == 2 && receive.stderr.contains("replica.larch, which this command created, was removed"), "\(receive.stderr)")
        #expect(CLI.size("replica.larch", in: s) == nil && CLI.size("replica.larch-lock", in: s) == nil)

        // A file that existed keeps its contents, and the message says so.
        try CLI.larchOK(["put", "old.larch", "k", "v"], in: s)
        let again = try CLI.larch(["load", "old.larch"], input: truncated, in: s)
        #expect(again.status == 2 && again.stderr.contains("old.larch is as it was before the load"), "\(again.stderr)")
        #expect(try CLI.larchOK(["get", "old.larch", "k"], in: s).text == "v\n")
    }

    /// A full disk with no lock file yet: commands used to die of SIGBUS writing the new lock file
    /// through its mapping (exit 135), and later ones too, reading it. Now the lock file is written
    /// with `pwrite`, and a full disk is a typed error; with space again, all is well.
    @Test(.enabled(if: HostileInputTests.smallDisksWork, "needs unprivileged user namespaces (unshare -r -m) to mount a small tmpfs"))
    func aLockFileOnAFullDiskIsAnErrorNotACrash() throws {
        let s = try Scratch("lock-full")
        let r = try HostileInputTests.onSmallDisk(sizeKiB: 1024, """
            "$LARCH" put db.larch k v || exit 91
            rm db.larch-lock
            dd if=/dev/zero of=fill bs=4096 2>/dev/null
            "$LARCH" get db.larch k 2>"$SCRATCH/get.err"; echo "get=$?"
            "$LARCH" stat db.larch >/dev/null 2>&1; echo "stat=$?"
            "$LARCH" put new.larch k v 2>/dev/null; echo "put=$?"
            rm fill
            "$LARCH" get db.larch k; echo "again=$?"
            "$LARCH" check db.larch >/dev/null; echo "check=$?"
            """, in: s)
        let getError = (try? String(contentsOfFile: s.file("get.err"), encoding: .utf8)) ?? ""
        #expect(r.status == 0, "\(r.status): \(r.text) \(r.stderr)")
        #expect(r.text.contains("get=2\nstat=2\nput=2\n"), "typed failures, no crash (135): \(r.text)")
        #expect(getError.contains("no space left on the device for the lock file"), "\(getError)")
        #expect(r.text.hasSuffix("v\nagain=0\ncheck=0\n"), "\(r.text)")
    }

    /// Whether this test run may run commands as the unprivileged user `nobody` (it runs as root,
    /// `runuser` exists, and `nobody` can run the larch executable).
    static let canRunAsNobody: Bool = {
        guard geteuid() == 0, let runuser = CLI.which("runuser"), let s = try? Scratch("nobody") else { return false }
        _ = chmod(s.path, 0o755)
        let r = try? CLI.run(runuser, ["-u", "nobody", "--", CLI.larchPath, "--help"], in: s)
        return r?.status == 0
    }()

    /// A lock file the process may not create (a directory it cannot write) used to make it work
    /// alone, silently: a writer elsewhere did not see its readers, and changed the pages they read.
    /// Now it is an error that says why and what to do; `--no-lock` (Options.noLock) opts out.
    @Test(.enabled(if: FileSafetyTests.canRunAsNobody, "needs root, runuser and a larch executable the user nobody can run"))
    func aLockFileThatCannotBeMadeIsAnError() throws {
        let s = try Scratch("lock-denied")
        _ = chmod(s.path, 0o755)
        try CLI.larchOK(["put", "db.larch", "k", "v"], in: s)
        try FileManager.default.removeItem(atPath: s.file("db.larch-lock"))
        let runuser = try #require(CLI.which("runuser"))
        let denied = try CLI.run(runuser, ["-u", "nobody", "--", CLI.larchPath, "get", s.file("db.larch"), "k"], in: s)
        #expect(denied.status == 2 && denied.stderr.contains("permission denied") && denied.stderr.contains("--no-lock"), "\(denied.stderr)")
        let alone = try CLI.run(runuser, ["-u", "nobody", "--", CLI.larchPath, "get", s.file("db.larch"), "k", "--no-lock"], in: s)
        #expect(alone.status == 0 && alone.text == "v\n", "\(alone.stderr)")
        #expect(CLI.size("db.larch-lock", in: s) == nil)
    }

    /// The page numbers of the pages of a database file's bytes whose header says leaf (kind 3 at
    /// byte 0, `PageLayout`), free ones included.
    static func leafPages(_ bytes: [UInt8]) -> [Int] {
        stride(from: 2, to: bytes.count / 4096, by: 1).filter { bytes[$0 * 4096] == 3 }
    }
}
